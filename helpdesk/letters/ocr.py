"""OCR of scanned letters: images (JPEG/PNG/TIFF/...) and image-only PDFs.

Public interface::

    available() -> bool
    engine_name() -> str
    ocr_image(data, *, deadline=None) -> OcrResult
    ocr_pdf(data, *, deadline=None, max_pages=10) -> OcrResult
    cores() -> int                    (the CPUs this process may run on)
    set_default_threads(n)            (an OCR worker's share of the cores, before its engine loads)
    normalise_dates(line) -> str      (applied to every OCR'd line already)
    drop_seal_residue(lines) -> lines (applied to every OCR'd page already)

Engines, behind one small internal interface (``_Engine.read(image) -> lines``):

- ``rapidocr``: RapidOCR (PP-OCR models on onnxruntime, the ``[ocr]`` extra), loaded once per
  process, lazily, and reused (a worker process keeps it warm); calls are serialised by a lock.
  Its steps are called one by one: the glyph height and the text area are read from the page
  (connected components, a few ms); detection runs on the text area only, reduced so that body
  glyphs are :data:`DET_GLYPH_PX` tall (not a fixed page size: 10.5 pt text on a 600 dpi scan
  stays as large as the detector needs); the angle classifier votes once for the page (upside
  down or not) instead of turning single lines over, which lost lines; recognition reads the
  full-size line crops in batches of lines of about the same length, several batches at once on
  the engine's threads (onnxruntime runs one line crop on one thread: recognition, about three
  quarters of a page's time, would otherwise leave the second core idle).
- ``tesseract``: the ``tesseract`` CLI with ``chi_sim``, the fallback when rapidocr is not importable.

``HELPDESK_OCR_ENGINE`` (``auto`` | ``rapidocr`` | ``tesseract`` | ``none``) forces a choice; ``auto``
(the default) takes rapidocr, then tesseract. ``HELPDESK_OCR_THREADS`` sets onnxruntime's threads
per session and the engine's recognition threads (default: :func:`set_default_threads`'s value,
which the OCR sandbox's workers set to cores / workers, else the cores this process may run on, at
most :data:`MAX_THREADS`).

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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageChops

from . import raster

log = logging.getLogger(__name__)

PAGE_SEPARATOR = "\n\f\n"
MAX_IMAGE_PAGES = 10  # frames of a multi-page TIFF that ocr_image reads
TESSERACT_TIMEOUT = 120.0
# Text detection runs on the text area of the page, reduced so that body glyphs are DET_GLYPH_PX
# tall (recognition always reads the full-size page). See bench/ocr.py and tests/letters/test_ocr.py.
DET_GLYPH_PX = 20
DET_MIN_SIDE = 960  # never reduce the page's long side below this for detection
DET_FALLBACK_SIDE = 1600  # the page's long side for detection when the text size is unknown
REC_BATCH = 8  # lines recognised in one call at most
REC_WIDTH_TOLERANCE = 1.1  # lines batched together differ in length by at most 10 %
ORIENTATION_SAMPLE = 8  # lines the angle classifier looks at to decide whether the page is upside down
TEXT_MIN_GLYPHS = 20  # fewer character-like components than this: no text size estimate

ENGINE_ENV = "HELPDESK_OCR_ENGINE"
MAX_THREADS = 4


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


def cores() -> int:
    """The CPUs this process may run on (its affinity mask: a container's or taskset's share)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


_default_threads: int | None = None


def set_default_threads(n: int) -> None:
    """The threads an engine loaded later in this process uses when HELPDESK_OCR_THREADS is unset
    (an OCR worker of a pool gets cores / workers). An engine already loaded keeps its own."""
    global _default_threads
    _default_threads = max(1, int(n))


def _threads() -> int:
    """onnxruntime threads per session, also the engine's recognition threads:
    HELPDESK_OCR_THREADS, else :func:`set_default_threads`'s value, else the cores this process
    may use (at most MAX_THREADS: beyond that the small models gain nothing)."""
    try:
        n = int(os.environ.get("HELPDESK_OCR_THREADS", "0"))
    except ValueError:
        n = 0
    return max(1, min(n or _default_threads or MAX_THREADS, cores()))


@contextlib.contextmanager
def _no_spinning() -> Iterator[None]:
    """Build RapidOCR's onnxruntime sessions with thread spinning off, one inter-op thread, and
    the memory arena on.

    Spinning worker threads burn the CPU they wait on; on a small box shared with the web process
    (or other workers) that makes OCR several times slower. The arena (rapidocr turns it off)
    keeps the buffers between pages of a warm engine: about 10 % less CPU per page. rapidocr 1.4.4
    has no option for these, so its session-options factory is wrapped while the sessions are created.
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
        o.inter_op_num_threads = 1
        o.enable_cpu_mem_arena = True
        return o

    cls._init_sess_opts = staticmethod(opts)
    try:
        yield
    finally:
        cls._init_sess_opts = orig


def _page_text(grey: np.ndarray) -> tuple[float | None, tuple[int, int, int, int]]:
    """The body text's glyph height in pixels (None when the page shows too few characters) and
    the box (x0, y0, x1, y1) around all text, with a margin; the whole page when unsure.

    Read from the connected components of the page binarised against its local mean (half size),
    so uneven light, grey toner and a removed seal do not matter. A CJK glyph is mostly one
    component as tall as the glyph; radicals and punctuation are smaller, so the 80th percentile of
    the heights is the glyph height. Lines merged by tight spacing do not change it (a projection
    profile would).
    """
    import cv2

    h, w = grey.shape
    f = 2 if min(h, w) >= 800 else 1
    small = cv2.resize(grey, (w // f, h // f), interpolation=cv2.INTER_AREA) if f > 1 else grey
    ink = cv2.adaptiveThreshold(small, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, 31, 25)
    _, _, stats, _ = cv2.connectedComponentsWithStats(ink, connectivity=8)
    sw, sh = stats[1:, cv2.CC_STAT_WIDTH], stats[1:, cv2.CC_STAT_HEIGHT]
    glyphs = stats[1:][(sh >= 3) & (sh <= small.shape[0] // 12) & (sw <= 3 * sh + 2) & (sw >= 2)]
    whole = (0, 0, w, h)
    if len(glyphs) < TEXT_MIN_GLYPHS:
        return None, whole
    glyph = float(np.percentile(glyphs[:, cv2.CC_STAT_HEIGHT], 80))
    # the text box: every component at least half a glyph tall (specks and dust are smaller)
    text = glyphs[glyphs[:, cv2.CC_STAT_HEIGHT] >= 0.5 * glyph]
    margin = 3 * glyph
    x0 = max(0, int((text[:, cv2.CC_STAT_LEFT].min() - margin) * f))
    y0 = max(0, int((text[:, cv2.CC_STAT_TOP].min() - margin) * f))
    x1 = min(w, int((text[:, cv2.CC_STAT_LEFT] + text[:, cv2.CC_STAT_WIDTH]).max() * f + margin * f))
    y1 = min(h, int((text[:, cv2.CC_STAT_TOP] + text[:, cv2.CC_STAT_HEIGHT]).max() * f + margin * f))
    return glyph * f, (x0, y0, x1, y1)


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
        # recognition calls run side by side on the session, one thread per core it may use
        self._rec_threads = threads
        self._pool = ThreadPoolExecutor(threads, thread_name_prefix="ocr-rec") if threads > 1 else None

    def read(self, image: Image.Image, deadline: float | None) -> list[str]:
        grey = np.asarray(_grey_for_ocr(image))
        with self._lock:
            try:
                boxes = self._read_steps(grey)
            except AttributeError:  # rapidocr internals changed: use its one-call API
                result, _ = self._ocr(_rgb(grey))
                boxes = [(box, text) for box, text, _score in result or []]
        return _order_lines([([list(map(float, p)) for p in box], str(text)) for box, text in boxes])

    def _read_steps(self, grey: np.ndarray) -> list[tuple[list, str]]:
        """Detection on the text area at a size chosen from the text, one orientation for the
        page, recognition of full-size line crops (rapidocr 1.4.4 steps: text_det,
        get_crop_img_list, text_cls, text_rec)."""
        o = self._ocr
        boxes = self._detect(grey)
        if not boxes:
            return []
        h, w = grey.shape
        full = _rgb(grey)
        if _upside_down(o, o.get_crop_img_list(full, boxes)):
            # turn the page, not single lines: the angle classifier is wrong on some lines
            # (tight spacing lets the crop take in strokes of the neighbours) and a line it turns
            # over comes back empty, i.e. lost
            full = np.ascontiguousarray(full[::-1, ::-1])
            boxes = [
                np.ascontiguousarray((np.array([w - 1, h - 1], dtype=np.float32) - b)[[2, 3, 0, 1]])
                for b in boxes
            ]
        crops = o.get_crop_img_list(full, boxes)
        rec = _recognise(o, crops, self._pool, self._rec_threads)
        return [
            (box.tolist(), res[0])
            for box, res in zip(boxes, rec, strict=True)
            if float(res[1]) >= o.text_score and res[0]
        ]

    def _detect(self, grey: np.ndarray) -> list[np.ndarray]:
        """Text boxes (4 points, full-size page coordinates) from the detector run on the text
        area of the page, scaled so that body glyphs are DET_GLYPH_PX tall."""
        import cv2

        o = self._ocr
        h, w = grey.shape
        glyph, (x0, y0, x1, y1) = _page_text(grey)
        scale = det_scale(glyph, (w, h))
        area = grey[y0:y1, x0:x1]
        if scale < 1.0:
            size = (max(32, round(area.shape[1] * scale)), max(32, round(area.shape[0] * scale)))
            area = cv2.resize(area, size, interpolation=cv2.INTER_AREA)
        # the size is chosen here: rapidocr must only round it to a multiple of 32
        o.text_det.limit_type, o.text_det.limit_side_len = "max", 1 << 16
        dt_boxes, _ = o.text_det(_rgb(area))
        if dt_boxes is None or len(dt_boxes) == 0:
            return []
        sx, sy = (x1 - x0) / area.shape[1], (y1 - y0) / area.shape[0]
        out = []
        for b in dt_boxes:
            pts = np.asarray(b, dtype=np.float32) * np.array([sx, sy], dtype=np.float32)
            pts += np.array([x0, y0], dtype=np.float32)
            out.append(np.clip(pts, 0, [w - 1, h - 1]).astype(np.float32))
        return out


def _rec_batches(widths: list[float], workers: int) -> list[list[int]]:
    """Crop indices grouped into recogniser calls: lines of about the same length together (the
    recogniser pads a batch to its longest line), at most REC_BATCH a call, and at least two calls
    per worker thread when there are lines enough (so both cores have work to the end); the
    longest calls first, so that the last call to finish is a short one."""
    order = sorted(range(len(widths)), key=lambda i: widths[i])
    cap = max(1, min(REC_BATCH, len(order) // max(1, 2 * workers)))
    batches: list[list[int]] = []
    batch: list[int] = []
    for pos, i in enumerate(order):
        batch.append(i)
        last = pos == len(order) - 1
        if last or len(batch) >= cap or widths[order[pos + 1]] > REC_WIDTH_TOLERANCE * widths[batch[0]]:
            batches.append(batch)
            batch = []
    batches.sort(key=lambda b: -sum(widths[i] for i in b))
    return batches


def _recognise(
    o: object, crops: list[np.ndarray], pool: ThreadPoolExecutor | None = None, workers: int = 1
) -> list[tuple[str, float]]:
    """(text, score) per crop, recognised in batches of lines of about the same length, cut for
    ``workers`` threads and run on ``pool``'s (one after the other without a pool).

    The recogniser pads every line of a batch to the longest one: rapidocr's batches of six mix a
    "您好！" with full-width lines and cost twice the CPU of one line at a time (bench/ocr.py).
    Lines within REC_WIDTH_TOLERANCE of each other's length share a batch at almost no padding.
    onnxruntime runs a line crop (1 x 3 x 48 x ~700) on one thread whatever its thread setting, so
    one call at a time leaves the second core idle for most of the page: concurrent calls on the
    one session (onnxruntime's run is thread-safe and lets go of the GIL) use both.
    """
    rec = o.text_rec  # type: ignore[attr-defined]
    # every call below passes at most REC_BATCH crops: rapidocr runs them as one batch
    rec.rec_batch_num = REC_BATCH
    widths = [c.shape[1] / max(1, c.shape[0]) for c in crops]
    batches = _rec_batches(widths, workers)

    def run(batch: list[int]) -> list[tuple[str, float]]:
        results, _ = rec([crops[j] for j in batch], False)
        return [(str(res[0]), float(res[1])) for res in results]

    out: list[tuple[str, float]] = [("", 0.0)] * len(crops)
    done = map(run, batches) if pool is None or len(batches) < 2 else pool.map(run, batches)
    for batch, results in zip(batches, done, strict=True):
        for j, res in zip(batch, results, strict=True):
            out[j] = res
    return out


def det_scale(glyph: float | None, size: tuple[int, int]) -> float:
    """The factor the page is reduced by for text detection: body glyphs DET_GLYPH_PX tall, the
    page's long side at least DET_MIN_SIDE; DET_FALLBACK_SIDE when the text size is unknown."""
    long_side = max(size)
    if glyph is None:
        return min(1.0, DET_FALLBACK_SIDE / long_side)
    return min(1.0, max(DET_GLYPH_PX / glyph, DET_MIN_SIDE / long_side))


def _rgb(grey: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))


def _upside_down(o: object, crops: list[np.ndarray]) -> bool:
    """True when most lines of the page read upside down (the angle classifier's vote over the
    first four glyph widths of up to ORIENTATION_SAMPLE of the longest lines)."""
    pieces = []
    for c in sorted(crops, key=lambda c: -c.shape[1])[:ORIENTATION_SAMPLE]:
        ch, cw = c.shape[:2]
        if cw >= 2 * ch:
            # the classifier squeezes a crop to 4:1; a long line squeezed so is unreadable to it
            pieces.append(np.ascontiguousarray(c[:, : 4 * ch]))
    if not pieces:
        return False
    _, votes, _ = o.text_cls(pieces)  # type: ignore[attr-defined]
    flipped = sum(1 for label, score in votes if label == "180" and float(score) >= 0.9)
    return flipped * 3 >= len(pieces) * 2


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


# --------------------------------------------------------------------------- dates in OCR text

# OCR reads the digits of a date as look-alike letters (1 -> l I |, 0 -> O o), the day mark 日 as
# 曰, and splits a date into boxes with spaces between ("2026年1l月2O 日", "2026.11.2O"). The date
# parser (fields.py) wants digits, so such a date is rewritten here, only where the shape is a
# date: a four-character year next to 年 or a dotted / dashed triple, with month and day in range.
_DIGITISH = "0-9lI|Oo"
_TO_DIGIT = str.maketrans({"l": "1", "I": "1", "|": "1", "O": "0", "o": "0"})
_D = rf"[{_DIGITISH}]"
_YEAR = rf"[12lI|](?:\s?{_D}){{3}}"
_DAYISH = rf"{_D}(?:\s?{_D})?"
_OCR_DATE_CN = re.compile(
    rf"(?<![A-Za-z0-9_])(?P<y>{_YEAR})\s*年\s*(?P<m>{_DAYISH})\s*月(?:\s*(?P<d>{_DAYISH})\s*(?P<mark>[日曰号]))?"
)
_OCR_DATE_DOTS = re.compile(
    rf"(?<![A-Za-z0-9_.\-/])(?P<y>{_YEAR})\s?(?P<sep>[.．\-/])\s?(?P<m>{_DAYISH})\s?(?P=sep)\s?(?P<d>{_DAYISH})"
    rf"(?![A-Za-z0-9_\-/]|[.．]\d)"
)
# a Chinese-numeral year: OCR reads 〇 as O, o, 0 or ○
_OCR_CN_YEAR = re.compile(r"(?<![0-9])([一二三四五六七八九〇○Oo0零]{4})(\s*年)")
# a Chinese-numeral month and day after it: OCR reads 十 as "+" ("二〇二五年+一月+二日"), the
# day mark 日 as 曰
_CN_NUM = "一二三四五六七八九十+＋"
_OCR_CN_MONTH_DAY = re.compile(
    rf"(?P<y>[一二三四五六七八九〇○Oo0零]{{4}}\s*年)\s*(?P<m>[{_CN_NUM}]{{1,3}})\s*月"
    rf"(?:\s*(?P<d>[{_CN_NUM}]{{1,3}})\s*(?P<mark>[日曰号]))?"
)
_CN_VALUE = {c: k for k, c in enumerate("一二三四五六七八九", 1)}


def _digits(s: str) -> str:
    return re.sub(r"\s", "", s).translate(_TO_DIGIT)


def _date_ok(y: str, m: str, d: str | None) -> bool:
    return 1990 <= int(y) <= 2099 and 1 <= int(m) <= 12 and (d is None or 1 <= int(d) <= 31)


def _fix_cn(m: re.Match[str]) -> str:
    y, mo = _digits(m["y"]), _digits(m["m"])
    d = _digits(m["d"]) if m["d"] else None
    if not _date_ok(y, mo, d):
        return m[0]
    day = f"{d}{'日' if m['mark'] == '曰' else m['mark']}" if d is not None else ""
    return f"{y}年{mo}月{day}"


def _fix_dots(m: re.Match[str]) -> str:
    y, mo, d = _digits(m["y"]), _digits(m["m"]), _digits(m["d"])
    sep = "." if m["sep"] == "．" else m["sep"]
    return f"{y}{sep}{mo}{sep}{d}" if _date_ok(y, mo, d) else m[0]


def _fix_cn_year(m: re.Match[str]) -> str:
    year = m[1]
    if not any(c in "一二三四五六七八九" for c in year):  # "0000年": not a Chinese numeral
        return m[0]
    return re.sub("[○Oo0零]", "〇", year) + m[2]


def _cn_small(s: str) -> int | None:
    """A month or day in Chinese numerals ("十一", "二十", "三十一") as an int, else None."""
    if "十" not in s:
        return _CN_VALUE.get(s) if len(s) == 1 else None
    tens, _, ones = s.partition("十")
    if len(tens) > 1 or len(ones) > 1 or "十" in ones:
        return None
    return (_CN_VALUE.get(tens, 0) if tens else 1) * 10 + (_CN_VALUE.get(ones, 0) if ones else 0)


def _fix_cn_month_day(m: re.Match[str]) -> str:
    month = m["m"].replace("+", "十").replace("＋", "十")
    day = (m["d"] or "").replace("+", "十").replace("＋", "十")
    mo = _cn_small(month)
    d = _cn_small(day) if day else None
    if mo is None or not 1 <= mo <= 12 or (day and (d is None or not 1 <= d <= 31)):
        return m[0]
    tail = f"{day}{'日' if m['mark'] == '曰' else m['mark']}" if day else ""
    return f"{m['y']}{month}月{tail}"


def normalise_dates(line: str) -> str:
    """``line`` with OCR-garbled dates rewritten in digits (``2026年1l月2O日`` -> ``2026年11月20日``,
    ``2O26.11.2O`` -> ``2026.11.20``, ``二O二六年`` -> ``二〇二六年``, ``二〇二五年+一月`` ->
    ``二〇二五年十一月``); anything else unchanged."""
    if not re.search(r"[年.．\-/]", line):
        return line
    line = _OCR_DATE_CN.sub(_fix_cn, line)
    line = _OCR_DATE_DOTS.sub(_fix_dots, line)
    line = _OCR_CN_YEAR.sub(_fix_cn_year, line)
    return _OCR_CN_MONTH_DAY.sub(_fix_cn_month_day, line)


# --------------------------------------------------------------------------- seal residue

# A faint or pale seal is not wholly removed by the red-channel view: its serial number ("740029")
# or a few characters of the company name along its arc ("品股") come back as a line of their own,
# next to the signature the seal is stamped on. Such a line is dropped: digits alone (not a mobile
# number) or a fragment of the company name, right beside the signature's company or date line.
_SIG_DATE = re.compile(r"^\s*(?:\d{4}|[一二三四五六七八九〇○零]{4})\s*[年.\-/]")
_SIG_COMPANY = re.compile(r"(?:公司|厂|中心|商行|合作社|事务所|研究院|研究所)\s*(?:[(（]?盖?章[)）]?)?\s*$")
_RESIDUE_DIGITS = re.compile(r"\d{3,13}")
_MOBILE = re.compile(r"1[3-9]\d{9}")


def _is_signature_line(line: str) -> bool:
    t = line.strip()
    return bool(_SIG_DATE.match(t)) or (len(t) <= 40 and bool(_SIG_COMPANY.search(t)))


def drop_seal_residue(lines: list[str]) -> list[str]:
    """``lines`` of one page without the lines a seal left behind (see above); the rest unchanged."""
    companies = [ln.strip() for ln in lines if len(ln.strip()) <= 40 and _SIG_COMPANY.search(ln.strip())]
    out: list[str] = []
    for k, line in enumerate(lines):
        # only spaces and stray marks go: "2026-11-04" and "2026.11.04" are dates, not serials
        t = re.sub(r"[\s,·'\"`]", "", line)
        beside = [lines[j] for j in (k - 1, k + 1) if 0 <= j < len(lines)]
        if t and any(_is_signature_line(b) for b in beside):
            digits = _RESIDUE_DIGITS.fullmatch(t) is not None and _MOBILE.fullmatch(t) is None
            fragment = len(t) <= 6 and any(
                len(t) * 2 <= len(c) and all(ch in c for ch in t) and t not in ("公司",) for c in companies
            )
            if digits or fragment:
                continue
        out.append(line)
    return out


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
        lines = drop_seal_residue([normalise_dates(line) for line in engine.read(frame.image, deadline)])
        return "\n".join(lines), None
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
