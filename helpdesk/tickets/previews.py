"""The letter pane of the ticket page: which documents it shows, and their previews cached on disk.

A preview is made once per attachment content (its sha256) in a sandbox process
(`letters.preview.render`: hostile bytes, a deadline and a memory cap) and kept under
``<instance>/previews/<sha>/``: ``meta.json`` (written last, so a half-written render is never
used), ``doc.html`` for a .docx, ``p<N>.jpg`` for page images. Two attachments with the same bytes
share one render; nothing is written to the database.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import current_app

from helpdesk.core import sandbox
from helpdesk.letters import preview
from helpdesk.letters.current import current_letter
from helpdesk.letters.sniff import sniff
from helpdesk.mail import store
from helpdesk.tickets.models import Attachment, MessageKind, Ticket

#: bump when the rendering changes: older renders are then made again
RENDER_VERSION = "2"
#: seconds one preview may take (a 8-page scan through pdftoppm takes ~2 s on one core)
RENDER_SECONDS = 30.0
#: characters of a mail body shown in the letter pane (the conversation tab has the whole text)
BODY_CHARS = 20_000

PREVIEW_TYPES = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/pdf": "pdf",
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/bmp": "bmp",
    "image/tiff": "tif",
}
ROLE_LABELS = {"letter": "来函", "licence": "营业执照", "other": "附件"}
_ROLE_ORDER = {"letter": 0, "licence": 1, "other": 2}


@dataclass
class Preview:
    """A cached render: read back from disk, page images stay there (served by the page route)."""

    kind: str  #: "html", "pages" or "none"
    html: str = ""
    sizes: list[tuple[int, int]] = field(default_factory=list)
    total_pages: int = 0
    problem: str | None = None
    words: list[list[list[Any]]] = field(default_factory=list)  #: per page: [text, left, top, w, h]


@dataclass
class Document:
    """One document in the letter pane."""

    source: str  #: the `Evidence.source` its fields point at: "attachment:<name>" or "body"
    label: str
    attachment: Attachment | None = None
    number: int = 0  #: the attachment's number on the ticket (附件 N)
    preview: Preview | None = None
    text: str = ""  #: a mail body
    text_cut: bool = False


def cache_dir() -> Path:
    return Path(current_app.config["HELPDESK"].instance_dir) / "previews"


def _entry(sha: str) -> Path:
    if len(sha) != 64 or not all(c in "0123456789abcdef" for c in sha):
        raise ValueError("not a sha256")
    return cache_dir() / f"{sha}-v{RENDER_VERSION}"


def _load(entry: Path) -> Preview | None:
    try:
        meta = json.loads((entry / "meta.json").read_text("utf-8"))
        html = (entry / "doc.html").read_text("utf-8") if meta["kind"] == "html" else ""
    except (OSError, ValueError, KeyError):
        return None
    sizes = [(int(w), int(h)) for w, h in meta.get("sizes", [])]
    return Preview(meta["kind"], html, sizes, int(meta.get("total_pages", 0)), meta.get("problem"),
                   list(meta.get("words", [])))  # fmt: skip


def _write(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)  # another worker rendering the same sha writes the same bytes


def _save(entry: Path, rendered: preview.Rendered) -> Preview:
    entry.mkdir(parents=True, exist_ok=True)
    if rendered.kind == "html":
        _write(entry / "doc.html", rendered.html.encode("utf-8"))
    for n, page in enumerate(rendered.pages, start=1):
        _write(entry / f"p{n}.jpg", page)
    meta = {"kind": rendered.kind, "sizes": rendered.sizes, "total_pages": rendered.total_pages,
            "problem": rendered.problem, "words": rendered.words}  # fmt: skip
    _write(entry / "meta.json", json.dumps(meta, ensure_ascii=False).encode("utf-8"))  # last: complete
    return Preview(rendered.kind, rendered.html, list(rendered.sizes), rendered.total_pages, rendered.problem,
                   rendered.words)  # fmt: skip


def _sandbox() -> sandbox.Sandbox:
    memory = int(current_app.config["HELPDESK"]["HELPDESK_PARSE_MEMORY_MB"])
    return sandbox.shared(f"preview:{memory}", lambda: sandbox.Sandbox(1, memory_mb=memory))


def attachment_bytes(att: Attachment) -> bytes:
    """The stored bytes of an attachment (database or attachments directory); OSError/ValueError if gone."""
    if att.data is not None:
        return att.data
    return store.load(current_app.config["HELPDESK"].attachments_dir, att.stored_name)


def preview_of(att: Attachment) -> Preview:
    """The attachment's preview, rendered on first use and then read from the cache."""
    try:
        entry = _entry(att.sha256)
    except ValueError:  # a row without a content hash cannot be cached (nor trusted to be ours)
        return Preview("none", problem="附件缺少内容摘要，无法预览，请下载查看")
    cached = _load(entry)
    if cached is not None:
        return cached
    try:
        data = attachment_bytes(att)
    except (OSError, ValueError):
        return Preview("none", problem="附件文件不在存储目录中，无法预览")
    (result,) = _sandbox().run(preview.render, [(data, sniff(data))], RENDER_SECONDS)
    if isinstance(result, BaseException):
        # an overrun or a dead worker is not cached: a quieter moment may render it
        return Preview("none", problem="预览生成超时或失败，请下载查看")
    return _save(entry, result)


def page_file(att: Attachment, page: int) -> Path | None:
    """The cached JPEG of page `page` (1-based) of the attachment, rendering it first if needed."""
    shown = preview_of(att)
    if shown.kind != "pages" or not 1 <= page <= len(shown.sizes):
        return None
    path = _entry(att.sha256) / f"p{page}.jpg"
    return path if path.exists() else None


def _roles(ticket: Ticket) -> dict[str, str]:
    read = current_letter(ticket).read
    return {s.filename: s.role for s in (read.sources if read else ()) if s.filename}


#: mail bodies shown in the letter pane (the newest inbound ones; every message is in the conversation tab)
MAX_BODIES = 3


def _body_messages(ticket: Ticket) -> list[Any]:
    """The newest inbound messages with a text body, newest first (a body field's evidence is in one)."""
    inbound = [m for m in ticket.messages if m.kind == MessageKind.INBOUND and (m.body_text or "").strip()]
    return sorted(inbound, key=lambda m: (m.created_at, m.id), reverse=True)[:MAX_BODIES]


def letter_documents(ticket: Ticket) -> list[Document]:
    """The documents of the letter pane: the letter first, then the licence and other previewable
    attachments (newest mail first within each), then the newest mail bodies."""
    roles = _roles(ticket)
    numbered = list(enumerate(ticket.attachments, start=1))
    candidates = [(n, a) for n, a in numbered if not a.problem and a.content_type in PREVIEW_TYPES]
    candidates.sort(key=lambda na: (_ROLE_ORDER.get(roles.get(na[1].original_name, "other"), 2), -na[0]))
    docs = []
    for n, att in candidates:
        role = roles.get(att.original_name, "other")
        docs.append(
            Document(
                source=f"attachment:{att.original_name}",
                label=f"{ROLE_LABELS.get(role, '附件')} · {att.original_name or f'附件{n}'}",
                attachment=att,
                number=n,
                preview=preview_of(att),
            )
        )
    for message in _body_messages(ticket):
        body = message.body_text or ""
        docs.append(
            Document(
                source="body",
                label=f"邮件正文 · {message.subject or '（无主题）'}",
                text=body[:BODY_CHARS],
                text_cut=len(body) > BODY_CHARS,
            )
        )
    return docs
