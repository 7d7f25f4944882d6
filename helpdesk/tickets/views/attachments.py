"""Attachments and message bodies, served under names we choose, never run in the page."""

from __future__ import annotations

import mimetypes
import re
from typing import Any
from urllib.parse import quote

from flask import Response, abort, current_app, make_response, render_template

from helpdesk.db import session
from helpdesk.mail import store
from helpdesk.tickets import previews
from helpdesk.tickets.models import Attachment, Message, Ticket
from helpdesk.tickets.views.common import bp, ticket_or_404

#: content types shown inside the page; everything else is only downloadable
INLINE_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "image/bmp", "application/pdf"}

#: the attachment response may render, but nothing in it may run or reach out
INLINE_CSP = "sandbox; default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; object-src 'self'"

TYPE_NAMES = {
    "application/pdf": "PDF",
    "image/png": "PNG 图片",
    "image/jpeg": "JPEG 图片",
    "image/gif": "GIF 图片",
    "image/webp": "WebP 图片",
    "image/bmp": "BMP 图片",
    "image/tiff": "TIFF 图片",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "Word 文档（docx）",
    "application/msword": "Word 文档（doc）",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "Excel 表格（xlsx）",
    "application/vnd.ms-excel": "Excel 表格（xls）",
    "application/zip": "压缩包（zip）",
    "application/x-rar-compressed": "压缩包（rar）",
    "message/rfc822": "原始邮件（eml）",
    "text/plain": "文本",
}

EXTENSIONS = {
    "application/pdf": ".pdf",
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "image/bmp": ".bmp",
    "image/tiff": ".tif",
    "message/rfc822": ".eml",
    "text/plain": ".txt",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/msword": ".doc",
    "application/zip": ".zip",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
}


# ------------------------------------------------------------------------------------ attachments


def download_name(ticket: Ticket, att: Attachment, n: int) -> str:
    """The name we give a download: "ZXZJ-12-附件3.pdf" (never the sender's file name)."""
    suffix = ""
    match = re.search(r"(\.[A-Za-z0-9]{1,5})$", att.original_name or "")
    if match:
        suffix = match.group(1).lower()
    guessed = EXTENSIONS.get(att.content_type) or mimetypes.guess_extension(att.content_type or "") or ""
    if guessed and suffix != guessed and not (suffix in (".jpeg", ".jpg") and guessed == ".jpg"):
        suffix = guessed if att.content_type in EXTENSIONS or not suffix else suffix
    return f"ZXZJ-{ticket.id}-附件{n}{suffix}"


def _content_disposition(kind: str, name: str) -> str:
    ascii_name = name.replace("附件", "attachment").encode("ascii", "replace").decode().replace("?", "_")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def _attachment(ticket_id: int, attachment_id: int) -> tuple[Ticket, Attachment, int, bytes]:
    ticket = ticket_or_404(ticket_id)
    att = session.get(Attachment, attachment_id)
    if att is not None and att.ticket_id == ticket.id and att.removed_at is not None:
        from helpdesk.tickets.retention import removed_attachment_text

        page = render_template("error.html", code=410, title="附件已删除", text=removed_attachment_text(att))
        abort(make_response(page, 410))
    if att is None or att.ticket_id != ticket.id or att.problem or not (att.stored_name or att.data):
        abort(404)
    n = next((i for i, a in enumerate(ticket.attachments, start=1) if a.id == att.id), 0)
    try:
        data = (
            att.data
            if att.data is not None
            else store.load(current_app.config["HELPDESK"].attachments_dir, att.stored_name)
        )
    except (OSError, ValueError):
        abort(404)
    return ticket, att, n, data


@bp.get("/tickets/<int:ticket_id>/attachments/<int:attachment_id>/inline")
def attachment_inline(ticket_id: int, attachment_id: int) -> Any:
    ticket, att, n, data = _attachment(ticket_id, attachment_id)
    if att.content_type not in INLINE_TYPES:
        abort(404)
    response = Response(data, mimetype=att.content_type)
    response.headers["Content-Disposition"] = _content_disposition("inline", download_name(ticket, att, n))
    response.headers["Content-Security-Policy"] = INLINE_CSP
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@bp.get("/tickets/<int:ticket_id>/attachments/<int:attachment_id>/download")
def attachment_download(ticket_id: int, attachment_id: int) -> Any:
    ticket, att, n, data = _attachment(ticket_id, attachment_id)
    response = Response(data, mimetype=att.content_type or "application/octet-stream")
    response.headers["Content-Disposition"] = _content_disposition(
        "attachment", download_name(ticket, att, n)
    )
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@bp.get("/tickets/<int:ticket_id>/messages/<int:message_id>/body.txt")
def message_body(ticket_id: int, message_id: int) -> Any:
    """The whole text of one message, as a plain-text download (the page shows its first part)."""
    ticket = ticket_or_404(ticket_id)
    message = session.get(Message, message_id)
    if message is None or message.ticket_id != ticket.id:
        abort(404)
    response = Response(message.body_text or "", mimetype="text/plain")  # Flask adds charset=utf-8
    response.headers["Content-Disposition"] = _content_disposition(
        "attachment", f"ZXZJ-{ticket.id}-邮件{message.id}.txt"
    )
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


# ------------------------------------------------------------------------------------ page images


@bp.get("/tickets/<int:ticket_id>/attachments/<int:attachment_id>/pages/<int:page>.jpg")
def attachment_page(ticket_id: int, attachment_id: int, page: int) -> Any:
    """One page of a PDF or image attachment as a JPEG rendered on the server (cached by content hash),
    so the letter pane shows it in every browser, headless ones included."""
    ticket = ticket_or_404(ticket_id)
    att = session.get(Attachment, attachment_id)
    if att is None or att.ticket_id != ticket.id or att.problem:
        abort(404)
    path = previews.page_file(att, page)
    if path is None:
        abort(404)
    response = Response(path.read_bytes(), mimetype="image/jpeg")
    response.headers["Content-Disposition"] = _content_disposition(
        "inline", f"ZXZJ-{ticket.id}-附件{attachment_id}-第{page}页.jpg"
    )
    response.headers["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response.headers["Cache-Control"] = "private, max-age=86400"
    return response
