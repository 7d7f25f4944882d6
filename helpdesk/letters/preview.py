"""What an agent sees of a letter: a .docx as readable HTML, PDF pages and images as page images.

Pure functions from the attachment's bytes; no web or database code. The HTML is built from text
we escape ourselves and then cleaned with nh3 against a short list of tags without attributes, so
nothing in a hostile document can run, load a remote image or style the page around it. Page images
go through `raster` (its bomb guard, its pdftoppm timeouts) and are capped in count and size.
Callers run `render` in a sandbox process: these are bytes from outside.
"""

from __future__ import annotations

import html
import io
import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field

import nh3

from . import raster
from .sources import zip_guard

#: pages of a PDF (or frames of an image) rendered for the preview; the rest is one download away
MAX_PREVIEW_PAGES = 8
#: longest side of a preview page image: A4 at ~120 dpi, readable at 1366x768 with room to zoom
PREVIEW_SIDE = 1400
PREVIEW_JPEG_QUALITY = 80
#: paragraphs and table rows of a .docx turned into HTML (a letter has a few dozen)
MAX_DOCX_BLOCKS = 2000
#: words of a PDF's text layer kept per page, to highlight a field's evidence on the page image
MAX_WORDS_PER_PAGE = 3000
TEXT_LAYER_TIMEOUT = 20.0

#: the only markup a rendered .docx may carry: no attributes at all, so no links, images or styles
DOCX_TAGS = {"p", "strong", "em", "u", "br", "table", "tbody", "tr", "td", "h3", "h4"}


@dataclass
class Rendered:
    """A preview: HTML for a .docx, or JPEG page images (with their pixel sizes) for PDFs and images."""

    kind: str  #: "html", "pages" or "none"
    html: str = ""
    pages: list[bytes] = field(default_factory=list)
    sizes: list[tuple[int, int]] = field(default_factory=list)
    total_pages: int = 0  #: pages in the source (more than len(pages) when capped)
    problem: str | None = None  #: Chinese, when nothing (or not everything) could be rendered
    #: per page, the text layer's words as [text, left, top, width, height] in fractions of the page
    words: list[list[list[object]]] = field(default_factory=list)


def sanitize_docx_html(markup: str) -> str:
    """`markup` with every tag but DOCX_TAGS and every attribute removed (scripts with their content)."""
    return nh3.clean(markup, tags=DOCX_TAGS, attributes={}, url_schemes=set(), strip_comments=True)


def _run_html(run: object) -> str:
    text = html.escape(getattr(run, "text", "") or "").replace("\n", "<br>").replace("\t", " ")
    if not text:
        return ""
    if getattr(run, "bold", None):
        text = f"<strong>{text}</strong>"
    if getattr(run, "italic", None):
        text = f"<em>{text}</em>"
    if getattr(run, "underline", None):
        text = f"<u>{text}</u>"
    return text


def _paragraph_html(paragraph: object) -> str:
    parts = []
    for item in paragraph.iter_inner_content():  # type: ignore[attr-defined]
        runs = getattr(item, "runs", None)  # a hyperlink: its runs, never its target
        for run in runs if runs is not None else [item]:
            parts.append(_run_html(run))
    inner = "".join(parts)
    style = (getattr(getattr(paragraph, "style", None), "name", "") or "").lower()
    if style.startswith("title") or style == "heading 1":
        return f"<h3>{inner}</h3>"
    if style.startswith("heading"):
        return f"<h4>{inner}</h4>"
    return f"<p>{inner}</p>" if inner.strip() else "<p><br></p>"


def _table_html(table: object, depth: int = 0) -> str:
    rows = []
    for row in table.rows:  # type: ignore[attr-defined]
        cells, seen = [], set()
        for cell in row.cells:
            if id(cell._tc) in seen:  # a merged cell is repeated by python-docx for each grid column
                continue
            seen.add(id(cell._tc))
            cells.append("<td>" + _blocks_html(cell, depth + 1) + "</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return "<table><tbody>" + "".join(rows) + "</tbody></table>"


def _blocks_html(container: object, depth: int = 0) -> str:
    out = []
    for n, block in enumerate(container.iter_inner_content()):  # type: ignore[attr-defined]
        if n >= MAX_DOCX_BLOCKS:
            out.append("<p>……（以下内容过长，未显示）</p>")
            break
        if hasattr(block, "rows"):
            out.append(_table_html(block, depth) if depth < 4 else "")
        else:
            out.append(_paragraph_html(block))
    return "".join(out)


def docx_html(data: bytes) -> str:
    """The body of a .docx as sanitised HTML: paragraphs (bold, italic, underline kept), tables, headings.

    Raises ValueError with a Chinese message when the file cannot be opened.
    """
    z, problem = zip_guard(data)  # the bomb caps before python-docx inflates anything
    if z is None:
        raise ValueError(f"Word 文档{problem}")
    z.close()
    import docx  # imported here: the web process only needs it when a preview is first made

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001 - python-docx raises many kinds on broken files
        raise ValueError(f"Word 文档已损坏，无法预览（{type(exc).__name__}）") from exc
    return sanitize_docx_html(_blocks_html(document))


def _jpeg(frame: raster.Frame) -> bytes:
    buf = io.BytesIO()
    frame.image.convert("RGB").save(buf, "JPEG", quality=PREVIEW_JPEG_QUALITY, optimize=True)
    return buf.getvalue()


def page_images(data: bytes, *, max_pages: int = MAX_PREVIEW_PAGES, max_side: int = PREVIEW_SIDE) -> Rendered:
    """JPEG images of the first `max_pages` pages of a PDF or frames of an image file."""
    try:
        if raster.is_pdf(data):
            out = Rendered(kind="pages")
            with raster.PdfPages(data) as pdf:
                out.total_pages = pdf.count
                for index in range(min(pdf.count, max_pages)):
                    try:  # rendered at the preview's size, not OCR's: a third of pdftoppm's work
                        frame = pdf.page(index, max_side=max_side)
                    except raster.RasterError as exc:
                        out.problem = str(exc)
                        continue
                    out.pages.append(_jpeg(_fit(frame, max_side)))
                    out.sizes.append(frame.image.size)
            out.words = text_layer(data, len(out.pages))
            return out
        frames, total = raster.image_frames(data, max_frames=max_pages, max_side=max_side)
    except raster.RasterError as exc:
        return Rendered(kind="none", problem=str(exc))
    return Rendered(
        kind="pages",
        pages=[_jpeg(f) for f in frames],
        sizes=[f.image.size for f in frames],
        total_pages=total,
    )


_PAGE = re.compile(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', re.S)
_WORD = re.compile(
    r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>', re.S
)


def parse_bbox(xhtml: str) -> list[list[list[object]]]:
    """`pdftotext -bbox` output as, per page, [text, left, top, width, height] in fractions of the page."""
    pages = []
    for m in _PAGE.finditer(xhtml):
        width, height = float(m.group(1)) or 1.0, float(m.group(2)) or 1.0
        words: list[list[object]] = []
        for w in _WORD.finditer(m.group(3)):
            if len(words) >= MAX_WORDS_PER_PAGE:
                break
            x0, y0, x1, y1 = (float(w.group(i)) for i in range(1, 5))
            left, top = max(0.0, x0 / width), max(0.0, y0 / height)
            words.append([html.unescape(w.group(5)), round(left, 4), round(top, 4),
                          round(min(1.0, x1 / width) - left, 4), round(min(1.0, y1 / height) - top, 4)])  # fmt: skip
        pages.append(words)
    return pages


def text_layer(data: bytes, pages: int) -> list[list[list[object]]]:
    """The words of the first `pages` pages of a PDF with their boxes (empty for scans or without poppler)."""
    exe = shutil.which("pdftotext")
    if exe is None or pages <= 0:
        return []
    with tempfile.TemporaryDirectory(prefix="helpdesk-preview-") as tmp:
        path = os.path.join(tmp, "in.pdf")
        with open(path, "wb") as fh:
            fh.write(data)
        try:
            proc = subprocess.run([exe, "-bbox", "-enc", "UTF-8", "-f", "1", "-l", str(pages), path, "-"],
                                  capture_output=True, timeout=TEXT_LAYER_TIMEOUT, check=False)  # fmt: skip
        except (subprocess.TimeoutExpired, OSError):
            return []
    if proc.returncode != 0:
        return []
    return parse_bbox(proc.stdout.decode("utf-8", "replace"))


def _fit(frame: raster.Frame, max_side: int) -> raster.Frame:
    # PdfPages renders for OCR (MAX_SIDE); the preview wants a smaller image
    if max(frame.image.size) > max_side:
        frame.image = raster.prepare(frame.image, max_side=max_side, exif=False).image
    return frame


#: sniffed kinds (letters.sniff) with a preview, and how it is made
HTML_KINDS = {"docx"}
PAGE_KINDS = {"pdf", "jpg", "png", "gif", "bmp", "tif", "webp"}


def render(data: bytes, kind: str) -> Rendered:
    """The preview of one attachment of sniffed `kind`; never raises for a bad file (see `problem`)."""
    if kind in HTML_KINDS:
        try:
            return Rendered(kind="html", html=docx_html(data))
        except ValueError as exc:
            return Rendered(kind="none", problem=str(exc))
    if kind in PAGE_KINDS:
        return page_images(data)
    return Rendered(kind="none", problem="这种文件没有预览，请下载查看")


__all__ = [
    "MAX_PREVIEW_PAGES",
    "PREVIEW_SIDE",
    "Rendered",
    "docx_html",
    "page_images",
    "render",
    "sanitize_docx_html",
]
