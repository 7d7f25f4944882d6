"""Text out of paged documents: PDF (text layer, page images for OCR and the seal) and OFD.

Called by `sources.py` for an attachment sniffed as one of them; the same rules hold: nothing
raises, a file that cannot be read (fully) gets a `problem` on its `Source`.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import subprocess
import tempfile

from .sources import (
    MAX_IMAGE_BYTES,
    MAX_PDF_PAGES,
    MAX_SEAL_IMAGES,
    SUBPROCESS_TIMEOUT,
    Source,
    image_problem,
    max_pixels,
    zip_guard,
)

# --- PDF ------------------------------------------------------------------------------------------

MIN_PAGE_CHARS = 15  #: fewer meaningful characters than this: a scanned page, OCR it


def meaningful(text: str) -> int:
    return sum(1 for c in text if c.isalnum())


def read_pdf(src: Source) -> None:
    import logging

    from pypdf import PdfReader

    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(src.data), strict=False)
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")
            except Exception:
                ok = 0
            if not ok:
                src.problem = "PDF 已加密（需要密码），无法读取，请企业发送未加密的文件"
                src.problem_code = "encrypted"
                return
        n = len(reader.pages)
    except Exception as exc:
        src.problem, src.problem_code = f"PDF 已损坏，无法打开（{type(exc).__name__}）", "corrupt"
        return
    if n == 0:
        src.problem, src.problem_code = "PDF 没有页面", "corrupt"
        return
    if n > MAX_PDF_PAGES:
        src.problem = f"PDF 共 {n} 页，只读取了前 {MAX_PDF_PAGES} 页"
        src.problem_code = "truncated"
    limit = max_pixels()
    for i in range(min(n, MAX_PDF_PAGES)):
        try:
            page = reader.pages[i]
        except Exception:
            src.pages.append("")
            src.ocr_pages.append(i)
            continue
        try:
            text = page.extract_text() or ""
        except Exception:
            text = ""
        src.pages.append(text)
        if meaningful(text) < MIN_PAGE_CHARS:
            src.ocr_pages.append(i)
        if len(src.images) < MAX_SEAL_IMAGES:
            for img in _pdf_page_images(page, limit):
                src.images.append(img)
                src.image_pages.append(i)
                if len(src.images) >= MAX_SEAL_IMAGES:
                    break


def _pdf_page_images(page, limit: int) -> list[bytes]:
    """Encoded images (JPEG/PNG) drawn on a page, skipping tiny ones and oversize ones."""
    out: list[bytes] = []
    try:
        resources = page.get("/Resources")
        xobjects = resources.get_object().get("/XObject") if resources is not None else None
        if xobjects is None:
            return out
        xobjects = xobjects.get_object()
        names = []
        for name, ref in xobjects.items():
            obj = ref.get_object()
            if obj.get("/Subtype") != "/Image":
                continue
            w, h = int(obj.get("/Width", 0)), int(obj.get("/Height", 0))
            if w * h > limit or w < 32 or h < 32:
                continue
            names.append(name)
        if not names:
            return out
        images = None
        for name in names[:MAX_SEAL_IMAGES]:
            try:
                obj = xobjects[name].get_object()
                filters = obj.get("/Filter")
                if filters == "/DCTDecode" or (isinstance(filters, list) and list(filters) == ["/DCTDecode"]):
                    data = obj.get_data()  # the JPEG itself
                else:
                    images = images if images is not None else page.images
                    data = images[name].data
            except Exception:
                continue
            if data:
                out.append(data)
    except Exception:
        return out
    return out


def render_pdf_page(data: bytes, page: int, *, dpi: int = 100) -> bytes | None:
    """PNG of one page (0-based) through poppler's pdftoppm, or None."""
    exe = shutil.which("pdftoppm")
    if exe is None:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "in.pdf")
        with open(path, "wb") as f:
            f.write(data)
        try:
            proc = subprocess.run(
                [
                    exe,
                    "-png",
                    "-r",
                    str(dpi),
                    "-f",
                    str(page + 1),
                    "-l",
                    str(page + 1),
                    "-singlefile",
                    path,
                    os.path.join(tmp, "out"),
                ],
                capture_output=True,
                timeout=SUBPROCESS_TIMEOUT,
                check=False,
            )
        except (subprocess.TimeoutExpired, OSError):
            return None
        out = os.path.join(tmp, "out.png")
        if proc.returncode != 0 or not os.path.exists(out):
            return None
        with open(out, "rb") as f:
            return f.read()


# --- OFD ------------------------------------------------------------------------------------------

_OFD_PAGE = re.compile(r"(?:^|/)(Doc_?\d*)/Pages/Page_?(\d+)/Content\.xml$", re.I)
MAX_OFD_XML = 10 * 1024 * 1024


def _xml_parser():
    from lxml import etree

    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False)


def read_ofd(src: Source) -> None:
    from lxml import etree

    z, problem = zip_guard(src.data)
    if z is None:
        src.problem, src.problem_code = (
            f"OFD 文件{problem}",
            "bomb" if "炸弹" in (problem or "") else "corrupt",
        )
        return
    with z:
        pages = []
        for info in z.infolist():
            m = _OFD_PAGE.search(info.filename)
            if m:
                pages.append((m.group(1), int(m.group(2)), info))
            low = info.filename.lower()
            if "/signs/" in low or low.endswith("signatures.xml"):
                src.signed = True
            is_image = low.endswith((".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif"))
            if is_image and len(src.images) < MAX_SEAL_IMAGES and info.file_size <= MAX_IMAGE_BYTES:
                try:
                    data = z.read(info)
                except Exception:
                    continue
                if image_problem(data) is None:
                    src.images.append(data)
                    src.image_pages.append(0)
        pages.sort(key=lambda t: (t[0], t[1]))
        if not pages:
            src.problem, src.problem_code = "OFD 文件中没有找到页面内容", "corrupt"
            return
        total = 0
        for _doc, _n, info in pages[:MAX_PDF_PAGES]:
            total += info.file_size
            if total > MAX_OFD_XML:
                src.problem, src.problem_code = "OFD 页面内容过大，只读取了部分页面", "truncated"
                break
            try:
                root = etree.fromstring(z.read(info), _xml_parser())
            except Exception:
                src.pages.append("")
                src.problem, src.problem_code = "OFD 页面内容已损坏", "corrupt"
                continue
            src.pages.append(_ofd_page_text(root))
        for i, p in enumerate(src.pages):
            if meaningful(p) < MIN_PAGE_CHARS and src.images:
                src.ocr_pages.append(i)


def _ofd_page_text(root) -> str:
    lines: list[str] = []
    cur: list[str] = []
    last_y: float | None = None
    for obj in root.iter():
        if not isinstance(obj.tag, str) or not obj.tag.endswith("TextObject"):
            continue
        y = None
        boundary = obj.get("Boundary")
        if boundary:
            try:
                y = float(boundary.split()[1])
            except (IndexError, ValueError):
                y = None
        text = "".join(
            (tc.text or "") for tc in obj.iter() if isinstance(tc.tag, str) and tc.tag.endswith("TextCode")
        )
        if last_y is not None and y is not None and abs(y - last_y) > 2.0 and cur:
            lines.append("".join(cur))
            cur = []
        cur.append(text)
        last_y = y if y is not None else last_y
    if cur:
        lines.append("".join(cur))
    return "\n".join(lines)
