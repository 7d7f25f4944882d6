"""`helpdesk read-letter FILE`: read one attachment file and print the Letter as JSON.

`read_file(path)` wraps the file into a mail with that single attachment (a .txt file becomes the
mail body) and returns `Letter.to_dict()`; `main(argv)` prints it as JSON. `COMMANDS` holds the click
command that `helpdesk/commands.py` adds to the `helpdesk` group.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import date

import click

from ..mail.parsed import MailAttachment, ParsedMail
from .reader import read
from .sniff import sniff
from .sources import decode_text

MAX_FILE = 64 * 1024 * 1024


def read_file(path: str, *, ocr: bool = True, today: date | None = None, ocr_budget_s: float = 30.0) -> dict:
    """The Letter (as a dict) for one file, read as the only attachment of a mail."""
    with open(path, "rb") as f:
        data = f.read(MAX_FILE + 1)
    name = os.path.basename(path)
    text = ""
    attachments: tuple[MailAttachment, ...] = ()
    if len(data) > MAX_FILE:
        attachments = (
            MailAttachment(
                name, "application/octet-stream", b"", problem="oversize", declared_size=len(data)
            ),
        )
    elif sniff(data) == "text":
        text = decode_text(data)
    else:
        attachments = (MailAttachment(name, "application/octet-stream", data),)
    mail = ParsedMail(
        message_id=f"file:{name}",
        in_reply_to=None,
        references=(),
        sender="",
        sender_name="",
        to=(),
        cc=(),
        subject="",
        date=None,
        text=text,
        html="",
        attachments=attachments,
    )
    return read(mail, today=today, ocr=ocr, ocr_budget_s=ocr_budget_s).to_dict()


def main(argv: list[str] | None = None) -> int:
    """`read-letter FILE [--no-ocr] [--today YYYY-MM-DD]`: print the Letter as JSON; exit 0."""
    parser = argparse.ArgumentParser(
        prog="helpdesk read-letter", description="读取一封说明函并输出识别结果（JSON）"
    )
    parser.add_argument("file")
    parser.add_argument("--no-ocr", action="store_true", help="不做 OCR")
    parser.add_argument(
        "--today", type=date.fromisoformat, default=None, help="以该日期判断落款日期（YYYY-MM-DD）"
    )
    parser.add_argument("--ocr-budget", type=float, default=30.0, help="OCR 时间上限（秒）")
    args = parser.parse_args(argv)
    result = read_file(args.file, ocr=not args.no_ocr, today=args.today, ocr_budget_s=args.ocr_budget)
    json.dump(result, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return 0


@click.command("read-letter")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--no-ocr", is_flag=True, help="不做 OCR")
@click.option("--today", default=None, help="以该日期判断落款日期（YYYY-MM-DD）")
def read_letter(file: str, no_ocr: bool, today: str | None) -> None:
    """读取一个附件文件（docx/pdf/图片…），输出说明函识别结果（JSON）。"""
    argv = [file] + (["--no-ocr"] if no_ocr else []) + (["--today", today] if today else [])
    main(argv)


COMMANDS: list[click.Command] = [read_letter]

if __name__ == "__main__":
    raise SystemExit(main())
