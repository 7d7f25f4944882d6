"""Text out of attachments, with caps: docx, doc, PDF, OFD, images (for OCR), text, zip.

Nothing here raises: every extractor catches what the file can throw at it and records a
`problem` (Chinese, for the agent) and a `problem_code` on the returned `Source`. OCR and seal
detection are not run here; `reader.py` does that, on the sources that need it.
"""

from __future__ import annotations

import io
import os
import posixpath
import re
import shutil
import subprocess
import tempfile
import time
import warnings
import zipfile
from dataclasses import dataclass, field

from ..mail.charsets import decode_text
from ..mail.html import html_to_text
from .sniff import IMAGE_KINDS, KIND_LABELS, sniff

MAX_ZIP_TOTAL = 50 * 1024 * 1024  #: sum of uncompressed sizes in a docx/OFD/zip central directory
MAX_ZIP_RATIO = 200  #: uncompressed/compressed, for members above 1 MB
MAX_ZIP_MEMBERS = 2000
MAX_ARCHIVE_FILES = 10  #: files read from inside a plain .zip attachment
MAX_PDF_PAGES = 20
MAX_TEXT_CHARS = 200_000
MAX_SEAL_IMAGES = 6
MAX_IMAGE_BYTES = 20 * 1024 * 1024
SUBPROCESS_TIMEOUT = 15.0
_DEFAULT_MAX_PIXELS = 89_478_485  # Pillow's default Image.MAX_IMAGE_PIXELS


@dataclass
class Source:
    """One readable thing, while a mail is being read."""

    label: str  #: evidence source: "attachment:<name>", "body", "subject"
    filename: str
    kind: str
    data: bytes = b""
    pages: list[str] = field(default_factory=list)  #: text per page ("" while awaiting OCR)
    ocr_pages: list[int] = field(default_factory=list)  #: 0-based pages that still need OCR
    ocr_used: bool = False
    images: list[bytes] = field(default_factory=list)  #: candidates for seal detection
    image_pages: list[int] = field(default_factory=list)  #: page of each image (0-based)
    signed: bool = False  #: carries an electronic signature (OFD Signatures)
    problem: str | None = None
    problem_code: str | None = None  #: encrypted, oversize, bomb, corrupt, doc, exe, archive, format, ...
    seconds: float = 0.0
    role: str = "other"
    page_roles: list[str] = field(default_factory=list)
    inline: bool = False

    @property
    def text(self) -> str:
        return "\f".join(self.pages)

    def page_of(self, offset: int) -> int | None:
        """1-based page of an offset into `text` (None for single-page sources)."""
        if len(self.pages) <= 1:
            return None
        pos = 0
        for i, p in enumerate(self.pages):
            pos += len(p) + 1
            if offset < pos:
                return i + 1
        return len(self.pages)

    @property
    def needs_ocr(self) -> bool:
        return bool(self.ocr_pages)


def max_pixels() -> int:
    from PIL import Image

    return int(Image.MAX_IMAGE_PIXELS or _DEFAULT_MAX_PIXELS)


def from_attachment(
    filename: str, data: bytes, *, inline: bool = False, problem: str | None = None
) -> list[Source]:
    """Sources for one mail attachment (several for a zip archive); never raises."""
    started = time.perf_counter()
    label = f"attachment:{filename}"
    if problem is not None and not data:
        src = Source(label, filename, "unknown", problem=_mail_problem(problem), problem_code="oversize")
        return [src]
    kind = sniff(data)
    src = Source(label, filename, kind, data=data, inline=inline)
    try:
        if kind == "zip":
            out = _read_zip(src)
        else:
            _read(src)
            out = [src]
    except Exception as exc:  # a last guard: a reader bug must not lose the mail
        src.problem, src.problem_code = f"读取失败（{type(exc).__name__}）", "corrupt"
        out = [src]
    for s in out:
        s.seconds = s.seconds or (time.perf_counter() - started)
        for i, p in enumerate(s.pages):
            if len(p) > MAX_TEXT_CHARS:
                s.pages[i] = p[:MAX_TEXT_CHARS]
    return out


def _mail_problem(problem: str) -> str:
    if problem == "oversize":
        return "附件过大，邮件解析时已丢弃，请企业压缩后重发或人工查看原邮件"
    return f"附件无法使用：{problem}"


def _read(src: Source) -> None:
    kind = src.kind
    if kind == "docx":
        _read_docx(src)
    elif kind == "pdf":
        _read_pdf(src)
    elif kind == "ofd":
        _read_ofd(src)
    elif kind == "doc":
        _read_doc(src)
    elif kind in IMAGE_KINDS:
        _read_image(src)
    elif kind == "text":
        src.pages = [decode_text(src.data, errors="replace")[0]]
    elif kind == "html":
        src.pages = [html_to_text(decode_text(src.data, errors="replace")[0])]
    elif kind == "rtf":
        _read_rtf(src)
    elif kind == "empty":
        src.problem, src.problem_code = "附件为空文件（0 字节）", "empty"
    elif kind == "exe":
        src.problem, src.problem_code = "附件是可执行程序，已忽略（可能有害），未打开", "exe"
    elif kind in ("rar", "7z"):
        src.problem = f"附件为{KIND_LABELS[kind]}，系统无法解压，请企业解压后直接发送原文件"
        src.problem_code = "archive"
    elif kind in ("xlsx", "xls", "pptx", "ole"):
        src.problem = f"附件为{KIND_LABELS[kind]}，不是说明函格式，未读取"
        src.problem_code = "format"
    else:
        src.problem = "附件格式无法识别，未读取，请人工查看"
        src.problem_code = "unreadable"


# --- zip containers -------------------------------------------------------------------------------


def zip_guard(data: bytes) -> tuple[zipfile.ZipFile | None, str | None]:
    """Open a zip after checking its central directory against the bomb caps: (zip, problem)."""
    try:
        z = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError, NotImplementedError):
        return None, "文件已损坏（压缩结构无法打开）"
    infos = z.infolist()
    if len(infos) > MAX_ZIP_MEMBERS:
        z.close()
        return None, f"压缩结构内文件过多（{len(infos)} 个），疑似压缩炸弹，未打开"
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size > 1024 * 1024 and info.file_size > MAX_ZIP_RATIO * max(info.compress_size, 1):
            z.close()
            return None, "压缩比异常（疑似压缩炸弹），未打开"
    if total > MAX_ZIP_TOTAL:
        z.close()
        return None, f"解压后超过 {MAX_ZIP_TOTAL // (1024 * 1024)} MB（疑似压缩炸弹），未打开"
    return z, None


def _zip_name(info: zipfile.ZipInfo) -> str:
    # Chinese zip tools write GBK names without the UTF-8 flag; zipfile then decodes them as cp437
    if info.flag_bits & 0x800:
        return info.filename
    try:
        return info.filename.encode("cp437").decode("gb18030")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return info.filename


def _read_zip(src: Source) -> list[Source]:
    z, problem = zip_guard(src.data)
    if z is None:
        src.problem, src.problem_code = f"压缩包{problem}", "bomb" if "炸弹" in (problem or "") else "corrupt"
        return [src]
    out: list[Source] = []
    with z:
        members = [i for i in z.infolist() if not i.is_dir() and not i.filename.startswith("__MACOSX/")]
        for info in members[:MAX_ARCHIVE_FILES]:
            name = f"{src.filename}/{os.path.basename(_zip_name(info).rstrip('/'))}"
            try:
                data = z.read(info)
            except Exception:
                out.append(
                    Source(
                        f"attachment:{name}",
                        name,
                        "unknown",
                        problem="压缩包内文件无法解压",
                        problem_code="corrupt",
                    )
                )
                continue
            kind = sniff(data)
            inner = Source(f"attachment:{name}", name, kind, data=data)
            if kind == "zip":
                inner.problem, inner.problem_code = "压缩包内还有压缩包，未继续解压", "archive"
            else:
                try:
                    _read(inner)
                except Exception as exc:
                    inner.problem, inner.problem_code = f"读取失败（{type(exc).__name__}）", "corrupt"
            out.append(inner)
        if len(members) > MAX_ARCHIVE_FILES:
            src.problem = f"压缩包内有 {len(members)} 个文件，只读取了前 {MAX_ARCHIVE_FILES} 个"
            src.problem_code = "truncated"
            out.insert(0, src)
    if not out:
        src.problem, src.problem_code = "压缩包为空", "empty"
        return [src]
    return out


# --- docx -----------------------------------------------------------------------------------------

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_MC = "{http://schemas.openxmlformats.org/markup-compatibility/2006}"
_SKIP_IN_PARA = {
    _W + "txbxContent",
    _MC + "Fallback",
    _W + "del",
    _W + "delText",
    _W + "instrText",
    _W + "rPr",
    _W + "pPr",
    _W + "moveFrom",
}


def _para_text(p, out: list[str]) -> None:
    for child in p:
        tag = child.tag
        if not isinstance(tag, str) or tag in _SKIP_IN_PARA:
            continue
        if tag == _W + "t":
            out.append(child.text or "")
        elif tag == _W + "tab":
            out.append("\t")
        elif tag in (_W + "br", _W + "cr"):
            out.append("\n")
        elif tag == _W + "noBreakHyphen":
            out.append("-")
        else:
            _para_text(child, out)


def _text_boxes(p) -> list:
    boxes = []
    for tb in p.iter(_W + "txbxContent"):
        anc = tb.getparent()
        nested = False
        while anc is not None and anc is not p:
            if anc.tag in (_W + "txbxContent", _MC + "Fallback"):
                nested = True
                break
            anc = anc.getparent()
        if not nested:
            boxes.append(tb)
    return boxes


def _block_lines(el, out: list[str]) -> None:
    for child in el:
        tag = child.tag
        if not isinstance(tag, str):
            continue
        if tag == _W + "p":
            parts: list[str] = []
            _para_text(child, parts)
            out.append("".join(parts))
            for tb in _text_boxes(child):
                _block_lines(tb, out)
        elif tag == _W + "tbl":
            for tr in child.iter(_W + "tr"):
                if tr.getparent() is not child:  # rows of nested tables come through their cell
                    continue
                cells = []
                for tc in tr.findall(_W + "tc"):
                    cell: list[str] = []
                    _block_lines(tc, cell)
                    cells.append("\n".join(x.strip() for x in cell if x.strip()))
                # one line per row; a cell's own paragraphs stay lines of their own
                out.append("\t".join(cells))
        elif tag in (_W + "sectPr", _W + "tblPr", _W + "tcPr", _W + "trPr"):
            continue
        else:
            _block_lines(child, out)  # w:sdt, w:sdtContent, w:customXml, ...


_RELS = "{http://schemas.openxmlformats.org/package/2006/relationships}"


def _rel_targets(z: zipfile.ZipFile, rels_path: str, base: str) -> dict[str, list[str]]:
    """Relationship type suffix ("officeDocument", "header", ...) -> zip paths of the targets."""
    from docx.oxml.parser import parse_xml

    out: dict[str, list[str]] = {}
    try:
        root = parse_xml(z.read(rels_path))
    except (KeyError, Exception):
        return out
    for rel in root.iter(_RELS + "Relationship"):
        if rel.get("TargetMode") == "External":
            continue
        kind = (rel.get("Type") or "").rsplit("/", 1)[-1]
        target = rel.get("Target") or ""
        path = (
            target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join(base, target))
        )
        out.setdefault(kind, []).append(path)
    return out


def _read_docx(src: Source) -> None:
    """Paragraphs, tables, text boxes, headers and footers, in reading order.

    The parts are parsed with python-docx's own XML parser (entities never resolved), straight from
    the zip: opening the whole package (styles, numbering, theme) costs ten times more and adds
    nothing to the text.
    """
    from docx.oxml.parser import parse_xml

    z, problem = zip_guard(src.data)
    if z is None:
        src.problem, src.problem_code = (
            f"Word 文档{problem}",
            "bomb" if "炸弹" in (problem or "") else "corrupt",
        )
        return
    lines: list[str] = []
    with z:
        media = [i for i in z.infolist() if i.filename.startswith("word/media/")]
        for info in sorted(media, key=lambda i: -i.file_size)[:MAX_SEAL_IMAGES]:
            if info.file_size <= MAX_IMAGE_BYTES:
                try:
                    data = z.read(info)
                except Exception:
                    continue
                if sniff(data) in IMAGE_KINDS and image_problem(data) is None:
                    src.images.append(data)
                    src.image_pages.append(0)
        main = (_rel_targets(z, "_rels/.rels", "").get("officeDocument") or ["word/document.xml"])[0]
        base, name = posixpath.split(main)
        rels = _rel_targets(z, posixpath.join(base, "_rels", name + ".rels"), base)
        try:
            body = parse_xml(z.read(main))
        except Exception as exc:
            src.problem, src.problem_code = f"Word 文档已损坏，无法打开（{type(exc).__name__}）", "corrupt"
            return
        try:
            for kind in ("header", "body", "footer"):
                for path in [main] if kind == "body" else rels.get(kind, []):
                    el = body if kind == "body" else parse_xml(z.read(path))
                    found = el.find(_W + "body") if kind == "body" else el
                    _block_lines(found if found is not None else el, lines)
        except Exception as exc:
            src.problem, src.problem_code = f"Word 文档内容无法完整读取（{type(exc).__name__}）", "corrupt"
    src.pages = ["\n".join(lines)]


# --- legacy .doc / rtf ----------------------------------------------------------------------------


def _read_doc(src: Source) -> None:
    exe = shutil.which("catdoc")
    if exe is None:
        src.problem = "附件为旧版 Word（.doc），系统无法读取，请企业另存为 docx 或 PDF 后重发"
        src.problem_code = "doc"
        return
    with tempfile.NamedTemporaryFile(suffix=".doc") as tmp:
        tmp.write(src.data)
        tmp.flush()
        try:
            proc = subprocess.run(
                [exe, "-d", "utf-8", "-w", tmp.name],
                capture_output=True,
                timeout=SUBPROCESS_TIMEOUT,
                check=False,
            )
        except (subprocess.TimeoutExpired, OSError):
            proc = None
    text = proc.stdout.decode("utf-8", "replace") if proc is not None and proc.returncode == 0 else ""
    if not text.strip():
        src.problem = "旧版 Word（.doc）无法读取（可能已加密或损坏），请企业另存为 docx 或 PDF 后重发"
        src.problem_code = "doc"
        return
    src.pages = [text]


def _read_rtf(src: Source) -> None:
    text = rtf_to_text(src.data)
    if not text.strip():
        src.problem, src.problem_code = "RTF 文档无法读取，请企业另存为 docx 或 PDF 后重发", "format"
        return
    src.pages = [text]


_RTF_TOKEN = re.compile(
    rb"\\([a-z]{1,32})(-?\d{1,10})? ?|\\'([0-9a-fA-F]{2})|\\([^a-z])|([{}])|[\r\n]+|([^\\{}\r\n]+)"
)
_RTF_SKIP = {
    b"fonttbl",
    b"colortbl",
    b"stylesheet",
    b"info",
    b"pict",
    b"object",
    b"header",
    b"footer",
    b"themedata",
}


def rtf_to_text(data: bytes) -> str:
    """A small RTF reader: \\'hh bytes in the document code page, \\uN characters, skipped groups."""
    m = re.search(rb"\\ansicpg(\d+)", data[:2000])
    codepage = f"cp{int(m.group(1))}" if m else "cp1252"
    if codepage == "cp936":
        codepage = "gb18030"
    out: list[str] = []
    pending = bytearray()
    stack: list[tuple[bool, int]] = []
    skip = False
    uc = 1
    to_skip = 0

    def flush() -> None:
        if pending:
            try:
                out.append(pending.decode(codepage, "replace"))
            except LookupError:
                out.append(pending.decode("gb18030", "replace"))
            pending.clear()

    for tok in _RTF_TOKEN.finditer(data[: 5 * 1024 * 1024]):
        word, arg, hexbyte, sym, brace, plain = tok.groups()
        if brace == b"{":
            stack.append((skip, uc))
            continue
        if brace == b"}":
            flush()
            skip, uc = stack.pop() if stack else (False, 1)
            continue
        if to_skip and (hexbyte or plain):
            if hexbyte:
                to_skip -= 1
                continue
            cut = min(to_skip, len(plain))
            plain = plain[cut:]
            to_skip -= cut
            if not plain:
                continue
        if skip:
            continue
        if word is not None:
            if word in _RTF_SKIP:
                skip = True
            elif word == b"uc" and arg:
                uc = int(arg)
            elif word == b"u" and arg:
                flush()
                out.append(chr(int(arg) % 65536))
                to_skip = uc
            elif word in (b"par", b"line", b"row"):
                flush()
                out.append("\n")
            elif word in (b"tab", b"cell"):
                flush()
                out.append("\t")
        elif sym is not None:
            if sym == b"*":
                skip = True
            elif sym in (b"\\", b"{", b"}"):
                pending.extend(sym)
        elif hexbyte is not None:
            pending.extend(bytes([int(hexbyte, 16)]))
        elif plain is not None:
            flush()
            out.append(plain.decode("latin-1"))
    flush()
    return "".join(out)


# --- PDF ------------------------------------------------------------------------------------------

MIN_PAGE_CHARS = 15  #: fewer meaningful characters than this: a scanned page, OCR it


def meaningful(text: str) -> int:
    return sum(1 for c in text if c.isalnum())


def _read_pdf(src: Source) -> None:
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


# --- images ---------------------------------------------------------------------------------------


def image_problem(data: bytes) -> str | None:
    """Why an image must not be decoded (decompression bomb, corrupt), from its header only."""
    from PIL import Image

    limit = max_pixels()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return f"图片像素过大（超过 {limit // 1_000_000} 百万像素，疑似解压炸弹），未处理"
    except Exception:
        return "图片已损坏，无法打开"
    if w * h > limit:
        return f"图片像素过大（{w}×{h}），未处理"
    if w < 16 or h < 16:
        return "图片过小，无法识别"
    return None


def _read_image(src: Source) -> None:
    problem = image_problem(src.data)
    if problem is not None:
        src.problem = problem
        src.problem_code = "bomb" if "过大" in problem else "corrupt"
        return
    src.pages = [""]
    src.ocr_pages = [0]
    src.images = [src.data]
    src.image_pages = [0]


# --- OFD ------------------------------------------------------------------------------------------

_OFD_PAGE = re.compile(r"(?:^|/)(Doc_?\d*)/Pages/Page_?(\d+)/Content\.xml$", re.I)
MAX_OFD_XML = 10 * 1024 * 1024


def _xml_parser():
    from lxml import etree

    return etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False, load_dtd=False)


def _read_ofd(src: Source) -> None:
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
