"""Text out of attachments, with caps: the dispatch by kind, limits, zip containers, images, text.

Office documents are read in `office.py`, PDF and OFD in `pdf.py`.

Nothing here raises: every extractor catches what the file can throw at it and records a
`problem` (Chinese, for the agent) and a `problem_code` on the returned `Source`. OCR and seal
detection are not run here; `reader.py` does that, on the sources that need it.
"""

from __future__ import annotations

import io
import os
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
    # the readers import Source and the guards from this module: imported when first needed
    from .office import read_doc, read_docx, read_rtf
    from .pdf import read_ofd, read_pdf

    kind = src.kind
    if kind == "docx":
        read_docx(src)
    elif kind == "pdf":
        read_pdf(src)
    elif kind == "ofd":
        read_ofd(src)
    elif kind == "doc":
        read_doc(src)
    elif kind in IMAGE_KINDS:
        _read_image(src)
    elif kind == "text":
        src.pages = [decode_text(src.data, errors="replace")[0]]
    elif kind == "html":
        src.pages = [html_to_text(decode_text(src.data, errors="replace")[0])]
    elif kind == "rtf":
        read_rtf(src)
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
