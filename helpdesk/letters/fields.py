"""Field extraction from the text of one source (a letter, a licence, a mail body).

Extraction runs on a normalised copy of the text (`text.normalize`: NFKC, so "（" is "(" and "："
is ":"; no spaces between Chinese characters; line breaks joined) in which the template's
placeholders — "（公司名称）", "（账号信息）", "XXXX" … — are masked out, so they are never taken as values.
Values are NFKC-normalised text; the evidence quotes the source as written.

Stages: `view.py` (the text fields are read from), `company.py`, `accounts.py`, `changes.py`
(reason, modification, old/new values), `dates.py` (date, contact); this module: codes and `extract_all`.
"""

from __future__ import annotations

from .accounts import extract_accounts
from .changes import extract_change, extract_reason
from .codes import find_codes
from .company import extract_company
from .dates import extract_contact, extract_date
from .view import Cand, View

# --- codes ----------------------------------------------------------------------------------------


def code_cand(v: View, c) -> Cand:
    """A uscc / org_code candidate out of a valid `codes.CodeMatch` found in `v.raw`."""
    value = c.value if c.kind == "uscc" else f"{c.value[:8]}-{c.value[8]}"
    conf = (0.99 if c.keyword else 0.95) if not c.repaired else 0.8
    return Cand(
        c.kind,
        value,
        v.label,
        c.start,
        c.end,
        c.raw,
        v.page_of(c.start),
        round(conf * v.factor, 3),
        c.repaired,
        c.original,
    )


def extract_codes(v: View) -> list[Cand]:
    return [code_cand(v, c) for c in find_codes(v.raw, repair=v.repair) if c.valid]


def extract_all(v: View) -> list[Cand]:
    """Every candidate in one letter-like source, in a stable order."""
    out: list[Cand] = []
    out += extract_company(v)
    out += extract_accounts(v)
    out += extract_reason(v)
    out += extract_change(v)
    out += extract_date(v)
    out += extract_contact(v)
    return out
