"""File type by magic bytes; the sender's file name and declared type are never trusted."""

from __future__ import annotations

import io
import zipfile

IMAGE_KINDS = frozenset({"jpg", "png", "tif", "bmp", "gif", "webp"})
#: kinds whose text we can read (directly or by OCR)
READABLE_KINDS = frozenset({"docx", "pdf", "ofd", "doc", "text", "zip"}) | IMAGE_KINDS

KIND_LABELS = {
    "docx": "Word 文档（docx）",
    "doc": "旧版 Word 文档（doc）",
    "xlsx": "Excel 表格",
    "xls": "旧版 Excel 表格",
    "pptx": "PowerPoint 文档",
    "ole": "Office 旧格式文件",
    "ofd": "OFD 版式文件",
    "pdf": "PDF",
    "zip": "ZIP 压缩包",
    "rar": "RAR 压缩包",
    "7z": "7z 压缩包",
    "jpg": "JPEG 图片",
    "png": "PNG 图片",
    "tif": "TIFF 图片",
    "bmp": "BMP 图片",
    "gif": "GIF 图片",
    "webp": "WebP 图片",
    "rtf": "RTF 文档",
    "html": "网页文件",
    "text": "纯文本",
    "exe": "可执行程序",
    "empty": "空文件",
    "unknown": "无法识别的文件",
}


def sniff(data: bytes) -> str:
    """One of: docx xlsx pptx ofd zip rar 7z pdf jpg png tif bmp gif webp doc xls ole rtf html text exe
    empty unknown."""
    if not data:
        return "empty"
    head = data[:16]
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08")):
        return _sniff_zip(data)
    if b"%PDF-" in data[:1024]:
        return "pdf"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith((b"II*\x00", b"MM\x00*")):
        return "tif"
    if head.startswith(b"BM") and len(data) > 26:
        return "bmp"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if head[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if head.startswith(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"):
        return _sniff_ole(data)
    if head.startswith(b"Rar!\x1a\x07"):
        return "rar"
    if head.startswith(b"7z\xbc\xaf\x27\x1c"):
        return "7z"
    if head.startswith((b"MZ", b"\x7fELF", b"\xcf\xfa\xed\xfe", b"\xfe\xed\xfa")):
        return "exe"
    if head.startswith(b"{\\rtf"):
        return "rtf"
    start = data[:2048].lstrip().lower()
    if start.startswith((b"<!doctype html", b"<html")) or b"<html" in start[:512]:
        return "html"
    if _looks_like_text(data[:4096]):
        return "text"
    return "unknown"


def _sniff_zip(data: bytes) -> str:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = set(z.namelist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError, NotImplementedError):
        return "zip"
    if "word/document.xml" in names:
        return "docx"
    if "xl/workbook.xml" in names:
        return "xlsx"
    if "ppt/presentation.xml" in names:
        return "pptx"
    if "OFD.xml" in names or any(n.lower().endswith("/ofd.xml") for n in names if n.count("/") <= 1):
        return "ofd"
    return "zip"


def _sniff_ole(data: bytes) -> str:
    # directory entries hold stream names in UTF-16LE; look for the well-known ones
    probe = data[: 1 << 20]
    if "WordDocument".encode("utf-16-le") in probe:
        return "doc"
    if "Workbook".encode("utf-16-le") in probe or "Book".encode("utf-16-le") in probe:
        return "xls"
    return "ole"


def _looks_like_text(sample: bytes) -> bool:
    if b"\x00" in sample:
        return False
    for enc in ("utf-8", "gb18030"):
        try:
            text = sample.decode(enc)
        except UnicodeDecodeError:
            # a multi-byte character cut at the end of the sample is fine
            try:
                text = sample[:-3].decode(enc)
            except UnicodeDecodeError:
                continue
        if not text:
            return False
        printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
        return printable / len(text) > 0.95
    return False
