"""Benchmark of letters.read(): accuracy per source and field, and time per letter. Run by hand.

    python bench/letters.py                      # 80 letters each as docx, text PDF, mail body; 24 scans
    python bench/letters.py --per-source 200 --scans 0
    python bench/letters.py --scans 60 --seed 7

Letters come from tests/letters/make_letters.py: every type (change / unbind / cancel), every wording
(template, other words, labelled lines), full-width characters, spaced codes, Chinese numerals and
dates, one to four accounts, licences attached as images or text PDFs. The truth of each letter is
known from its seed. docx, PDF and body letters are read with ocr=False (a licence scan then stays
unread, as in the intake's fast pass); scans (tests/letters/scanmaker.py: rendered, stamped, rotated,
JPEG-compressed pages) are read with OCR, their licence as a text PDF.

Prints, per source kind, the exact-match accuracy of the type and of each field stated in the
letters, and the time per letter (median, p95), in total and without seal detection (the seal
detector is a separate module, timed separately). Aims: docx and text PDF: type 100 %, every field
>= 99 %; docx under 30 ms a letter.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import Counter, defaultdict

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from helpdesk.letters import FIELD_NAMES, read  # noqa: E402
from tests.letters.make_letters import TODAY, make_case  # noqa: E402

FIELDS = ("type", *(name for name in FIELD_NAMES if name != "seal"))  # the seal is a hint, not scored


def got_value(letter, name):
    if name == "type":
        return letter.type
    if name in ("uscc", "org_code"):
        return sorted(letter.values(name))
    f = letter.get(name)
    return None if f is None else f.value


def pct(q: list[float], p: float) -> float:
    q = sorted(q)
    return q[min(len(q) - 1, int(round(p * (len(q) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--per-source", type=int, default=80, help="letters per source kind (docx, pdf, body)")
    ap.add_argument("--scans", type=int, default=24, help="scanned letters (OCR; 0 to skip)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--show", type=int, default=3, help="mismatches to print per source and field")
    args = ap.parse_args()

    plan: list[tuple[str, int]] = []
    for source in ("docx", "pdf", "body"):
        plan += [(source, args.seed * 100_000 + k) for k in range(args.per_source)]
    scans_note = ""
    if args.scans:
        try:
            from tests.letters import scanmaker  # noqa: F401
        except ImportError:
            scans_note = "scans skipped: tests/letters/scanmaker.py is missing"
        else:
            try:
                from helpdesk.letters import ocr

                engine = ocr.engine_name() if ocr.available() else None
            except Exception:
                engine = None
            if engine is None:
                scans_note = "scans skipped: OCR engine not available"
            else:
                scans_note = f"scans read with OCR engine {engine}"
                plan += [("scan", args.seed * 100_000 + 50_000 + k) for k in range(args.scans)]

    # warm up imports and caches once, outside the measurements
    read(make_case(1, source="docx").mail, today=TODAY, ocr=False)
    read(make_case(2, source="pdf").mail, today=TODAY, ocr=False)

    ok: dict[str, Counter] = defaultdict(Counter)
    total: dict[str, Counter] = defaultdict(Counter)
    times: dict[str, list[float]] = defaultdict(list)
    times_noseal: dict[str, list[float]] = defaultdict(list)
    misses: dict[tuple[str, str], list[str]] = defaultdict(list)
    for source, seed in plan:
        kind = ("change", "unbind", "cancel")[seed % 3]
        case = make_case(seed, kind=kind, source=source, licence="pdf" if source == "scan" else "any")
        started = time.perf_counter()
        letter = read(case.mail, today=TODAY, ocr=source == "scan", ocr_budget_s=120)
        seconds = time.perf_counter() - started
        times[source].append(seconds)
        times_noseal[source].append(seconds - letter.timings.get("seal", 0.0))
        for name, want in case.truth.items():
            want = sorted(want) if name in ("uscc", "org_code") else want
            got = got_value(letter, name)
            total[source][name] += 1
            if got == want:
                ok[source][name] += 1
            elif len(misses[(source, name)]) < args.show:
                misses[(source, name)].append(f"{case.name}: want {want!r} got {got!r}")

    n_all = len(plan)
    counts = ", ".join(f"{s} {len(times[s])}" for s in times)
    print(f"letters.read benchmark: {n_all} letters ({counts}); seed {args.seed}. {scans_note}".rstrip())
    print()
    sources = list(times)
    header = f"{'field':<18}" + "".join(f"{s:>18}" for s in sources)
    print(header)
    print("-" * len(header))
    for name in FIELDS:
        row = f"{name:<18}"
        for s in sources:
            n = total[s][name]
            cell = "" if n == 0 else f"{100 * ok[s][name] / n:.1f}% {ok[s][name]}/{n}"
            row += f"{cell:>18}"
        print(row)
    print("-" * len(header))
    for label, table, q in (
        ("ms/letter median", times, 0.5),
        ("ms/letter p95", times, 0.95),
        ("  without seal med", times_noseal, 0.5),
        ("  without seal p95", times_noseal, 0.95),
    ):
        print(f"{label:<18}" + "".join(f"{1000 * pct(table[s], q):>18.1f}" for s in sources))
    if any(misses.values()):
        print()
        print("mismatches (first few per source and field):")
        for (s, name), lines in sorted(misses.items()):
            for line in lines:
                print(f"  [{s}/{name}] {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
