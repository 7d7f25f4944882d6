"""Step 5 of `read`: the fields of the letter, letter sources first, then the body.

The company name (corrected from the subject or a file name when OCR damaged it), the codes (uscc,
org_code; a stated code that fails its check as invalid_code), whether the licence is attached.
"""

from __future__ import annotations

import re
from dataclasses import replace

from .codes import CodeMatch, find_codes
from .fields import code_cand
from .model import Evidence, Field
from .sources import Source
from .text import is_cjk, normalize
from .view import Cand

UNREAD_CODES = {
    "bomb",
    "corrupt",
    "encrypted",
    "doc",
    "oversize",
    "unreadable",
    "archive",
    "ocr_unavailable",
    "ocr_timeout",
    "ocr_error",
}


SINGLE_FIELDS = (
    "company_name",
    "account_names",
    "account_count",
    "target_accounts",
    "reason",
    "modification",
    "letter_date",
    "contact",
)


def company_from_names(c: Cand, names: list[str], subject: str) -> Cand:
    """The OCR'd company name corrected from the subject or a file name that spells it nearly alike.

    OCR damages rare characters of a name (镕, 喆 …); the enterprise typed the same name in the
    subject or the file name. Same length, same ending, at most two characters apart: take the
    typed one, keep the OCR reading as `original`, and quote the typed text as the evidence.
    """
    ocr = str(c.value)
    for k, text in enumerate(names):
        text = normalize(text, flat=True).text
        # the typed name ends where the OCR'd one does ("…有限公司"); it may be one character longer
        # or shorter (OCR drops a character it cannot read, or reads one as two)
        end = text.find(ocr[-2:])
        spans = [(end + 2 - n, end + 2) for n in (len(ocr) - 1, len(ocr), len(ocr) + 1)] if end >= 0 else []
        tries = sorted(
            (_edits(text[max(0, i) : j], ocr), abs(j - i - len(ocr)), text[max(0, i) : j]) for i, j in spans
        )
        for diff, _, typed in tries[:1]:
            if 0 < diff <= 2 and len(typed) >= 4 and all(is_cjk(ch) or ch in "()" for ch in typed):
                where = "subject" if k == 0 else "filename"
                return replace(
                    c,
                    value=typed,
                    label=where,
                    evidence=typed,
                    page=None,
                    start=None,
                    end=None,
                    repaired=True,
                    original=ocr,
                )
    return c


def _edits(a: str, b: str) -> int:
    """Levenshtein distance of two short strings."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def field(c: Cand) -> Field:
    return Field(
        c.name,
        c.value,
        Evidence(c.label, c.evidence, c.page, c.start, c.end),
        c.confidence,
        c.repaired,
        c.original,
    )


def company_where(c: Cand) -> str:
    where = "邮件正文" if c.label == "body" else f"附件《{c.label.split(':', 1)[-1]}》"
    return where


def has_licence(sources: list[Source], licences: list[Source]) -> tuple[bool, Field] | None:
    """(attached?, field), or None when an unread file might be the licence."""
    for s in licences:
        m = re.search(r"营\s*业\s*执\s*照|统一社会信用代码", s.text)
        snippet = m.group(0) if m else s.text[:20]
        page = s.page_of(m.start()) if m else None
        conf = 0.8 if s.ocr_used else 0.95
        return True, Field(
            "has_licence",
            True,
            Evidence(s.label, snippet, page, m.start() if m else None, m.end() if m else None),
            conf,
        )
    for s in sources:
        if s.role == "licence":  # by file name only: the scan was not read
            return True, Field("has_licence", True, Evidence("filename", s.filename), 0.6)
    if any(s.problem_code in UNREAD_CODES or (s.needs_ocr and s.role == "other") for s in sources):
        return None
    names = "、".join(s.filename for s in sources) or "（无附件）"
    return False, Field("has_licence", False, Evidence("filename", names), 0.9)


def codes(
    sources: list[Source], body: Source | None, subject: str, view, old_values: list, paired_values: list
) -> tuple[list[Field], list[tuple[str, CodeMatch]]]:
    """uscc / org_code fields (valid or repaired, first sighting of each) and every candidate.

    The old value of a change letter is the wrong code being corrected: it is never repaired.
    """
    olds = {str(o).replace("-", "") for o in old_values}
    paired = {str(o).replace("-", "") for o in paired_values}
    invalid_seen: set[str] = set()
    fields: list[Field] = []
    matches: list[tuple[str, CodeMatch]] = []
    seen: set[tuple[str, str]] = set()
    ordered = [s for s in sources if s.role == "letter"] + [s for s in sources if s.role != "letter"]
    for s in ordered + ([body] if body is not None else []):
        if not s.text.strip():
            continue
        v = view(s)
        for m in find_codes(s.text, repair=v.repair):
            if m.repaired and m.original in olds:
                m = replace(m, value=m.original, valid=False, repaired=False, original=None)
            matches.append((s.label, m))
            if m.valid:
                c = code_cand(v, m)
                if (c.name, c.value) not in seen:
                    seen.add((c.name, c.value))
                    fields.append(field(c))
            elif (s.role == "letter" or s is body) and m.value not in olds | paired | invalid_seen:
                # a code the letter states that fails its check: the agent must see it as a value
                invalid_seen.add(m.value)
                value = m.value if m.kind == "uscc" else f"{m.value[:8]}-{m.value[8:]}"
                fields.append(
                    Field(
                        "invalid_code",
                        value,
                        Evidence(s.label, m.raw, s.page_of(m.start), m.start, m.end),
                        0.8,
                    )
                )
    if subject.strip():
        for m in find_codes(subject, repair="alphabet"):
            matches.append(("subject", m))
            if m.valid:
                value = m.value if m.kind == "uscc" else f"{m.value[:8]}-{m.value[8]}"
                if (m.kind, value) not in seen:
                    seen.add((m.kind, value))
                    fields.append(
                        Field(
                            m.kind,
                            value,
                            Evidence("subject", m.raw, None, m.start, m.end),
                            0.8,
                            m.repaired,
                            m.original,
                        )
                    )
    return fields, matches
