"""OCR benchmark on synthetic stamped letters (run by hand).

    python bench/ocr.py                      # 10 pages at 150 and 200 dpi, every installed engine
    python bench/ocr.py --pages 20 --dpi 150 --engine rapidocr

Pages come from tests/letters/scanmaker.py: the three template letters filled in, a red seal over
the signature, rotation 0-2 degrees, JPEG quality 60-85, scanner noise. For each engine and
resolution it prints the wall time per page (median, p95), the median CPU seconds per page (all
threads and child processes: the cost when the machine is shared), the character error rate of the page text
against what was printed (whitespace ignored, NFKC), and how many codes (USCC, account names)
came out exactly / within one edit. Engine loading is timed separately and not counted.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import resource
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from helpdesk.letters import ocr  # noqa: E402


def _scanmaker():
    spec = importlib.util.spec_from_file_location("scanmaker", ROOT / "tests" / "letters" / "scanmaker.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _cpu() -> float:
    """CPU seconds of this process and its finished children (tesseract runs as a child)."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _p95(xs: list[float]) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, round(0.95 * (len(xs) - 1)))]


def pages(sm, n: int, dpi: int, seed: int) -> list[tuple[bytes, str, list[str]]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        kind = ("change", "unbind", "cancel")[i % 3]
        text, fields = sm.letter_text(kind, rng=rng)
        data = sm.render_scan(
            text,
            seed=seed * 1000 + i,
            dpi=dpi,
            rotate=rng.uniform(-2, 2),
            jpeg_quality=rng.randint(60, 85),
            noise=rng.uniform(0.01, 0.04),
        )
        codes = list(fields.get("codes", [])) + list(fields.get("accounts", []))
        out.append((data, text, codes))
    return out


def run(engine: str, dpi: int, n: int, sm, seed: int) -> dict[str, object] | None:
    os.environ[ocr.ENGINE_ENV] = engine
    t = time.monotonic()
    if not ocr.available() or ocr.engine_name() != engine:
        return None
    load = time.monotonic() - t
    secs, cpus, cers, exact, near, total = [], [], [], 0, 0, 0
    for data, text, codes in pages(sm, n, dpi, seed):
        cpu = _cpu()
        res = ocr.ocr_image(data)
        cpus.append(_cpu() - cpu)
        if res.error:
            print(f"  {engine} {dpi}dpi: {res.error}", file=sys.stderr)
        secs.append(res.seconds)
        cers.append(sm.char_error_rate(text, res.text))
        for code in codes:
            d = sm.substring_distance(code, res.text)
            total += 1
            exact += d == 0
            near += d <= 1
    return {
        "engine": engine,
        "dpi": dpi,
        "pages": n,
        "load": load,
        "median": statistics.median(secs),
        "p95": _p95(secs),
        "cpu": statistics.median(cpus),
        "cer": statistics.mean(cers),
        "cer_max": max(cers),
        "codes": f"{exact}/{near}/{total}",
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pages", type=int, default=10)
    ap.add_argument("--dpi", type=int, nargs="+", default=[150, 200])
    ap.add_argument("--engine", nargs="+", default=["rapidocr", "tesseract"])
    ap.add_argument("--seed", type=int, default=2024)
    args = ap.parse_args(argv)
    sm = _scanmaker()
    rows = []
    for engine in args.engine:
        for dpi in args.dpi:
            row = run(engine, dpi, args.pages, sm, args.seed)
            if row is None:
                print(f"{engine}: not available, skipped", file=sys.stderr)
                break
            rows.append(row)
            print(
                f"{engine:10s} {dpi:4d} dpi  median {row['median']:.2f}s  p95 {row['p95']:.2f}s  CER {row['cer']:.4f}",
                file=sys.stderr,
            )
    print()
    print(f"cpus: {os.cpu_count()}  load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    head = f"{'engine':10s} {'dpi':>4s} {'pages':>5s} {'load s':>7s} {'median s':>9s} {'p95 s':>7s} {'cpu s':>6s} {'CER':>7s} {'CER max':>8s}  codes exact/<=1/all"
    print(head)
    print("-" * len(head))
    for r in rows:
        print(
            f"{r['engine']:10s} {r['dpi']:4d} {r['pages']:5d} {r['load']:7.2f} {r['median']:9.2f} {r['p95']:7.2f} {r['cpu']:6.2f} "
            f"{r['cer']:7.4f} {r['cer_max']:8.4f}  {r['codes']}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
