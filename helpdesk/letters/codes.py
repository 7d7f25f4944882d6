"""统一社会信用代码 (USCC, GB 32100-2015) and 组织机构代码 (GB 11714-1997): checks, search, repair.

Both checks are exact algorithms, so a code either passes or it does not. A failing code is repaired
only when the checksums leave exactly one possible answer:

* one character outside the USCC alphabet (OCR reads "0" as "O", "1" as "I", "2" as "Z", "5" as "S",
  "U" as "V"): the position of the error is known, so the USCC check (mod 31, every weight invertible)
  fixes it. When the position lies in the embedded organisation code (positions 9-17), that code's
  own check must agree as well;
* every character in the alphabet but the USCC check fails: a single substitution is accepted only
  when it satisfies *both* the USCC check and the embedded organisation-code check, and no other
  single substitution does.

A single wrong character is therefore never "repaired" into a different wrong code (the tests try
every single-character mutation of real codes). Every repair keeps the original text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from .text import normalize

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"  # no I, O, S, V, Z
_USCC_VALUE = {c: i for i, c in enumerate(USCC_ALPHABET)}
_USCC_WEIGHTS = tuple(pow(3, i, 31) for i in range(17))  # 1, 3, 9, 27, 19, 26, 16, ...
_ORG_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)
_ORG_BODY = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"

#: position 1: registration authority (1 机构编制, 5 民政, 9 工商/市场监管, Y 其他 ...)
_AUTHORITIES = "123456789ANY"

#: registration authority + entity type pairs in use (GB 32100-2015 table 1 and later additions)
_USCC_PREFIXES = frozenset(
    [
        "11",
        "12",
        "13",
        "19",
        "21",
        "29",
        "31",
        "32",
        "33",
        "34",
        "35",
        "39",
        "41",
        "49",
        "51",
        "52",
        "53",
        "59",
        "61",
        "62",
        "69",
        "71",
        "72",
        "79",
        "81",
        "89",
        "91",
        "92",
        "93",
        "A1",
        "A9",
        "N1",
        "N2",
        "N3",
        "N9",
        "Y1",
    ]
)

#: characters OCR commonly reads in place of an alphabet character (read -> meant)
OCR_CONFUSIONS: dict[str, str] = {
    "O": "0",
    "Q": "0",
    "D": "0",
    "I": "1",
    "L": "1",
    "Z": "2",
    "S": "5",
    "V": "U",
}


def uscc_check_char(body17: str) -> str:
    """The check character (18th) of a USCC whose first 17 characters are `body17`."""
    total = sum(_USCC_VALUE[c] * w for c, w in zip(body17, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def org_check_char(body8: str) -> str:
    """The check character (9th) of an organisation code whose first 8 characters are `body8`."""
    total = sum(_ORG_BODY.index(c) * w for c, w in zip(body8, _ORG_WEIGHTS, strict=True))
    c = 11 - total % 11
    return "X" if c == 10 else "0" if c == 11 else str(c)


def is_valid_org_code(code: str) -> bool:
    """True for a 9-character organisation code (an optional "-" before the check) that passes."""
    code = code.replace("-", "")
    if len(code) != 9 or any(c not in _ORG_BODY for c in code[:8]):
        return False
    return org_check_char(code[:8]) == code[8]


def is_valid_uscc(code: str) -> bool:
    """True for an 18-character USCC that passes its own check and its embedded org-code check."""
    if len(code) != 18 or any(c not in _USCC_VALUE for c in code):
        return False
    return uscc_check_char(code[:17]) == code[17] and is_valid_org_code(code[8:17])


def uscc_checksum_ok(code: str) -> bool:
    """True when only the USCC check (mod 31) holds; the embedded org code is not looked at."""
    if len(code) != 18 or any(c not in _USCC_VALUE for c in code):
        return False
    return uscc_check_char(code[:17]) == code[17]


def embedded_org_code(uscc: str) -> str:
    """The organisation code inside a USCC, in the usual "XXXXXXXX-X" form."""
    return f"{uscc[8:16]}-{uscc[16]}"


def _structure_ok(code: str) -> bool:
    return code[0] in _AUTHORITIES and code[2:8].isdigit()


def repair_uscc(code: str, *, in_alphabet: bool = True) -> str | None:
    """The unique valid USCC one character away from `code` (see module doc), else None.

    With ``in_alphabet=False`` only a character outside the alphabet is repaired (typed text: a
    wrong digit there is the writer's, not the scanner's, and is not guessed at).
    """
    code = code.upper()
    if len(code) != 18:
        return None
    bad = [i for i, c in enumerate(code) if c not in _USCC_VALUE]
    if len(bad) > 1:
        return None
    if bad:
        fixed = _solve(code, bad[0])
        return fixed if fixed is not None and is_valid_uscc(fixed) and _structure_ok(fixed) else None
    if is_valid_uscc(code):
        return code
    if not in_alphabet or is_valid_org_code(code[8:17]):
        # the error lies in positions 1-8 or 18: each has its own answer, so none is unique
        return None
    sols = [
        s
        for i in range(8, 17)
        if (s := _solve(code, i)) is not None and s != code and is_valid_uscc(s) and _structure_ok(s)
    ]
    return sols[0] if len(sols) == 1 else None


def _solve(code: str, i: int) -> str | None:
    """`code` with position `i` set to the one character that satisfies the USCC check."""
    if i == 17:
        return code[:17] + uscc_check_char(code[:17])
    total = sum(
        _USCC_VALUE[c] * w for k, (c, w) in enumerate(zip(code[:17], _USCC_WEIGHTS, strict=True)) if k != i
    )
    check = _USCC_VALUE.get(code[17])
    if check is None:
        return None
    # (total + v * w_i + check) % 31 == 0, and w_i = 3^i has an inverse mod 31
    v = (-(total + check) * pow(_USCC_WEIGHTS[i], -1, 31)) % 31
    return code[:i] + USCC_ALPHABET[v] + code[i + 1 :]


def repair_org_code(code: str) -> str | None:
    """An organisation code with one OCR-confused character, fixed when exactly one answer passes."""
    code = code.upper().replace("-", "")
    if len(code) != 9:
        return None
    if is_valid_org_code(code):
        return code
    cand = []
    for i, c in enumerate(code):
        meant = OCR_CONFUSIONS.get(c)
        if meant is not None:
            s = code[:i] + meant + code[i + 1 :]
            if is_valid_org_code(s):
                cand.append(s)
    return cand[0] if len(cand) == 1 else None


def is_valid_id_card(code: str) -> bool:
    """A resident identity card number (GB 11643): 18 characters, birth date, mod 11-2 check."""
    if len(code) != 18 or not code[:17].isdigit():
        return False
    try:
        date(int(code[6:10]), int(code[10:12]), int(code[12:14]))
    except ValueError:
        return False
    weights = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
    total = sum(int(c) * w for c, w in zip(code[:17], weights, strict=True))
    return "10X98765432"[total % 11] == code[17]


def _looks_like_id_card(code: str) -> bool:
    if is_valid_id_card(code):
        return True
    if not code[:17].isdigit():
        return False
    try:
        born = date(int(code[6:10]), int(code[10:12]), int(code[12:14]))
    except ValueError:
        return False
    return 1900 <= born.year <= 2030


@dataclass(frozen=True, slots=True)
class CodeMatch:
    """A code candidate found in text."""

    kind: str  #: "uscc" or "org_code"
    value: str  #: normalised (upper case, no separators), repaired when `repaired`
    raw: str  #: the text exactly as found
    start: int  #: offsets into the searched text
    end: int
    valid: bool  #: value passes its check(s)
    repaired: bool = False
    original: str | None = None  #: normalised value before repair
    keyword: bool = False  #: a label such as "统一社会信用代码" stands just before it

    @property
    def embedded_org(self) -> str | None:
        return embedded_org_code(self.value) if self.kind == "uscc" and len(self.value) == 18 else None


_CHUNK = re.compile(r"[0-9A-Za-z]+")
_SEP = re.compile(r" ?- ?|[ \n]")  # between chunks of one code: a space, a hyphen or a line break
_USCC_KW = re.compile(
    r"(统一社会信用代码|社会信用代码|信用代码|USCC|纳税人识别号|税号)\s*(号码)?\s*[:：为是]?\s*$"
)
_ORG_KW = re.compile(r"(组织机构代码|机构代码|组织代码)\s*(证)?\s*(号码)?\s*[:：为是]?\s*$")
_ANY_KW = re.compile(r"(代码|税号|识别号)[^。\n]{0,6}$")


def _runs(text: str) -> list[list[re.Match[str]]]:
    """Alphanumeric chunks grouped into runs joined by a single separator character."""
    runs: list[list[re.Match[str]]] = []
    last_end = -2
    for m in _CHUNK.finditer(text):
        gap = text[last_end : m.start()] if last_end >= 0 else None
        if runs and gap is not None and _SEP.fullmatch(gap):
            runs[-1].append(m)
        else:
            runs.append([m])
        last_end = m.end()
    return runs


def _uscc_plausible(v: str) -> bool:
    digits = sum(c.isdigit() for c in v)
    return digits >= 7 and v[2:8].replace("O", "0").replace("o", "0").isdigit()


def find_codes(text: str, *, repair: str = "all") -> list[CodeMatch]:
    """Every USCC and organisation-code candidate in `text`, in order, with offsets into `text`.

    Codes may carry spaces, hyphens or one line break between groups, full-width characters and
    lower-case letters. Failing candidates are returned with ``valid=False`` (unless they are
    resident ID numbers, which are skipped), repairable ones with ``repaired=True``. `repair`:
    "all" (OCR text), "alphabet" (typed text: only characters outside the alphabet), "none".
    """
    nt = normalize(text, flat=False)
    s = nt.text
    out: list[CodeMatch] = []
    taken: list[tuple[int, int]] = []

    def overlaps(i: int, j: int) -> bool:
        return any(i < b and a < j for a, b in taken)

    for run in _runs(s):
        lens = [m.end() - m.start() for m in run]
        for a in range(len(run)):
            total = 0
            for b in range(a, len(run)):
                total += lens[b]
                if total > 18:
                    break
                if total != 18:
                    continue
                i, j = run[a].start(), run[b].end()
                if overlaps(i, j):
                    break
                value = "".join(m.group() for m in run[a : b + 1]).upper()
                before = s[max(0, i - 24) : i]
                kw = bool(_USCC_KW.search(before))
                if not _uscc_plausible(value):
                    break
                match = _make_uscc(value, kw, repair)
                if match is None:
                    break
                if not match[0] and not kw and _looks_like_id_card(value):
                    break  # a person's ID number, not a company code
                si, sj = nt.span(i, j)
                out.append(CodeMatch("uscc", match[1], text[si:sj], si, sj, match[0], match[2], match[3], kw))
                taken.append((i, j))
                break
    # organisation codes: "XXXXXXXX-X" after a "代码" label or passing its check, or 9 characters
    # right after an organisation-code label
    for run in _runs(s):
        for a in range(len(run)):
            total = 0
            for b in range(a, len(run)):
                total += run[b].end() - run[b].start()
                if total > 9:
                    break
                if total != 9:
                    continue
                i, j = run[a].start(), run[b].end()
                if overlaps(i, j):
                    break
                value = "".join(m.group() for m in run[a : b + 1]).upper()
                has_dash = "-" in s[i:j]
                valid = is_valid_org_code(value)
                before = s[max(0, i - 24) : i]
                kw = bool(_ORG_KW.search(before))
                if not (kw or (has_dash and (_ANY_KW.search(before) or valid))):
                    break
                if not value.isascii() or (not valid and sum(c.isdigit() for c in value) < 3):
                    break
                repaired = False
                original = None
                if not valid and repair != "none":
                    fixed = repair_org_code(value)
                    if fixed is not None and fixed != value:
                        original, value, valid, repaired = value, fixed, True, True
                si, sj = nt.span(i, j)
                out.append(CodeMatch("org_code", value, text[si:sj], si, sj, valid, repaired, original, kw))
                taken.append((i, j))
                break
    out.sort(key=lambda c: c.start)
    return out


def _make_uscc(value: str, kw: bool, repair: str = "all") -> tuple[bool, str, bool, str | None] | None:
    """(valid, value, repaired, original) for a candidate, or None when it is not a USCC at all."""
    if is_valid_uscc(value):
        return True, value, False, None
    fixed = None if repair == "none" else repair_uscc(value, in_alphabet=repair == "all")
    if fixed is not None:
        return True, fixed, True, value
    if not kw and (any(c not in _USCC_VALUE for c in value) or value[:2] not in _USCC_PREFIXES):
        # no label, and not shaped like a USCC: an account name, a bank account, a reference
        return None
    return False, value, False, None


def normalize_code(raw: str) -> str:
    """Upper case, half-width, no separators: how a code is compared."""
    t = normalize(raw, flat=True).text
    return re.sub(r"[\s\-]", "", t).upper()


def check_code(raw: str, *, repair: str = "all") -> CodeMatch | None:
    """Treat the whole of `raw` as one code (as stated next to "由…变更为…"); None if not code-shaped."""
    v = normalize_code(raw)
    if len(v) == 18 and v.isalnum() and v.isascii():
        made = _make_uscc(v, True, repair)
        if made is None:
            return None
        return CodeMatch("uscc", made[1], raw, 0, len(raw), made[0], made[2], made[3], True)
    if len(v) == 9 and v.isalnum() and v.isascii():
        valid = is_valid_org_code(v)
        fixed = None if valid or repair == "none" else repair_org_code(v)
        if fixed:
            return CodeMatch("org_code", fixed, raw, 0, len(raw), True, True, v, True)
        return CodeMatch("org_code", v, raw, 0, len(raw), valid, False, None, True)
    return None
