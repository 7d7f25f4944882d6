"""Text out of office documents: .docx (paragraphs, tables, text boxes), legacy .doc, RTF.

Called by `sources.py` for an attachment sniffed as one of them; the same rules hold: nothing
raises, a file that cannot be read (fully) gets a `problem` on its `Source`.
"""

from __future__ import annotations

import posixpath
import re
import shutil
import subprocess
import tempfile
import zipfile

from .sniff import IMAGE_KINDS, sniff
from .sources import (
    MAX_IMAGE_BYTES,
    MAX_SEAL_IMAGES,
    SUBPROCESS_TIMEOUT,
    Source,
    image_problem,
    zip_guard,
)

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


def read_docx(src: Source) -> None:
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


def read_doc(src: Source) -> None:
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


def read_rtf(src: Source) -> None:
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
