"""Files that go out with a reply: the agent's uploads and the blank letter templates.

They are stored like every other attachment (content-addressed, mail.store) before the reply is
queued; the outbox row names them and the SMTP job reads the bytes when it builds the mail. The name
an agent's browser sends is cleaned (`safe_filename`) and used only for display and the mail header.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from helpdesk.letters.sniff import sniff
from helpdesk.letters.templates import blank_template
from helpdesk.mail import store

#: the blank letters an agent can attach in one click: kind -> file name the enterprise sees
TEMPLATE_FILES = {
    "change": "变更说明（模板）.docx",
    "unbind": "解绑说明（模板）.docx",
    "cancel": "注销说明（模板）.docx",
}
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
#: the type we record comes from the bytes (letters.sniff), never from the browser
_SNIFFED = {
    "pdf": "application/pdf",
    "docx": DOCX,
    "doc": "application/msword",
    "png": "image/png",
    "jpg": "image/jpeg",
    "gif": "image/gif",
    "bmp": "image/bmp",
    "tif": "image/tiff",
    "webp": "image/webp",
    "xls": "application/vnd.ms-excel",
    "zip": "application/zip",
    "ofd": "application/ofd",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
_RESERVED = re.compile(r'[\\/:*?"<>|]')  # not allowed in Windows names; "/" and "\\" also split paths
MAX_NAME_CHARS = 120


class ReplyFileError(ValueError):
    """The files cannot go out with this reply; the message says why, in Chinese."""


@dataclass(frozen=True, slots=True)
class ReplyFile:
    name: str
    data: bytes


def safe_filename(raw: str, *, fallback: str = "附件") -> str:
    """A file name safe to show and to put in a mail header: no path, no control or reserved characters.

    Chinese is kept; the extension survives shortening; a name that is nothing but dots becomes `fallback`.
    """
    name = unicodedata.normalize("NFC", raw or "")
    name = re.split(r"[\\/]", name)[-1]  # a browser may send the whole client-side path
    name = "".join(" " if unicodedata.category(ch)[0] in "CZ" and ch != " " else ch for ch in name)
    name = _RESERVED.sub("_", name)
    name = " ".join(name.split()).strip(" .")
    if not name:
        return fallback
    if len(name) > MAX_NAME_CHARS:
        stem, dot, ext = name.rpartition(".")
        if dot and 0 < len(ext) <= 10:
            name = stem[: MAX_NAME_CHARS - len(ext) - 1].rstrip(" .") + "." + ext
        else:
            name = name[:MAX_NAME_CHARS].rstrip(" .")
    return name or fallback


def template_files(kinds: list[str]) -> list[ReplyFile]:
    """The blank 变更/解绑/注销 letters asked for, in the order of TEMPLATE_FILES; unknown kinds are refused."""
    unknown = [k for k in kinds if k not in TEMPLATE_FILES]
    if unknown:
        raise ReplyFileError(f"未知的说明函模板：{'、'.join(unknown)}")
    return [ReplyFile(TEMPLATE_FILES[k], blank_template(k)) for k in TEMPLATE_FILES if k in kinds]


def check(files: list[ReplyFile], *, max_files: int, max_bytes: int) -> None:
    """Refuse too many files, too many bytes, or an empty file, before anything is stored."""
    if len(files) > max_files:
        raise ReplyFileError(f"一封回复最多带 {max_files} 个附件（这次选了 {len(files)} 个）。")
    for f in files:
        if not f.data:
            raise ReplyFileError(f"附件“{f.name}”是空文件，未发送。")
        if sniff(f.data) == "exe":  # mail servers bounce them, and we never send programs to enterprises
            raise ReplyFileError(f"附件“{f.name}”是可执行程序，不能随回复发送。")
    total = sum(len(f.data) for f in files)
    if total > max_bytes:
        raise ReplyFileError(
            f"附件合计 {total / 1024 / 1024:.1f} MB，超过每封回复 {max_bytes / 1024 / 1024:.0f} MB 的上限。"
        )


def store_files(files: list[ReplyFile], directory: Path) -> list[dict[str, Any]]:
    """Store each file content-addressed; returns the outbox's list ({"name", "sha256", ...})."""
    out = []
    for f in files:
        digest, stored = store.save(directory, f.data)
        out.append(
            {
                "name": safe_filename(f.name),
                "sha256": digest,
                "stored_name": stored,
                "content_type": _SNIFFED.get(sniff(f.data), "application/octet-stream"),
                "size": len(f.data),
            }
        )
    return out
