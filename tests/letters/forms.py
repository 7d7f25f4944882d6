"""Delivery forms for generated letters: one written letter, sent as docx, doc, PDF, scan or mail body.

The phrase banks live in the generators (`freegen.py` for the tuning set, `heldout.py` for the
held-out set); this module only lays a written letter out in a file or a mail, the way enterprises
send them. A `Written` letter is a title, paragraphs, an optional label/value table and a signature
block. ``deliver(written, form, ...)`` returns the attachments and body of the mail.

Forms: "docx", "docx_table" (the label lines as a two-column Word table), "doc" and "office_pdf"
(the docx converted by LibreOffice, cached under tests/letters/data/office/ so that runs without
LibreOffice still have them), "text_pdf", "scan_jpg", "scan_png", "scan_pdf" (image-only PDF),
"body" (pasted into the mail), "html" (an HTML-only mail body).
"""

from __future__ import annotations

import html
import io
import os
import shutil
import subprocess
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from helpdesk.mail.parsed import MailAttachment, ParsedMail
from tests.letters.make_letters import seal_png, text_pdf

OFFICE_DIR = Path(__file__).parent / "data" / "office"
FORMS = (
    "docx",
    "docx_table",
    "doc",
    "office_pdf",
    "text_pdf",
    "scan_jpg",
    "scan_png",
    "scan_pdf",
    "body",
    "html",
)
SCAN_FORMS = ("scan_jpg", "scan_png", "scan_pdf")


@dataclass
class Written:
    """A letter as the enterprise wrote it."""

    title: str
    paras: list[str]  #: paragraphs after the title (salutation, body, closing)
    sig: list[str]  #: signature block: company (and seal remark), date; may be empty
    table: list[tuple[str, str]] = field(default_factory=list)  #: label/value rows (docx_table form)

    def lines(self) -> list[str]:
        rows = [f"{k}：{v}" for k, v in self.table]
        return [self.title, *self.paras[:1], *rows, *self.paras[1:], *self.sig]

    def text(self) -> str:
        return "\n".join(line for line in self.lines() if line is not None)


def docx_file(w: Written, *, table: bool = False, seal: bool = False) -> bytes:
    import docx
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.shared import Cm

    doc = docx.Document()
    p = doc.add_paragraph()
    p.alignment = WD_ALIGN_PARAGRAPH.CENTER
    p.add_run(w.title).bold = True
    paras = list(w.paras)
    if paras:
        doc.add_paragraph(paras.pop(0))
    if w.table and table:
        t = doc.add_table(rows=0, cols=2)
        for k, v in w.table:
            cells = t.add_row().cells
            cells[0].text, cells[1].text = k, v
    else:
        for k, v in w.table:
            doc.add_paragraph(f"{k}：{v}")
    for line in paras:
        doc.add_paragraph(line)
    for line in w.sig:
        doc.add_paragraph(line).alignment = WD_ALIGN_PARAGRAPH.RIGHT
    if seal:
        doc.add_paragraph().add_run().add_picture(io.BytesIO(seal_png()), width=Cm(4))
    buf = io.BytesIO()
    doc.save(buf)
    return buf.getvalue()


def office_file(name: str, docx_data: bytes, fmt: str) -> bytes | None:
    """`docx_data` converted by LibreOffice to "doc" or "pdf", cached by case name; None without it."""
    # keyed by case name only: a .docx is not byte-for-byte reproducible (it records its creation
    # time), the letter in it is
    key = f"{name}.{fmt}"
    cached = OFFICE_DIR / key
    if cached.exists():
        return cached.read_bytes()
    exe = shutil.which("soffice") or shutil.which("libreoffice")
    if exe is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "letter.docx")
        with open(src, "wb") as f:
            f.write(docx_data)
        filt = "doc:MS Word 97" if fmt == "doc" else "pdf:writer_pdf_Export"
        subprocess.run(
            [
                exe,
                "--headless",
                f"-env:UserInstallation=file://{tmp}/profile",
                "--convert-to",
                filt,
                "--outdir",
                tmp,
                src,
            ],
            capture_output=True,
            timeout=120,
            check=False,
        )
        out = os.path.join(tmp, f"letter.{fmt}")
        if not os.path.exists(out):
            return None
        data = Path(out).read_bytes()
    OFFICE_DIR.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(data)
    return data


def scan_file(w: Written, form: str, *, seed: int, seal: bool, rotate: float) -> bytes:
    from tests.letters import scanmaker

    text = w.text()
    if form == "scan_pdf":
        return scanmaker.render_pdf_scan(text, seed=seed, seal=seal, rotate=rotate, jpeg_quality=80)
    if form == "scan_png":
        page = scanmaker.render_page(text, seed=seed, seal=seal, rotate=rotate)
        buf = io.BytesIO()
        page.save(buf, "PNG", compress_level=1)
        return buf.getvalue()
    return scanmaker.render_scan(text, seed=seed, seal=seal, rotate=rotate, jpeg_quality=80)


def html_body(text: str) -> str:
    paras = "".join(f"<p>{html.escape(line)}</p>" for line in text.split("\n"))
    return f"<html><body><div style='font-family:宋体'>{paras}</div></body></html>"


def deliver(
    name: str, w: Written, form: str, *, filename: str, seed: int, seal: bool = True, rotate: float = 0.0
) -> tuple[list[tuple[str, bytes]], str, str]:
    """(attachments, text body, html body) carrying letter `w` in `form`.

    Returns no attachment for "doc" / "office_pdf" when LibreOffice is missing and nothing is
    cached; the caller falls back to docx then.
    """
    if form in ("docx", "docx_table"):
        return [(f"{filename}.docx", docx_file(w, table=form == "docx_table", seal=seal))], "", ""
    if form in ("doc", "office_pdf"):
        ext = "doc" if form == "doc" else "pdf"
        data = office_file(name, docx_file(w, table=bool(w.table), seal=seal), ext)
        if data is None:
            return [(f"{filename}.docx", docx_file(w, seal=seal))], "", ""
        return [(f"{filename}.{ext}", data)], "", ""
    if form == "text_pdf":
        return [(f"{filename}.pdf", text_pdf([w.lines()]))], "", ""
    if form in SCAN_FORMS:
        ext = {"scan_jpg": "jpg", "scan_png": "png", "scan_pdf": "pdf"}[form]
        return [(f"{filename}.{ext}", scan_file(w, form, seed=seed, seal=seal, rotate=rotate))], "", ""
    if form == "body":
        return [], w.text(), ""
    if form == "html":
        return [], "", html_body(w.text())
    raise ValueError(form)


def make_mail(
    *,
    subject: str,
    text: str = "",
    html_text: str = "",
    attachments: list[tuple[str, bytes]] | None = None,
    sender: str = "qiye@example.com",
) -> ParsedMail:
    atts = tuple(MailAttachment(n, "application/octet-stream", d) for n, d in attachments or [])
    return ParsedMail(
        message_id=f"gen:{zlib.crc32((subject + text + html_text).encode()):08x}",
        in_reply_to=None,
        references=(),
        sender=sender,
        sender_name="",
        to=("zxzj@ec.com.cn",),
        cc=(),
        subject=subject,
        date=None,
        text=text,
        html=html_text,
        attachments=atts,
    )
