"""A hint whether a scan carries a red round company seal (公章). Never proof.

``detect_seal(image_bytes) -> SealHint`` with ``verdict``:

- ``"seal"``: a red structure shaped like a round seal: red ink concentrated on a ring (roughly
  circular bounding box, aspect 0.75-1.33), going most of the way round, with comparatively little
  ink between the ring and the centre, nothing sticking out, and a size plausible for a seal
  (3-60 % of the page's shorter side; a 40 mm seal on A4 is 19 %). Ink in the centre (the star)
  raises the score.
- ``"none"``: a colour image without such a structure. Strong red is looked at first; when it
  shows no seal, the pale red of a washed-out stamp is (a second pass with a lower threshold).
- ``"unknown"``: the image is greyscale or black-and-white (stored as such or with no colour in its
  pixels), too small, unreadable, or numpy is missing: nothing can be said. A greyscale scan is
  never ``"none"``.

PDF bytes are accepted too: each page image (up to 10) is checked; any page with a seal gives
``"seal"``, ``"none"`` needs every page to be a colour page without one.

``box`` is (left, top, right, bottom) in pixels of the input image after EXIF orientation (for a
PDF: of the page image); ``crop_png`` is a small PNG around the seal for the agent to look at.

Works with Pillow and numpy (numpy comes with the ``[ocr]`` extra); without numpy every answer
is ``"unknown"``.
"""

from __future__ import annotations

import io
import math
from collections import deque
from dataclasses import dataclass

from PIL import Image

from . import raster

WORK_SIDE = 1400  # longest side the analysis runs at
MIN_SIDE = 200  # smaller images: "unknown"
CROP_SIDE = 256

NOT_PROOF = "仅为图像提示，不能证明盖章真实有效，请人工核对"


@dataclass(frozen=True)
class SealHint:
    verdict: str  # "seal" | "none" | "unknown"
    score: float  # 0..1, how seal-like the best red structure is; >= 0.5 only with verdict "seal"
    reason: str  # Chinese, for the agent
    crop_png: bytes | None = None
    box: tuple[int, int, int, int] | None = None


@dataclass
class _Candidate:
    score: float
    ok: bool
    box: tuple[int, int, int, int]  # work-image pixels
    star: bool
    why: str


def _unknown(reason: str) -> SealHint:
    return SealHint("unknown", 0.0, reason)


# --------------------------------------------------------------------------- analysis


def _red_mask(rgb):  # numpy array H x W x 3, uint8 -> bool H x W
    import numpy as np

    a = rgb.astype(np.int16)
    r = a[..., 0]
    gb = np.maximum(a[..., 1], a[..., 2])
    diff = r - gb
    return (r > 100) & (diff > 35) & (diff * 5 > r)


def _pale_red_mask(rgb):  # numpy array H x W x 3, uint8 -> bool H x W
    """Red ink of a pale or faint stamp (little ink, a worn pad: ~(240, 215, 215) where the ink is
    thin): a small margin of red over green and blue, still a tenth of the pixel's red. Paper,
    toner and uneven light stay below it; the ring checks keep pale red text and logos out."""
    import numpy as np

    a = rgb.astype(np.int16)
    r = a[..., 0]
    gb = np.maximum(a[..., 1], a[..., 2])
    diff = r - gb
    return (r > 100) & (diff > 14) & (diff * 10 > r)


def _components(mask, cell: int) -> list[tuple[int, int, int, int, int]]:
    """Connected groups of red on a coarse grid (cells of ``cell`` px, 8-connected after a 1-cell
    dilation so that a dotted or faint ring stays one piece). Returns pixel bboxes + cell counts."""
    import numpy as np

    h, w = mask.shape
    gh, gw = h // cell, w // cell
    counts = mask[: gh * cell, : gw * cell].reshape(gh, cell, gw, cell).sum(axis=(1, 3))
    grid = counts >= max(2, cell * cell // 6)
    if not grid.any():
        return []
    dil = grid.copy()
    dil[1:, :] |= grid[:-1, :]
    dil[:-1, :] |= grid[1:, :]
    d2 = dil.copy()
    d2[:, 1:] |= dil[:, :-1]
    d2[:, :-1] |= dil[:, 1:]
    seen = np.zeros_like(d2)
    out = []
    ys, xs = np.nonzero(d2)
    for y0, x0 in zip(ys.tolist(), xs.tolist(), strict=True):
        if seen[y0, x0]:
            continue
        seen[y0, x0] = True
        queue = deque([(y0, x0)])
        top, left, bottom, right, n = y0, x0, y0, x0, 0
        while queue:
            y, x = queue.popleft()
            n += 1
            top, bottom, left, right = min(top, y), max(bottom, y), min(left, x), max(right, x)
            for ny in (y - 1, y, y + 1):
                if 0 <= ny < gh:
                    for nx in (x - 1, x, x + 1):
                        if 0 <= nx < gw and d2[ny, nx] and not seen[ny, nx]:
                            seen[ny, nx] = True
                            queue.append((ny, nx))
        out.append((left * cell, top * cell, (right + 1) * cell, (bottom + 1) * cell, n))
    return out


def _assess(mask, box: tuple[int, int, int, int], page_short: int) -> _Candidate | None:
    import numpy as np

    h, w = mask.shape
    left, top, right, bottom = box
    sub = mask[top:bottom, left:right]
    ys, xs = np.nonzero(sub)
    if len(xs) < 30:
        return None
    # tighten to the red pixels themselves
    x0, x1, y0, y1 = xs.min() + left, xs.max() + left + 1, ys.min() + top, ys.max() + top + 1
    bw, bh = x1 - x0, y1 - y0
    size = max(bw, bh) / page_short
    if size < 0.03:
        return None
    aspect = bw / max(bh, 1)
    tight = (int(x0), int(y0), int(x1), int(y1))
    if not 0.75 <= aspect <= 1.33:
        return _Candidate(0.0, False, tight, False, "aspect")
    if size > 0.6:
        return _Candidate(0.0, False, tight, False, "size")
    # all red pixels around the box (the star and text inside are separate pieces)
    m = max(2, int(0.08 * max(bw, bh)))
    ex0, ey0, ex1, ey1 = max(0, x0 - m), max(0, y0 - m), min(w, x1 + m), min(h, y1 + m)
    ys, xs = np.nonzero(mask[ey0:ey1, ex0:ex1])
    cx, cy, a, b = (x0 + x1) / 2 - ex0, (y0 + y1) / 2 - ey0, bw / 2, bh / 2
    dx, dy = (xs - cx) / a, (ys - cy) / b
    rn = np.hypot(dx, dy)
    total = len(rn)
    unit = math.pi * a * b  # area of the unit ellipse in pixels

    def density(r0: float, r1: float) -> float:
        return float(((rn >= r0) & (rn < r1)).sum()) / (unit * (r1 * r1 - r0 * r0))

    ring = (rn >= 0.82) & (rn <= 1.05)
    ring_density = density(0.82, 1.05)
    gap_density = density(0.40, 0.56)
    centre_density = density(0.0, 0.30)
    outside = float((rn > 1.1).sum()) / total
    theta = np.arctan2(dy[ring], dx[ring])
    bins = np.bincount(((theta + math.pi) / (2 * math.pi) * 36).astype(int) % 36, minlength=36)
    expected = max(1.0, ring.sum() / 36)
    coverage = float((bins >= max(1.0, 0.15 * expected)).sum()) / 36
    contrast = ring_density / max(gap_density, 0.01)
    star = centre_density > 0.08

    checks = {
        "coverage": coverage >= 0.7,
        "outside": outside <= 0.08,
        "ring": ring_density >= 0.08,
        "contrast": contrast >= 2.0,
    }
    score = (
        0.3 * min(1.0, coverage / 0.9)
        + 0.2 * max(0.0, 1 - outside / 0.15)
        + 0.2 * min(1.0, contrast / 4)
        + 0.15 * min(1.0, ring_density / 0.2)
        + 0.15 * (1.0 if star else 0.0)
    )
    failed = [k for k, v in checks.items() if not v]
    if failed:  # a shape that fails a check never scores like a seal
        score = min(score, 0.49)
    return _Candidate(round(score, 3), not failed, tight, star, ",".join(failed))


def _crop(image: Image.Image, box: tuple[int, int, int, int]) -> bytes:
    x0, y0, x1, y1 = box
    m = int(0.12 * max(x1 - x0, y1 - y0))
    crop = image.crop((max(0, x0 - m), max(0, y0 - m), min(image.width, x1 + m), min(image.height, y1 + m)))
    crop.thumbnail((CROP_SIDE, CROP_SIDE), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    crop.save(buf, "PNG", optimize=True)
    return buf.getvalue()


def _frame_hint(frame: raster.Frame, where: str = "") -> SealHint:
    import numpy as np

    im = frame.image
    if min(im.size) < MIN_SIDE:
        return _unknown(f"{where}图像太小（{im.width}×{im.height}），无法判断是否盖章")
    if not frame.colour:
        return _unknown(f"{where}灰度或黑白图像，无法从颜色判断是否盖章，请人工查看")
    rgb = np.asarray(im)
    short = min(im.size)
    cell = max(2, round(max(im.size) / 450))
    best: _Candidate | None = None
    any_red = False
    pale = False
    # strong red first; only when no ring is found there, the pale red of a faint stamp (a thin,
    # washed-out seal is still a seal: calling it "none" would tell the agent it is missing)
    for make_mask in (_red_mask, _pale_red_mask):
        mask = make_mask(rgb)
        any_red = any_red or bool(mask.sum() >= 30)
        for x0, y0, x1, y1, _n in _components(mask, cell):
            cand = _assess(mask, (x0, y0, x1, y1), short)
            if cand is None:
                continue
            if best is None or (cand.ok, cand.score) > (best.ok, best.score):
                best = cand
        if best is not None and best.ok:
            pale = make_mask is _pale_red_mask
            break
    if best is not None and best.ok:
        sx, sy = frame.source_size[0] / im.width, frame.source_size[1] / im.height
        x0, y0, x1, y1 = best.box
        box = (round(x0 * sx), round(y0 * sy), round(x1 * sx), round(y1 * sy))
        shape = "红色圆环，中心有图案（如五角星）" if best.star else "红色圆环"
        if pale:
            shape += "（颜色较浅）"
        return SealHint(
            "seal",
            best.score,
            f"{where}发现疑似公章：{shape}，位置 ({box[0]},{box[1]})-({box[2]},{box[3]})；{NOT_PROOF}",
            _crop(im, best.box),
            box,
        )
    if best is not None or any_red:
        score = best.score if best is not None else 0.0
        return SealHint(
            "none",
            score,
            f"{where}有红色内容，但不像圆形印章（可能是标志、红色文字，或印章残缺、颜色过浅）；{NOT_PROOF}",
        )
    return SealHint("none", 0.0, f"{where}彩色图像中未发现红色印章痕迹；{NOT_PROOF}")


def _combine(hints: list[SealHint], multi: bool) -> SealHint:
    seals = [h for h in hints if h.verdict == "seal"]
    if seals:
        return max(seals, key=lambda h: h.score)
    if hints and all(h.verdict == "none" for h in hints):
        return max(hints, key=lambda h: h.score)
    unknowns = [h for h in hints if h.verdict == "unknown"]
    if unknowns:
        if multi and len(unknowns) < len(hints):
            return SealHint(
                "unknown",
                0.0,
                "彩色页面中未发现印章，但有灰度或无法读取的页面，无法判断是否盖章，请人工查看",
            )
        return unknowns[0]
    return _unknown("无法判断是否盖章")


def detect_seal(image: bytes) -> SealHint:
    """Whether ``image`` (image file bytes, or a PDF) shows a red round seal. A hint, never proof."""
    try:
        import numpy  # noqa: F401
    except ImportError:
        return _unknown("印章检测不可用：缺少 numpy")
    hints: list[SealHint] = []
    try:
        if raster.is_pdf(image):
            with raster.PdfPages(image) as pdf:
                multi = min(pdf.count, 10) > 1
                for i in range(min(pdf.count, 10)):
                    where = f"第 {i + 1} 页：" if multi else ""
                    try:
                        hints.append(_frame_hint(pdf.page(i, max_side=WORK_SIDE), where))
                    except raster.RasterError as exc:
                        hints.append(_unknown(f"{where}无法读取：{exc}"))
        else:
            frames, total = raster.image_frames(image, max_frames=10, max_side=WORK_SIDE)
            multi = len(frames) > 1
            for i, frame in enumerate(frames):
                hints.append(_frame_hint(frame, f"第 {i + 1} 页：" if multi else ""))
    except raster.RasterError as exc:
        return _unknown(f"无法读取图像：{exc}")
    if not hints:
        return _unknown("无法读取图像")
    return _combine(hints, multi)


__all__ = ["SealHint", "detect_seal"]
