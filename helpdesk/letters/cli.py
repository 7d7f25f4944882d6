"""`helpdesk read-letter FILE`: read a saved mail or one attachment file and print the Letter as JSON.

`read_file(path)` reads an .eml (a saved mail) exactly as intake does: `mail.parse.parse_mail` with
intake's attachment limit, then `letters.read`. Any other file (.docx, .doc, .pdf, .ofd, images,
.txt) is wrapped into a mail with that single attachment (a text file becomes the mail body).
It returns `Letter.to_dict()`; `main(argv)` prints it as JSON. `COMMANDS` holds the click command
that `helpdesk/commands.py` adds to the `helpdesk` group.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from datetime import date

import click

from ..mail.charsets import decode_text
from ..mail.parse import parse_mail
from ..mail.parsed import MailAttachment, ParsedMail
from .reader import read
from .sniff import sniff

MAX_FILE = 64 * 1024 * 1024
#: intake's default per-attachment limit (HELPDESK_MAX_ATTACHMENT_MB, 20); --max-attachment-mb changes it
MAX_ATTACHMENT_MB = 20
_HEADER = re.compile(
    rb"^(?:Received|Return-Path|From|To|Subject|Date|Message-ID|MIME-Version|Content-Type)\s*:", re.I | re.M
)


def looks_like_mail(name: str, data: bytes) -> bool:
    """An RFC 5322 message: an .eml / .msg-less name, or text that starts with mail headers."""
    if name.lower().endswith((".eml", ".mbox")):
        return True
    head = data[:4096]
    return sniff(data) == "text" and len(_HEADER.findall(head)) >= 2 and head.lstrip()[:1].isalpha()


def read_file(
    path: str,
    *,
    ocr: bool = True,
    today: date | None = None,
    ocr_budget_s: float = 30.0,
    max_attachment_mb: int = MAX_ATTACHMENT_MB,
) -> dict:
    """The Letter (as a dict) for one file: a saved mail as intake reads it, else a one-attachment mail."""
    with open(path, "rb") as f:
        data = f.read(MAX_FILE + 1)
    name = os.path.basename(path)
    if len(data) <= MAX_FILE and looks_like_mail(name, data):
        mail = parse_mail(data, max_attachment_bytes=max_attachment_mb << 20)
        return read(mail, today=today, ocr=ocr, ocr_budget_s=ocr_budget_s).to_dict()
    text = ""
    attachments: tuple[MailAttachment, ...] = ()
    if len(data) > MAX_FILE:
        attachments = (
            MailAttachment(
                name, "application/octet-stream", b"", problem="oversize", declared_size=len(data)
            ),
        )
    elif sniff(data) == "text":
        text = decode_text(data, errors="replace")[0]
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
    parser.add_argument(
        "--max-attachment-mb", type=int, default=MAX_ATTACHMENT_MB, help="邮件（.eml）中单个附件上限（MB）"
    )
    args = parser.parse_args(argv)
    result = read_file(
        args.file,
        ocr=not args.no_ocr,
        today=args.today,
        ocr_budget_s=args.ocr_budget,
        max_attachment_mb=args.max_attachment_mb,
    )
    json.dump(result, sys.stdout, ensure_ascii=False, indent=2)
    sys.stdout.write("\n")
    return 0


@click.command("read-letter")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--no-ocr", is_flag=True, help="不做 OCR")
@click.option("--today", default=None, help="以该日期判断落款日期（YYYY-MM-DD）")
def read_letter(file: str, no_ocr: bool, today: str | None) -> None:
    """读取一封保存的邮件（.eml）或一个附件文件（docx/doc/pdf/ofd/图片/txt），输出说明函识别结果（JSON）。"""
    argv = [file] + (["--no-ocr"] if no_ocr else []) + (["--today", today] if today else [])
    main(argv)


COMMANDS: list[click.Command] = [read_letter]

if __name__ == "__main__":
    raise SystemExit(main())
