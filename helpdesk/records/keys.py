"""How names, accounts and e-mail addresses are folded for comparison (pure functions)."""

from __future__ import annotations

import re
import unicodedata

_NOT_WORD = re.compile(r"[\W_]+")
_AROUND_UNDERSCORE = re.compile(r"\s*_\s*")
_DAMAGED_PREFIX = re.compile(r"^zxkt\s*[-_ ]\s*")

#: bigrams of the legal form that nearly every company name carries: no use for narrowing
STOP_GRAMS = frozenset({"有限", "限公", "公司", "限责", "责任", "任公", "股份", "份有", "集团", "团有"})


def name_key(name: str | None) -> str:
    """Company name folded for comparison: NFKC (full/half width), no spaces or punctuation, lower-case."""
    return _NOT_WORD.sub("", unicodedata.normalize("NFKC", name or "")).lower()


#: legal forms at the end of a name: they say nothing about which company it is
LEGAL_FORMS = ("股份有限公司", "有限责任公司", "集团有限公司", "有限公司", "集团公司", "分公司", "公司", "合伙企业")  # fmt: skip


def name_grams(key: str) -> set[str]:
    """The bigrams of a name key without its legal form; a one-character key is its own gram."""
    for form in LEGAL_FORMS:
        if key.endswith(form) and len(key) - len(form) >= 2:
            key = key[: -len(form)]
            break
    if len(key) < 2:
        return {key} if key else set()
    grams = {key[i : i + 2] for i in range(len(key) - 1)}
    return (grams - STOP_GRAMS) or grams


def account_key(account: str | None) -> str:
    """Account name as stored: NFKC, trimmed, lower-case, a damaged "ZXKT-" / "zxkt " prefix repaired."""
    raw = account or ""
    if raw.isascii():
        key = raw.strip().lower()
        if key.replace("_", "").isalnum() and (not key.startswith("zxkt") or key.startswith("zxkt_")):
            return key  # the usual case, without the repairs below
    else:
        key = unicodedata.normalize("NFKC", raw).strip().lower()
    key = _AROUND_UNDERSCORE.sub("_", key)
    return _DAMAGED_PREFIX.sub("zxkt_", key)


def account_variants(account: str | None) -> set[str]:
    """The stored names one written account may stand for: as given, with and without `zxkt_`."""
    key = account_key(account)
    if not key:
        return set()
    bare = key.removeprefix("zxkt_")
    return {key, bare, "zxkt_" + bare}


def email_key(email: str | None) -> str:
    raw = email or ""
    return (raw if raw.isascii() else unicodedata.normalize("NFKC", raw)).strip().lower()
