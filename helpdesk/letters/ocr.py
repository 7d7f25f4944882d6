"""OCR of scanned letters: images (JPEG/PNG/TIFF/...) and image-only PDFs.

Public interface::

    available() -> bool
    engine_name() -> str
    ocr_image(data, *, deadline=None) -> OcrResult
    ocr_pdf(data, *, deadline=None, max_pages=10) -> OcrResult

Engines, behind one small internal interface (``_Engine.read(image) -> lines``):

- ``rapidocr``: RapidOCR (PP-OCR models on onnxruntime, the ``[ocr]`` extra), loaded once, lazily,
  and reused; calls are serialised by a lock.
- ``tesseract``: the ``tesseract`` CLI with ``chi_sim``, the fallback when rapidocr is not importable.

``HELPDESK_OCR_ENGINE`` (``auto`` | ``rapidocr`` | ``tesseract`` | ``none``) forces a choice; ``auto``
(the default) takes rapidocr, then tesseract. ``HELPDESK_OCR_THREADS`` sets onnxruntime's threads
(default min(2, cpus)).

Both engines see the page's *red channel* as a grey image: red seal ink is almost white there,
so the seal drops out while black and blue ink stay dark. Big images are reduced to
:data:`helpdesk.letters.raster.MAX_SIDE` pixels first (about 170 dpi for A4).

Results never raise: a file that cannot be read, an engine that is missing, a deadline that
passed all end up in :attr:`OcrResult.error` as a Chinese message for the agent.

Reading order: boxes are de-skewed by their median angle, grouped into lines by their vertical
centre, sorted top to bottom, and left to right within a line; boxes on one line are joined
directly, or with one space when there is a wide gap between them. Lines are joined by ``"\\n"``,
pages by :data:`PAGE_SEPARATOR` (``"\\n\\f\\n"``).
"""

from __future__ import annotations

import contextlib
import io
import logging
import math
import os
import re
import shutil
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from PIL import Image, ImageChops

from . import raster

log = logging.getLogger(__name__)

PAGE_SEPARATOR = "\n\f\n"
MAX_IMAGE_PAGES = 10  # frames of a multi-page TIFF that ocr_image reads
TESSERACT_TIMEOUT = 120.0
DET_MAX_SIDE = 1280  # text detection runs on the page reduced to this (recognition on full size)

ENGINE_ENV = "HELPDESK_OCR_ENGINE"


@dataclass(frozen=True)
class OcrResult:
    """What OCR made of one file.

    ``pages``: text per page read, in reading order, lines joined by ``"\\n"``.
    ``text``: the pages joined by :data:`PAGE_SEPARATOR` (``"\\n\\f\\n"``).
    ``engine``: ``"rapidocr"``, ``"tesseract"`` or ``"none"``.
    ``error``: None, or a Chinese message for the agent (engine missing, unreadable file, timeout
    with how many pages were read, pages left out...). Pages read before a problem are kept.
    ``seconds``: wall time of the call.
    """

    pages: list[str] = field(default_factory=list)
    text: str = ""
    engine: str = "none"
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return self.error is None


# --------------------------------------------------------------------------- engines


class _Engine:
    name = "none"

    def read(self, image: Image.Image, deadline: float | None) -> list[str]:
        raise NotImplementedError


def _grey_for_ocr(image: Image.Image) -> Image.Image:
    """The red channel as a grey image, clearly red pixels set to white: the seal vanishes,
    black and blue text stays (also where it crosses the seal, because red over black is dark)."""
    if image.mode != "RGB":
        return image.convert("L")
    r, g, b = image.split()
    redness = ImageChops.subtract(r, ImageChops.lighter(g, b))  # R - max(G, B), clipped at 0
    # light and clearly red: seal ink; dark pixels (text strokes, also across the seal) are kept
    seal_ink = ImageChops.multiply(
        redness.point(lambda v: 255 if v > 40 else 0), r.point(lambda v: 255 if v > 140 else 0)
    )
    return ImageChops.lighter(r, seal_ink)


@dataclass
class _Box:
    text: str
    cx: float
    cy: float
    x0: float
    x1: float
    h: float


def _order_lines(raw: list[tuple[list[list[float]], str]]) -> list[str]:
    """Boxes (4 corner points clockwise from top-left, text) to lines in reading order."""
    if not raw:
        return []
    angles = []
    for pts, _ in raw:
        (x0, y0), (x1, y1) = pts[0], pts[1]
        h = math.dist(pts[0], pts[3])
        if x1 - x0 > 3 * max(h, 1):
            angles.append(math.atan2(y1 - y0, x1 - x0))
    skew = statistics.median(angles) if angles else 0.0
    if abs(skew) > math.radians(10):
        skew = 0.0
    cos, sin = math.cos(-skew), math.sin(-skew)
    boxes = []
    for pts, text in raw:
        rot = [(x * cos - y * sin, x * sin + y * cos) for x, y in pts]
        xs, ys = [p[0] for p in rot], [p[1] for p in rot]
        h = (math.dist(pts[0], pts[3]) + math.dist(pts[1], pts[2])) / 2
        boxes.append(_Box(text, sum(xs) / 4, sum(ys) / 4, min(xs), max(xs), max(h, 1.0)))
    boxes.sort(key=lambda b: b.cy)
    lines: list[list[_Box]] = []
    for b in boxes:
        if lines:
            line = lines[-1]
            cy = sum(x.cy for x in line) / len(line)
            h = max(max(x.h for x in line), b.h)
            if abs(b.cy - cy) < 0.5 * h:
                line.append(b)
                continue
        lines.append([b])
    out = []
    for line in lines:
        line.sort(key=lambda b: b.x0)
        parts = [line[0].text]
        for prev, cur in zip(line, line[1:], strict=False):
            gap = cur.x0 - prev.x1
            parts.append((" " if gap > 1.5 * max(prev.h, cur.h) else "") + cur.text)
        text = "".join(parts).strip()
        if text:
            out.append(text)
    return out


def _threads() -> int:
    """onnxruntime threads per session: HELPDESK_OCR_THREADS, else min(2, cpus)."""
    try:
        n = int(os.environ.get("HELPDESK_OCR_THREADS", "0"))
    except ValueError:
        n = 0
    return max(1, min(n or 2, os.cpu_count() or 1))


@contextlib.contextmanager
def _no_spinning() -> Iterator[None]:
    """Build RapidOCR's onnxruntime sessions with thread spinning off.

    Spinning worker threads burn the CPU they wait on; on a small box shared with the web process
    (or other workers) that makes OCR several times slower. rapidocr 1.4.4 has no option for it,
    so its session-options factory is wrapped while the sessions are created.
    """
    try:
        from rapidocr_onnxruntime.utils import infer_engine

        cls = infer_engine.OrtInferSession
        orig = cls.__dict__["_init_sess_opts"]
    except (ImportError, AttributeError, KeyError):
        yield
        return

    def opts(config: dict) -> object:
        o = orig.__func__(config)
        o.add_session_config_entry("session.intra_op.allow_spinning", "0")
        o.add_session_config_entry("session.inter_op.allow_spinning", "0")
        return o

    cls._init_sess_opts = staticmethod(opts)
    try:
        yield
    finally:
        cls._init_sess_opts = orig


class _RapidEngine(_Engine):
    name = "rapidocr"

    def __init__(self) -> None:
        from rapidocr_onnxruntime import RapidOCR

        threads = _threads()
        kwargs: dict[str, object] = {"print_verbose": False}
        if threads:
            kwargs["intra_op_num_threads"] = threads
        with _no_spinning():
            self._ocr = RapidOCR(**kwargs)
        self._lock = threading.Lock()

    def read(self, image: Image.Image, deadline: float | None) -> list[str]:
        import numpy as np

        grey = _grey_for_ocr(image)
        full = np.ascontiguousarray(np.repeat(np.asarray(grey)[:, :, None], 3, axis=2))
        with self._lock:
            try:
                boxes = self._detect_reduced(grey, full)
            except AttributeError:  # rapidocr internals changed: use its one-call API
                result, _ = self._ocr(full)
                boxes = [(box, text) for box, text, _score in result or []]
        return _order_lines([([list(map(float, p)) for p in box], str(text)) for box, text in boxes])

    def _detect_reduced(self, grey: Image.Image, full: object) -> list[tuple[list, str]]:
        """Text detection on the page reduced to DET_MAX_SIDE, recognition on full-size crops.

        rapidocr runs detection at (nearly) full size whatever its limit options say; detection
        on ~1280 px is as good for a letter page and costs half as much. Its steps are called
        one by one (rapidocr 1.4.4 API: text_det / get_crop_img_list / text_cls / text_rec).
        """
        import numpy as np

        o = self._ocr
        w, h = grey.size
        scale = min(1.0, DET_MAX_SIDE / max(w, h))
        if scale >= 1.0 or min(w, h) < 200 or max(w, h) > 8 * min(w, h):
            result, _ = o(full)
            return [(box, text) for box, text, _score in result or []]
        small = grey.resize((round(w * scale), round(h * scale)), Image.Resampling.BOX)
        det_in = np.ascontiguousarray(np.repeat(np.asarray(small)[:, :, None], 3, axis=2))
        dt_boxes, _ = o.auto_text_det(det_in)
        if dt_boxes is None or len(dt_boxes) == 0:
            return []
        boxes = [
            np.clip(np.asarray(b, dtype=np.float32) / scale, 0, [w - 1, h - 1]).astype(np.float32)
            for b in dt_boxes
        ]
        crops = o.get_crop_img_list(full, boxes)
        if o.use_cls:
            crops, _, _ = o.text_cls(crops)
        rec, _ = o.text_rec(crops, False)
        return [
            (box.tolist(), res[0])
            for box, res in zip(boxes, rec, strict=False)
            if float(res[1]) >= o.text_score and res[0]
        ]


_CJK = r"\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uff00-\uffef"
_CJK_SPACE = re.compile(
    rf"(?<=[{_CJK}]) +(?=[{_CJK}])|(?<=[{_CJK}]) +(?=[A-Za-z0-9])|(?<=[A-Za-z0-9]) +(?=[{_CJK}])"
)


class _TesseractEngine(_Engine):
    name = "tesseract"

    def __init__(self) -> None:
        exe = shutil.which("tesseract")
        if not exe:
            raise RuntimeError("tesseract not installed")
        langs = subprocess.run([exe, "--list-langs"], capture_output=True, timeout=30, check=False)
        if "chi_sim" not in (langs.stdout + langs.stderr).decode("utf-8", "replace").split():
            raise RuntimeError("tesseract has no chi_sim language data")
        self._exe = exe

    def read(self, image: Image.Image, deadline: float | None) -> list[str]:
        grey = _grey_for_ocr(image)
        buf = io.BytesIO()
        grey.save(buf, "PNG", compress_level=1)
        dpi = max(70, min(600, round(max(grey.size) / 11.69)))  # assume an A4 page
        timeout = TESSERACT_TIMEOUT
        if deadline is not None:
            timeout = max(5.0, min(timeout, deadline - time.monotonic() + 30.0))
        env = dict(os.environ, OMP_THREAD_LIMIT="1")
        proc = subprocess.run(
            [self._exe, "stdin", "stdout", "-l", "chi_sim", "--psm", "3", "--dpi", str(dpi)],
            input=buf.getvalue(),
            capture_output=True,
            timeout=timeout,
            check=False,
            env=env,
        )
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr.decode("utf-8", "replace").strip()[-200:] or "tesseract failed")
        lines = []
        for line in proc.stdout.decode("utf-8", "replace").splitlines():
            line = _CJK_SPACE.sub("", line).strip()
            if line:
                lines.append(line)
        return lines


_ENGINES: dict[str, type[_Engine]] = {"rapidocr": _RapidEngine, "tesseract": _TesseractEngine}
_state_lock = threading.Lock()
_engine_cache: dict[str, _Engine | None] = {}
_engine_errors: dict[str, str] = {}


def _load(name: str) -> _Engine | None:
    """The engine called ``name``, loaded once; None (and a cached reason) when it cannot work."""
    with _state_lock:
        if name not in _engine_cache:
            try:
                _engine_cache[name] = _ENGINES[name]()
            except Exception as exc:  # noqa: BLE001 - ImportError, onnxruntime errors, missing binary...
                log.info("OCR engine %s unavailable: %s", name, exc)
                _engine_cache[name] = None
                _engine_errors[name] = str(exc)
        return _engine_cache[name]


def _engine() -> _Engine | None:
    choice = os.environ.get(ENGINE_ENV, "auto").strip().lower() or "auto"
    if choice == "none":
        return None
    if choice in _ENGINES:
        return _load(choice)
    for name in ("rapidocr", "tesseract"):
        engine = _load(name)
        if engine is not None:
            return engine
    return None


def available() -> bool:
    """True when an OCR engine is importable and loads (cached after the first call)."""
    return _engine() is not None


def engine_name() -> str:
    """``"rapidocr"``, ``"tesseract"``, or ``"none"`` when OCR is unavailable."""
    engine = _engine()
    return engine.name if engine is not None else "none"


# --------------------------------------------------------------------------- running


_UNAVAILABLE = "OCR 不可用：未安装识别引擎（rapidocr-onnxruntime 或 tesseract chi_sim）"


def _passed(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline


def _result(pages: list[str], engine: str, errors: list[str], start: float) -> OcrResult:
    if pages and not errors and not any(p.strip() for p in pages):
        errors.append("OCR 未识别到任何文字")
    return OcrResult(
        pages=list(pages),
        text=PAGE_SEPARATOR.join(pages),
        engine=engine,
        error="；".join(errors) if errors else None,
        seconds=round(time.monotonic() - start, 3),
    )


def _timeout_message(done: int, total: int) -> str:
    if done == 0:
        return "OCR 超时：未能识别任何页面"
    return f"OCR 超时：仅识别了前 {done} 页（共 {total} 页）"


def _read_page(
    engine: _Engine, frame: raster.Frame, index: int, deadline: float | None
) -> tuple[str, str | None]:
    try:
        return "\n".join(engine.read(frame.image, deadline)), None
    except subprocess.TimeoutExpired:
        return "", f"第 {index + 1} 页 OCR 超时"
    except Exception as exc:  # noqa: BLE001 - an engine failure on one page must not lose the others
        log.warning("OCR failed on page %d", index + 1, exc_info=True)
        return "", f"第 {index + 1} 页 OCR 失败：{exc}"


def ocr_image(data: bytes, *, deadline: float | None = None) -> OcrResult:
    """OCR an image file (every frame of a multi-page TIFF, up to 10). PDF bytes go to :func:`ocr_pdf`.

    ``deadline`` is a ``time.monotonic()`` value: no page is started after it.
    """
    if raster.is_pdf(data):
        return ocr_pdf(data, deadline=deadline)
    start = time.monotonic()
    engine = _engine()
    if engine is None:
        return _result([], "none", [_UNAVAILABLE], start)
    try:
        im = raster.open_image(data)
    except raster.RasterError as exc:
        return _result([], engine.name, [f"OCR 失败：{exc}"], start)
    total = max(1, getattr(im, "n_frames", 1))
    pages: list[str] = []
    errors: list[str] = []
    for i in range(min(total, MAX_IMAGE_PAGES)):
        if _passed(deadline):
            errors.insert(0, _timeout_message(len(pages), total))
            break
        try:
            if i:
                im.seek(i)
            frame = raster.prepare(im)
        except EOFError:
            total = i
            break
        except raster.RasterError as exc:
            if total == 1:
                return _result([], engine.name, [f"OCR 失败：{exc}"], start)
            pages.append("")
            errors.append(f"第 {i + 1} 页：{exc}")
            continue
        text, err = _read_page(engine, frame, i, deadline)
        pages.append(text)
        if err:
            errors.append(err)
    else:
        if total > MAX_IMAGE_PAGES:
            errors.append(f"图像共 {total} 页，仅识别了前 {MAX_IMAGE_PAGES} 页")
    return _result(pages, engine.name, errors, start)


def ocr_pdf(data: bytes, *, deadline: float | None = None, max_pages: int = 10) -> OcrResult:
    """OCR the first ``max_pages`` pages of a PDF (meant for image-only PDFs: scans).

    A page that is one embedded JPEG is read from that JPEG; other pages are rendered by
    ``pdftoppm -jpeg``. ``deadline`` is a ``time.monotonic()`` value: no page is started after it.
    """
    start = time.monotonic()
    engine = _engine()
    if engine is None:
        return _result([], "none", [_UNAVAILABLE], start)
    try:
        pdf = raster.PdfPages(data)
    except raster.RasterError as exc:
        return _result([], engine.name, [f"OCR 失败：{exc}"], start)
    pages: list[str] = []
    errors: list[str] = []
    with pdf:
        limit = min(pdf.count, max(0, max_pages))
        for i in range(limit):
            if _passed(deadline):
                errors.insert(0, _timeout_message(len(pages), pdf.count))
                break
            try:
                frame = pdf.page(i, deadline=deadline)
            except raster.RasterError as exc:
                pages.append("")
                errors.append(f"第 {i + 1} 页：{exc}")
                continue
            text, err = _read_page(engine, frame, i, deadline)
            pages.append(text)
            if err:
                errors.append(err)
        else:
            if pdf.count > limit:
                errors.append(f"PDF 共 {pdf.count} 页，仅识别了前 {limit} 页")
    return _result(pages, engine.name, errors, start)


__all__ = ["PAGE_SEPARATOR", "OcrResult", "available", "engine_name", "ocr_image", "ocr_pdf"]
