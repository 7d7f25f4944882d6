"""Page images from image files and image-only PDFs, safely.

- Every decode goes through Pillow's decompression-bomb guard: ``Image.MAX_IMAGE_PIXELS`` is set
  explicitly to :data:`MAX_IMAGE_PIXELS` and the bomb *warning* is raised as an error too, so an image
  larger than that is refused before its pixels are allocated.
- Big scans are decoded reduced (JPEG draft mode) and downscaled to at most :data:`MAX_SIDE` pixels,
  about 170 dpi for A4, which is what OCR needs.
- From a PDF the page's single embedded JPEG (or JPEG 2000) is taken as it is (what
  ``pdfimages -j`` would write); any other page (several images, text, vector graphics, CCITT or
  JBIG2 images) is rendered with ``pdftoppm -jpeg`` at a resolution that keeps the page within
  :data:`MAX_SIDE`. Subprocesses have timeouts.

Failures raise :class:`RasterError` with a Chinese message meant for the agent.
"""

from __future__ import annotations

import io
import math
import os
import re
import shutil
import subprocess
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

from PIL import Image, ImageChops, ImageOps, UnidentifiedImageError

MAX_IMAGE_PIXELS = 60_000_000  # A4 at 600 dpi is 35 Mpx; larger is refused as a possible bomb
MAX_SIDE = 2000  # longest side of the image handed to OCR (A4: ~170 dpi)
SUBPROCESS_TIMEOUT = 60.0
RENDER_DPI = 150
# Area averaging when a page is reduced: what text wants (no ringing), and a quarter of LANCZOS's
# cost on an A4 scan at 300 dpi (0.04 s instead of 0.15 s of CPU; bench/ocr.py).
REDUCE_FILTER = Image.Resampling.BOX

Image.MAX_IMAGE_PIXELS = MAX_IMAGE_PIXELS


class RasterError(Exception):
    """A file or page that cannot be turned into an image; ``str(exc)`` is Chinese for the agent."""


def is_pdf(data: bytes) -> bool:
    return b"%PDF-" in data[:1024]


@dataclass
class Frame:
    """One page image. ``colour`` is False for greyscale / black-and-white sources."""

    image: Image.Image  # RGB, longest side <= the requested max_side
    colour: bool
    source_size: tuple[int, int]  # pixel size of the (EXIF-oriented) source before any reduction


# --------------------------------------------------------------------------- images


def _check_size(size: tuple[int, int]) -> None:
    w, h = size
    if w <= 0 or h <= 0:
        raise RasterError("图像尺寸无效")
    if w * h > MAX_IMAGE_PIXELS:
        raise RasterError(f"图像过大（{w}×{h} 像素），已拒绝处理，疑似解压炸弹")


def open_image(data: bytes) -> Image.Image:
    """``Image.open`` with the bomb guard; pixels are not decoded yet."""
    if not data:
        raise RasterError("文件为空")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise RasterError("图像过大，已拒绝处理，疑似解压炸弹") from exc
    except UnidentifiedImageError as exc:
        raise RasterError("无法识别的图像格式") from exc
    except (OSError, ValueError, SyntaxError) as exc:
        raise RasterError(f"图像无法读取：{exc}") from exc
    _check_size(im.size)
    return im


def _to_8bit(im: Image.Image) -> Image.Image:
    if im.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        im = im.convert("I") if im.mode.startswith("I;16") else im
        lo, hi = im.getextrema()
        if hi > 255:
            im = im.point(lambda v: v * (255.0 / hi))
        return im.convert("L")
    return im


def _flatten(im: Image.Image) -> Image.Image:
    """Any mode to "RGB" or "L", transparency composited onto white."""
    im = _to_8bit(im)
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        im = im.convert("RGBA")
        bg = Image.new("RGBA", im.size, (255, 255, 255, 255))
        bg.alpha_composite(im)
        return bg.convert("RGB")
    if im.mode == "1":
        return im.convert("L")
    if im.mode in ("L", "RGB"):
        return im
    return im.convert("RGB")


def _is_colour(im: Image.Image) -> bool:
    """False when the pixels carry no colour, even if stored as RGB (a greyscale scan saved as colour)."""
    if im.mode != "RGB":
        return False
    small = im.copy()
    small.thumbnail((400, 400))
    r, g, b = small.split()
    spread = ImageChops.subtract(
        ImageChops.lighter(ImageChops.lighter(r, g), b), ImageChops.darker(ImageChops.darker(r, g), b)
    )
    hist = spread.histogram()
    total = sum(hist)
    coloured = sum(hist[24:])  # pixels whose channels differ by 24+ levels
    tinted = sum(hist[6:])
    # a colour scan of a clean white page still has some chroma (sensor noise at the ink's
    # edges); a greyscale page stored as RGB has none at all (every pixel R = G = B, +-1 in JPEG)
    faint = sum(hist[2:])
    return coloured >= max(3, total * 0.0005) or tinted >= total * 0.5 or faint >= total * 0.0005


def prepare(im: Image.Image, *, max_side: int = MAX_SIDE, exif: bool = True) -> Frame:
    """Decode the current frame (reduced when big), apply EXIF orientation, flatten, downscale."""
    _check_size(im.size)
    source_size = im.size
    if exif and im.getexif().get(0x0112) in (5, 6, 7, 8):  # EXIF orientations that swap the axes
        source_size = (im.height, im.width)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            if im.format == "JPEG" and max(im.size) > max_side:
                scale = max(im.size) / max_side
                im.draft(
                    im.mode if im.mode in ("L", "RGB") else "RGB",
                    (math.ceil(im.width / scale), math.ceil(im.height / scale)),
                )
            im.load()
            if exif:
                im = ImageOps.exif_transpose(im) or im
            im = _flatten(im)
            if max(im.size) > max_side:
                im.thumbnail((max_side, max_side), REDUCE_FILTER, reducing_gap=2.0)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise RasterError("图像过大，已拒绝处理，疑似解压炸弹") from exc
    except (OSError, ValueError, SyntaxError, EOFError) as exc:
        raise RasterError(f"图像已损坏或不完整：{exc}") from exc
    except MemoryError as exc:
        raise RasterError("图像过大，内存不足") from exc
    colour = _is_colour(im)
    return Frame(im.convert("RGB") if im.mode != "RGB" else im, colour, source_size)


def image_frames(data: bytes, *, max_frames: int = 10, max_side: int = MAX_SIDE) -> tuple[list[Frame], int]:
    """The frames (pages) of an image file, at most ``max_frames``; returns (frames, total frames).

    Multi-page TIFFs are common from office scanners: each frame is a page.
    """
    im = open_image(data)
    total = max(1, getattr(im, "n_frames", 1))
    frames = []
    for i in range(min(total, max_frames)):
        if i:
            try:
                im.seek(i)
            except EOFError:
                total = i
                break
        frames.append(prepare(im, max_side=max_side))
    return frames, total


# --------------------------------------------------------------------------- PDF


def _remaining(deadline: float | None, cap: float = SUBPROCESS_TIMEOUT) -> float:
    if deadline is None:
        return cap
    return max(1.0, min(cap, deadline - time.monotonic()))


class PdfPages:
    """Page images of a PDF. Use as a context manager (it may keep a temporary file for poppler)."""

    def __init__(self, data: bytes):
        if not is_pdf(data):
            raise RasterError("不是有效的 PDF 文件")
        self._data = data
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._reader = None
        self.count = 0
        self._sizes: dict[int, tuple[float, float]] = {}
        try:
            from pypdf import PdfReader

            reader = PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted and not reader.decrypt(""):
                raise ValueError("encrypted")
            self.count = len(reader.pages)
            self._reader = reader
        except Exception:  # noqa: BLE001 - pypdf raises many kinds; poppler gets a second chance
            self._reader = None
            self.count = self._poppler_count()
        if self.count <= 0:
            raise RasterError("PDF 文件中没有页面")

    def __enter__(self) -> PdfPages:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    # -- poppler

    def _path(self) -> str:
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="helpdesk-pdf-")
            with open(os.path.join(self._tmp.name, "in.pdf"), "wb") as fh:
                fh.write(self._data)
        return os.path.join(self._tmp.name, "in.pdf")

    def _poppler_count(self) -> int:
        if not shutil.which("pdfinfo"):
            raise RasterError("PDF 无法解析（且未安装 poppler-utils）")
        try:
            out = subprocess.run(
                ["pdfinfo", self._path()], capture_output=True, timeout=SUBPROCESS_TIMEOUT, check=False
            ).stdout.decode("utf-8", "replace")
        except subprocess.TimeoutExpired as exc:
            raise RasterError("PDF 解析超时") from exc
        m = re.search(r"^Pages:\s+(\d+)", out, re.M)
        if not m:
            raise RasterError("PDF 文件已损坏或加密，无法解析")
        return int(m.group(1))

    def _render(self, index: int, deadline: float | None, max_side: int) -> Image.Image:
        if not shutil.which("pdftoppm"):
            raise RasterError(f"第 {index + 1} 页需要渲染，但未安装 poppler-utils（pdftoppm）")
        dpi = RENDER_DPI
        size = self._sizes.get(index)
        if size and max(size) > 0:
            dpi = max(20, min(RENDER_DPI, int(max_side * 72 / max(size))))
        out = os.path.join(os.path.dirname(self._path()), f"page{index + 1}")
        cmd = ["pdftoppm", "-jpeg", "-r", str(dpi), "-f", str(index + 1), "-l", str(index + 1), "-singlefile"]
        if not size:  # unknown page size: let poppler bound the longest side
            cmd = [
                "pdftoppm",
                "-jpeg",
                "-scale-to",
                str(max_side),
                "-f",
                str(index + 1),
                "-l",
                str(index + 1),
                "-singlefile",
            ]
        try:
            proc = subprocess.run(
                [*cmd, self._path(), out], capture_output=True, timeout=_remaining(deadline), check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise RasterError(f"第 {index + 1} 页渲染超时") from exc
        if proc.returncode != 0 or not os.path.exists(out + ".jpg"):
            raise RasterError(f"第 {index + 1} 页无法渲染")
        with open(out + ".jpg", "rb") as fh:
            data = fh.read()
        os.unlink(out + ".jpg")
        return open_image(data)

    # -- pypdf

    def _embedded(self, index: int) -> tuple[Image.Image, int] | None:
        """The page's single embedded JPEG/JPEG 2000 and the page's /Rotate, or None to render."""
        if self._reader is None:
            return None
        page = self._reader.pages[index]
        box = page.mediabox
        rotate = int(page.get("/Rotate", 0) or 0) % 360
        self._sizes[index] = (float(box.width), float(box.height))
        contents = page.get_contents()
        if contents is not None and re.search(rb"\bBT\b", contents.get_data()):
            return None  # a text layer or drawn text: render the whole page
        resources = page.get("/Resources")
        resources = resources.get_object() if resources is not None else {}
        xobjects = resources.get("/XObject")
        if xobjects is None:
            return None
        xobjects = xobjects.get_object()
        images = []
        for ref in xobjects.values():
            obj = ref.get_object()
            subtype = obj.get("/Subtype")
            if subtype == "/Form":
                return None
            if subtype == "/Image":
                images.append(obj)
        if len(images) != 1:
            return None
        obj = images[0]
        width, height = int(obj.get("/Width", 0)), int(obj.get("/Height", 0))
        _check_size((width, height))
        filters = obj.get("/Filter")
        filters = [filters] if isinstance(filters, str) else list(filters or [])
        if not filters or filters[-1] not in ("/DCTDecode", "/JPXDecode") or "/SMask" in obj:
            return None
        return open_image(obj.get_data()), rotate

    def page(self, index: int, *, deadline: float | None = None, max_side: int = MAX_SIDE) -> Frame:
        """Page ``index`` (0-based) as a prepared frame; raises :class:`RasterError`."""
        try:
            embedded = self._embedded(index)
        except RasterError:
            raise
        except Exception:  # noqa: BLE001 - odd PDF structure: let poppler render it
            embedded = None
        if embedded is None:
            return prepare(self._render(index, deadline, max_side), max_side=max_side, exif=False)
        im, rotate = embedded
        frame = prepare(im, max_side=max_side, exif=False)  # viewers ignore EXIF inside a PDF
        if rotate:
            frame.image = frame.image.rotate(-rotate, expand=True)
            if rotate in (90, 270):
                frame.source_size = (frame.source_size[1], frame.source_size[0])
        return frame

    def pages(
        self, *, max_pages: int = 10, deadline: float | None = None
    ) -> Iterator[tuple[int, Frame | RasterError]]:
        for i in range(min(self.count, max_pages)):
            try:
                yield i, self.page(i, deadline=deadline)
            except RasterError as exc:
                yield i, exc


def load_frames(data: bytes, *, max_pages: int = 10, max_side: int = MAX_SIDE) -> tuple[list[Frame], int]:
    """Page images of an image file or a PDF (first ``max_pages``); returns (frames, total pages)."""
    if is_pdf(data):
        with PdfPages(data) as pdf:
            frames = []
            for _, frame in pdf.pages(max_pages=max_pages):
                if isinstance(frame, Frame):
                    frames.append(frame)
            return frames, pdf.count
    return image_frames(data, max_frames=max_pages, max_side=max_side)


__all__ = [
    "MAX_IMAGE_PIXELS",
    "MAX_SIDE",
    "Frame",
    "PdfPages",
    "RasterError",
    "image_frames",
    "is_pdf",
    "load_frames",
    "open_image",
    "prepare",
]
