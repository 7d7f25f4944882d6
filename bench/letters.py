"""Benchmark of letters.read(): accuracy per field and per delivery form, and time per letter. Run by hand.

    python bench/letters.py                    # every set: template 60, free 220, held-out 100 (scans OCR'd)
    python bench/letters.py --no-scans         # skip the scanned letters (no OCR; quick)
    python bench/letters.py --set heldout      # one set only
    python bench/letters.py --show 5           # print more mismatches (never for the held-out set
                                               # unless --show-heldout: no rule is tuned on it)

Sets: "template" (tests/letters/make_letters.py: the seed's three templates and near wordings),
"free" (tests/letters/freegen.py: free wording, the tuning set) and "heldout" (tests/letters/
heldout.py: other phrase banks and names, never tuned on). Forms: docx, docx tables, doc and
office PDF (LibreOffice output cached in tests/letters/data/office/), text PDF, scans (jpg, png,
image-only PDF; OCR), mail body, HTML body.

Scoring, per field stated in a letter: type, company, accounts (the exact set), targets (exact set),
stated count, USCC and organisation codes (the exact set of valid codes), old/new pairs (the exact
set), date, reason (equal after NFKC, without punctuation and a trailing "原因"), licence attached
(true/false), seal hint on colour scans ("seal" / "none"). Crashes (an internal_error finding)
are counted. Time per letter is given per form (median, p95).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
import unicodedata
from collections import Counter, defaultdict

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from helpdesk.letters import read  # noqa: E402
from tests.letters.forms import SCAN_FORMS  # noqa: E402
from tests.letters.freegen import N_FREE, make_free  # noqa: E402
from tests.letters.heldout import N_HELDOUT, make_heldout  # noqa: E402
from tests.letters.make_letters import TODAY, make_case  # noqa: E402

FIELDS = (
    "type",
    "company_name",
    "account_names",
    "target_accounts",
    "account_count",
    "uscc",
    "org_code",
    "pairs",
    "letter_date",
    "reason",
    "has_licence",
    "seal",
)
N_TEMPLATE = 60


def _reason_key(s: object) -> str:
    s = unicodedata.normalize("NFKC", str(s or ""))
    s = re.sub(r"[\s,.;:!?、。，；：！？\"'“”()（）]", "", s)
    return re.sub(r"(?:的)?原因$", "", s)


def got(letter, name: str):
    if name == "type":
        return letter.type
    if name in ("uscc", "org_code"):
        return sorted(set(letter.values(name)))
    if name == "pairs":
        olds = [f.value for f in letter.fields if f.name == "old_value"]
        news = [f.value for f in letter.fields if f.name == "new_value"]
        return sorted(zip(olds, news, strict=False))
    f = letter.get(name)
    if f is None:
        return None
    if name in ("account_names", "target_accounts"):
        return sorted(f.value)
    if name == "reason":
        return _reason_key(f.value)
    return f.value


def want(truth: dict, name: str):
    v = truth[name]
    if name in ("uscc", "org_code", "account_names", "target_accounts"):
        return sorted(set(v))
    if name == "pairs":
        return sorted(tuple(p) for p in v)
    if name == "reason":
        return _reason_key(v)
    return v


def cases(which: str, scans: bool):
    if which == "template":
        for k in range(N_TEMPLATE):
            kind = ("change", "unbind", "cancel")[k % 3]
            source = ("docx", "pdf", "body", "scan")[k % 4] if scans else ("docx", "pdf", "body")[k % 3]
            c = make_case(880_000 + k, kind=kind, source=source, licence="pdf" if source == "scan" else "any")
            form = {"pdf": "text_pdf", "scan": "scan_jpg"}.get(c.source, c.source)
            yield form, c
    if which in ("free", "heldout"):
        maker, n = (make_free, N_FREE) if which == "free" else (make_heldout, N_HELDOUT)
        for k in range(n):
            c = maker(k)
            if scans or c.source not in SCAN_FORMS:
                yield c.source, c


def pct(q: list[float], p: float) -> float:
    q = sorted(q)
    return q[min(len(q) - 1, int(round(p * (len(q) - 1))))] if q else 0.0


def table(title: str, ok: dict, total: dict, columns: list[str]) -> None:
    print(title)
    header = f"{'field':<16}" + "".join(f"{c:>13}" for c in columns)
    print(header)
    print("-" * len(header))
    for name in FIELDS:
        row = f"{name:<16}"
        for c in columns:
            n = total[c][name]
            row += f"{'' if n == 0 else f'{ok[c][name] / n:.2f} {ok[c][name]}/{n}':>13}"
        print(row)
    print()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--set", choices=["all", "template", "free", "heldout"], default="all")
    ap.add_argument("--no-scans", action="store_true", help="skip scanned letters (no OCR)")
    ap.add_argument("--show", type=int, default=0, help="mismatches to print per set and field")
    ap.add_argument("--show-heldout", action="store_true", help="also print held-out mismatches")
    args = ap.parse_args()
    sets = ["template", "free", "heldout"] if args.set == "all" else [args.set]

    read(make_case(1, source="docx").mail, today=TODAY, ocr=False)  # warm up imports
    ok: dict[str, Counter] = defaultdict(Counter)
    total: dict[str, Counter] = defaultdict(Counter)
    times: dict[str, list[float]] = defaultdict(list)
    misses: dict[tuple[str, str], list[str]] = defaultdict(list)
    crashes = 0
    n_letters = Counter()
    for which in sets:
        for form, case in cases(which, not args.no_scans):
            n_letters[which] += 1
            started = time.perf_counter()
            letter = read(case.mail, today=TODAY, ocr=form in SCAN_FORMS, ocr_budget_s=120)
            part = "heldout" if which == "heldout" else "tuning"
            seconds = time.perf_counter() - started
            times[form].append(seconds)
            times[f"{form}/{part}"].append(seconds)
            crashes += letter.finding("internal_error") is not None
            for name in FIELDS:
                if name not in case.truth:
                    continue
                good = got(letter, name) == want(case.truth, name)
                for col in (which, form, f"{form}/{part}", "all" if which != "heldout" else "heldout*"):
                    total[col][name] += 1
                    ok[col][name] += good
                show = args.show if which != "heldout" or args.show_heldout else 0
                if not good and len(misses[(which, name)]) < show:
                    misses[(which, name)].append(
                        f"{case.name}: want {want(case.truth, name)!r} got {got(letter, name)!r}"
                    )
    print(f"letters.read benchmark: {dict(n_letters)} letters; crashes: {crashes}")
    print()
    table(
        "per set (all = template + free; the held-out set is never tuned on)",
        ok,
        total,
        [s for s in ("all", *sets) if total[s]],
    )
    forms = [
        f
        for f in (
            "docx",
            "docx_table",
            "doc",
            "office_pdf",
            "text_pdf",
            "scan_jpg",
            "scan_png",
            "scan_pdf",
            "body",
            "html",
        )
        if total[f]
    ]
    table("per form (every set)", ok, total, forms)
    for part, title in (("tuning", "template + free"), ("heldout", "held-out only")):
        cols = [f"{f}/{part}" for f in forms if total[f"{f}/{part}"]]
        if cols and len(sets) > 1:
            table(f"per form ({title})", ok, total, cols)
    print(f"{'ms/letter':<16}" + "".join(f"{'median':>9}{'p95':>9}{'n':>5}" for _ in range(3)))
    print(f"{'':<16}{'every set':>23}{'template + free':>23}{'held-out':>23}")
    for f in forms:
        row = f"{f:<16}"
        for key in (f, f"{f}/tuning", f"{f}/heldout"):
            q = times[key]
            row += f"{1000 * pct(q, 0.5):>9.0f}{1000 * pct(q, 0.95):>9.0f}{len(q):>5}" if q else " " * 23
        print(row)
    if misses:
        print()
        print("mismatches:")
        for (s, name), lines in sorted(misses.items()):
            for line in lines:
                print(f"  [{s}/{name}] {line}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
