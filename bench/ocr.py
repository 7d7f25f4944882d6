"""OCR benchmark on synthetic stamped letters, before and after in one run (run by hand).

    PYTHONPATH=. python bench/ocr.py                       # every set, rapidocr, before and after
    PYTHONPATH=. python bench/ocr.py --sets a4-300 pdf6 --pages 12
    PYTHONPATH=. python bench/ocr.py --engine tesseract --sets 150dpi

Sets (pages from tests/letters/scanmaker.py, a red seal over the signature, JPEG noise):

- ``150dpi`` / ``200dpi``: the three template letters at 14 pt, rotation 0-2 degrees, JPEG 60-85.
- ``a4-300``: A4 at 300 dpi (2480x3508) as offices scan letters: body 10.5-12 pt, line spacing 1.0-1.5,
  a short first line after the salutation and a one-line reason, skew 0.5-2 degrees, some pages
  in grey toner or with a phone's uneven light.
- ``pdf6``: six such pages in one image-only PDF, read by one ``ocr_pdf`` call (seconds per page).

Variants, each on its own warm engine, page by page in alternating order (the machine is shared:
both see the same load):

- ``before``: the code path before issue 18 item 3 (``BeforeEngine``, kept here only): detection
  with body glyphs 20 px tall, line batches recognised one call after the other.
- ``after``: ``helpdesk.letters.ocr`` as it is (recognition calls spread over the cores).

Printed per set and variant: wall seconds per page (median, p95), CPU seconds per page (median; all
threads), the character error rate against the printed text (whitespace ignored, NFKC; mean, max),
lines lost (a printed line found in no OCR line within a tenth of its length in edits), and codes
(USCC, accounts) exact / within one edit / all. Engine loading is timed separately, not counted.
``--pool PAGES`` also reads PAGES a4-300 pages through OCR sandboxes as the OCR job does: one worker
with every core's threads against one single-thread worker per core.

Where a page's time goes (before, busy 2-core machine, wall per page): recognition 1.36 s, detection
0.34 s, angle classifier 0.03 s (one vote per page on up to eight line heads: not worth a cheaper
check), crops 0.02 s, seal removal 0.02 s, text size 0.01 s. A line crop (1 x 3 x 48 x ~700) runs on
one onnxruntime thread whatever its setting, hence the recognition threads of ``after``.
Tried and left (same run, same pages): detection with body glyphs 16 or 18 px instead of 20 (7-10 %
less CPU, but one or two USCC / account codes a set no longer exact: q read as g); recogniser and
classifier sessions with one intra-op thread each (9 % less CPU, 10-17 % more wall on a loaded
machine); batches of length-sorted lines bigger than two or three (no CPU gained: the model's cost
per pixel of width does not fall with the batch, and wide lines cost more per pixel past ~1000).
"""

from __future__ import annotations

import argparse
import importlib.util
import io
import os
import random
import resource
import statistics
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from helpdesk.letters import ocr  # noqa: E402


def _scanmaker() -> Any:
    spec = importlib.util.spec_from_file_location("scanmaker", ROOT / "tests" / "letters" / "scanmaker.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class BeforeEngine(ocr._RapidEngine):
    """The code path before issue 18 item 3, kept here only: detection on the text area with body
    glyphs 20 px tall, one orientation vote for the page, recognition of length-grouped batches of
    up to eight lines, one call after the other (onnxruntime runs a line crop on one thread, so the
    second core mostly waits). Same session options and threads as ``after``."""

    DET_GLYPH_PX = 20
    DET_MIN_SIDE = 960
    DET_FALLBACK_SIDE = 1600
    REC_BATCH = 8
    REC_WIDTH_TOLERANCE = 1.1

    def __init__(self) -> None:
        from rapidocr_onnxruntime import RapidOCR

        with ocr._no_spinning():
            self._ocr = RapidOCR(print_verbose=False, intra_op_num_threads=ocr._threads())
        self._lock = threading.Lock()
        self._pool, self._rec_threads = None, 1

    def _read_steps(self, grey: np.ndarray) -> list[tuple[list, str]]:
        o = self._ocr
        boxes = self._detect(grey)
        if not boxes:
            return []
        h, w = grey.shape
        full = ocr._rgb(grey)
        if ocr._upside_down(o, o.get_crop_img_list(full, boxes)):
            full = np.ascontiguousarray(full[::-1, ::-1])
            boxes = [
                np.ascontiguousarray((np.array([w - 1, h - 1], dtype=np.float32) - b)[[2, 3, 0, 1]])
                for b in boxes
            ]
        crops = o.get_crop_img_list(full, boxes)
        rec = self._recognise(crops)
        return [
            (box.tolist(), res[0])
            for box, res in zip(boxes, rec, strict=True)
            if float(res[1]) >= o.text_score and res[0]
        ]

    def _det_scale(self, glyph: float | None, size: tuple[int, int]) -> float:
        long_side = max(size)
        if glyph is None:
            return min(1.0, self.DET_FALLBACK_SIDE / long_side)
        return min(1.0, max(self.DET_GLYPH_PX / glyph, self.DET_MIN_SIDE / long_side))

    def _detect(self, grey: np.ndarray) -> list[np.ndarray]:
        import cv2

        o = self._ocr
        h, w = grey.shape
        glyph, (x0, y0, x1, y1) = ocr._page_text(grey)
        scale = self._det_scale(glyph, (w, h))
        area = grey[y0:y1, x0:x1]
        if scale < 1.0:
            size = (max(32, round(area.shape[1] * scale)), max(32, round(area.shape[0] * scale)))
            area = cv2.resize(area, size, interpolation=cv2.INTER_AREA)
        o.text_det.limit_type, o.text_det.limit_side_len = "max", 1 << 16
        dt_boxes, _ = o.text_det(ocr._rgb(area))
        if dt_boxes is None or len(dt_boxes) == 0:
            return []
        sx, sy = (x1 - x0) / area.shape[1], (y1 - y0) / area.shape[0]
        out = []
        for b in dt_boxes:
            pts = np.asarray(b, dtype=np.float32) * np.array([sx, sy], dtype=np.float32)
            pts += np.array([x0, y0], dtype=np.float32)
            out.append(np.clip(pts, 0, [w - 1, h - 1]).astype(np.float32))
        return out

    def _recognise(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        rec = self._ocr.text_rec
        ratio = [c.shape[1] / max(1, c.shape[0]) for c in crops]
        order = sorted(range(len(crops)), key=lambda i: ratio[i])
        out: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        batch: list[int] = []
        for pos, i in enumerate(order):
            batch.append(i)
            last = pos == len(order) - 1
            if (
                last
                or len(batch) >= self.REC_BATCH
                or ratio[order[pos + 1]] > self.REC_WIDTH_TOLERANCE * ratio[batch[0]]
            ):
                rec.rec_batch_num = len(batch)
                results, _ = rec([crops[j] for j in batch], False)
                for j, res in zip(batch, results, strict=True):
                    out[j] = (str(res[0]), float(res[1]))
                batch = []
        return out


def _cpu() -> float:
    """CPU seconds of this process and its finished children (tesseract runs as a child)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]


Page = tuple[bytes, list[str], list[str]]  # JPEG, printed lines, codes


def _letter(sm: Any, rng: random.Random, i: int, *, extra_lines: bool) -> tuple[str, list[str]]:
    kind = ("change", "unbind", "cancel")[i % 3]
    text, fields = sm.letter_text(kind, rng=rng)
    if extra_lines:  # a short first line after the salutation and a one-line reason
        lines = text.split("\n")
        text = "\n".join([*lines[:2], "您好！", lines[2], f"事由：{fields['reason']}。", *lines[3:]])
    return text, list(fields.get("codes", [])) + list(fields.get("accounts", []))


def template_pages(sm: Any, n: int, dpi: int, seed: int) -> list[Page]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        text, codes = _letter(sm, rng, i, extra_lines=False)
        page, lines = sm.render_page_lines(
            text, seed=seed * 1000 + i, dpi=dpi, rotate=rng.uniform(-2, 2), noise=rng.uniform(0.01, 0.04)
        )
        out.append((_jpeg(page, rng.randint(60, 85), dpi), lines, codes))
    return out


def a4_options(rng: random.Random) -> dict[str, object]:
    """How one office letter at 300 dpi looks: font size, spacing, skew, toner, light."""
    return {
        "body_pt": rng.choice([10.5, 12.0]),
        "line_spacing": rng.choice([1.0, 1.1, 1.2, 1.3, 1.5]),
        "family": rng.choice(["sans", "serif"]),
        "rotate": rng.choice([-1, 1]) * rng.uniform(0.5, 2.0),
        "noise": rng.uniform(0.01, 0.04),
        "ink": rng.choice([(28, 28, 32), (28, 28, 32), (110, 110, 115)]),
        "light": rng.choice([0.0, 0.0, 0.4]),
    }


def a4_pages(sm: Any, n: int, seed: int) -> list[Page]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        text, codes = _letter(sm, rng, i, extra_lines=True)
        page, lines = sm.render_page_lines(text, seed=seed * 1000 + i, dpi=300, **a4_options(rng))
        out.append((_jpeg(page, rng.randint(60, 85), 300), lines, codes))
    return out


def _jpeg(page: Image.Image, quality: int, dpi: int) -> bytes:
    buf = io.BytesIO()
    page.save(buf, "JPEG", quality=quality, dpi=(dpi, dpi))
    return buf.getvalue()


def _pdf(pages: list[Page]) -> bytes:
    images = [Image.open(io.BytesIO(data)) for data, _, _ in pages]
    buf = io.BytesIO()
    images[0].save(buf, "PDF", resolution=300.0, save_all=True, append_images=images[1:], quality=75)
    return buf.getvalue()


def lines_lost(sm: Any, printed: list[str], got: str) -> int:
    got_lines = [sm.normalise(g) for g in got.split("\n") if g.strip()]
    lost = 0
    for line in printed:
        want = sm.normalise(line)
        best = min((sm.substring_distance(want, g) for g in got_lines), default=len(want))
        lost += best > max(1, len(want) // 10)
    return lost


class Tally:
    def __init__(self) -> None:
        self.secs: list[float] = []
        self.cpus: list[float] = []
        self.cers: list[float] = []
        self.lost = 0
        self.lines = 0
        self.exact = self.near = self.codes = 0

    def add(self, sm: Any, secs: float, cpu: float, printed: list[str], codes: list[str], text: str) -> None:
        self.secs.append(secs)
        self.cpus.append(cpu)
        self.cers.append(sm.char_error_rate("\n".join(printed), text))
        self.lost += lines_lost(sm, printed, text)
        self.lines += len(printed)
        for code in codes:
            d = sm.substring_distance(code, text)
            self.codes += 1
            self.exact += d == 0
            self.near += d <= 1


def _with_engine(engine: ocr._Engine, fn: Callable[[], ocr.OcrResult]) -> ocr.OcrResult:
    saved = ocr._engine
    ocr._engine = lambda: engine  # type: ignore[assignment]
    try:
        return fn()
    finally:
        ocr._engine = saved  # type: ignore[assignment]


def run_set(sm: Any, name: str, pages: list[Page], engines: dict[str, ocr._Engine]) -> dict[str, Tally]:
    tallies = {v: Tally() for v in engines}
    order = list(engines)
    if name == "pdf6":
        # six pages per PDF, one ocr_pdf call each; per page = the call's time / its pages
        for k in range(0, len(pages), 6):
            group = pages[k : k + 6]
            pdf = _pdf(group)
            for variant in order if k % 12 == 0 else order[::-1]:
                cpu = _cpu()
                res = _with_engine(engines[variant], lambda pdf=pdf: ocr.ocr_pdf(pdf))
                cpu = (_cpu() - cpu) / len(group)
                if res.error:
                    print(f"  {variant} {name}: {res.error}", file=sys.stderr)
                for (_, printed, codes), text in zip(group, res.pages, strict=False):
                    tallies[variant].add(sm, res.seconds / len(group), cpu, printed, codes, text)
        return tallies
    for i, (data, printed, codes) in enumerate(pages):
        for variant in order if i % 2 == 0 else order[::-1]:
            cpu = _cpu()
            res = _with_engine(engines[variant], lambda data=data: ocr.ocr_image(data))
            cpu = _cpu() - cpu
            if res.error:
                print(f"  {variant} {name}: {res.error}", file=sys.stderr)
            tallies[variant].add(sm, res.seconds, cpu, printed, codes, res.text)
    return tallies


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=12, help="pages per set (pdf6: rounded up to sixes)")
    ap.add_argument("--sets", nargs="+", default=["150dpi", "200dpi", "a4-300", "pdf6"])
    ap.add_argument("--engine", default="rapidocr", choices=["rapidocr", "tesseract"])
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument(
        "--pool",
        type=int,
        default=0,
        metavar="PAGES",
        help="also read PAGES a4-300 pages through OCR sandboxes: one worker with all cores' threads "
        "against one worker per core with one thread each (as the OCR job spreads letters)",
    )
    args = ap.parse_args(argv)
    sm = _scanmaker()
    os.environ[ocr.ENGINE_ENV] = args.engine
    t = time.monotonic()
    after = ocr._engine()
    load = time.monotonic() - t
    if after is None or after.name != args.engine:
        print(f"{args.engine}: not available", file=sys.stderr)
        return 1
    engines: dict[str, ocr._Engine] = {"after": after}
    if isinstance(after, ocr._RapidEngine):
        engines = {"before": BeforeEngine(), "after": after}
    load_avg = os.getloadavg()
    rows = []
    for name in args.sets:
        if name == "pdf6":
            pages = a4_pages(sm, 6 * max(1, -(-args.pages // 6)), args.seed + 7)
        elif name == "a4-300":
            pages = a4_pages(sm, args.pages, args.seed)
        else:
            pages = template_pages(sm, args.pages, int(name.removesuffix("dpi")), args.seed)
        for variant, tally in run_set(sm, name, pages, engines).items():
            rows.append((name, variant, tally))
            print(f"{name:7s} {variant:6s} median {statistics.median(tally.secs):.2f}s", file=sys.stderr)
    print()
    print(f"engine {args.engine}, loaded in {load:.2f}s; ORT threads {ocr._threads()}; cpus {os.cpu_count()}")
    print(
        f"load average at start {' '.join(f'{x:.2f}' for x in load_avg)}, at end {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    head = (
        f"{'set':7s} {'variant':7s} {'pages':>5s} {'median s':>9s} {'p95 s':>6s} {'cpu s':>6s} "
        f"{'CER':>7s} {'CER max':>8s} {'lost':>9s}  codes exact/<=1/all"
    )
    print(head)
    print("-" * len(head))
    medians: dict[tuple[str, str], float] = {}
    for name, variant, t in rows:
        medians[(name, variant)] = statistics.median(t.secs)
        print(
            f"{name:7s} {variant:7s} {len(t.secs):5d} {statistics.median(t.secs):9.2f} {_p95(t.secs):6.2f} "
            f"{statistics.median(t.cpus):6.2f} {statistics.mean(t.cers):7.4f} {max(t.cers):8.4f} "
            f"{t.lost:4d}/{t.lines:<4d}  {t.exact}/{t.near}/{t.codes}"
        )
    for name in args.sets:
        if (name, "before") in medians:
            ratio = medians[(name, "after")] / medians[(name, "before")]
            print(f"{name}: after/before median seconds per page = {ratio:.2f}")
    if args.pool:
        pool_run(sm, a4_pages(sm, args.pool, args.seed + 11))
    return 0


def pool_run(sm: Any, pages: list[Page]) -> None:
    """Wall seconds per page of pages read in OCR sandboxes (warm engines, pages handed out as the
    OCR job hands out letters): 1 worker x cores threads, then cores workers x 1 thread, twice each
    in alternating order."""
    from helpdesk.core.sandbox import Sandbox

    cores = ocr.cores()
    layouts = {"1 worker": (1, cores), f"{cores} workers": (cores, 1)}
    boxes = {}
    for name, (workers, threads) in layouts.items():
        box = Sandbox(workers, memory_mb=None, recycle_mb=None)
        box.run(ocr.set_default_threads, [(threads,)] * workers, 60)  # one each: idle workers take one
        box.run(ocr.ocr_image, [(data,) for data, _, _ in pages[:workers]], 120)  # engines loaded, warm
        boxes[name] = box
    secs: dict[str, list[float]] = {name: [] for name in layouts}
    cers: dict[str, list[float]] = {name: [] for name in layouts}
    cpus: dict[str, list[float]] = {name: [] for name in layouts}
    for rnd in range(2):
        for name in list(layouts) if rnd == 0 else list(layouts)[::-1]:
            t, cpu = time.monotonic(), boxes[name].cpu_seconds
            results = boxes[name].run(ocr.ocr_image, [(data,) for data, _, _ in pages], 600)
            secs[name].append((time.monotonic() - t) / len(pages))
            cpus[name].append((boxes[name].cpu_seconds - cpu) / len(pages))
            for (_, printed, _), res in zip(pages, results, strict=True):
                cers[name].append(sm.char_error_rate("\n".join(printed), getattr(res, "text", "")))
    for box in boxes.values():
        box.close()
    print(f"pool: {len(pages)} a4-300 pages per run, 2 runs each, load average {os.getloadavg()[0]:.2f}")
    for name, (_, threads) in layouts.items():
        print(
            f"pool {name:9s} x {threads} threads: {min(secs[name]):.2f} s/page (best run), "
            f"workers' CPU {min(cpus[name]):.2f} s/page, CER {statistics.mean(cers[name]):.4f}"
        )
    first, second = layouts
    print(f"pool: {second}/{first} seconds per page = {min(secs[second]) / min(secs[first]):.2f}")


if __name__ == "__main__":
    raise SystemExit(main())
