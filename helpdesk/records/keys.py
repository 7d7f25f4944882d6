"""How names, accounts and e-mail addresses are folded for comparison (pure functions)."""

from __future__ import annotations

import re
import unicodedata

_NOT_WORD = re.compile(r"[\W_]+")

#: bigrams of the legal form that nearly every company name carries: no use for narrowing
STOP_GRAMS = frozenset({"有限", "限公", "公司", "限责", "责任", "任公", "股份", "份有", "集团", "团有"})


def name_key(name: str | None) -> str:
    """Company name folded for comparison: NFKC (full/half width), no spaces or punctuation, lower-case."""
    return _NOT_WORD.sub("", unicodedata.normalize("NFKC", name or "")).lower()


def name_grams(key: str) -> set[str]:
    """The bigrams of a name key, less the legal-form ones; a one-character key is its own gram."""
    if len(key) < 2:
        return {key} if key else set()
    grams = {key[i : i + 2] for i in range(len(key) - 1)}
    return (grams - STOP_GRAMS) or grams


def account_key(account: str | None) -> str:
    """Account name as stored: NFKC, trimmed, lower-case, a damaged "ZXKT-" / "zxkt " prefix repaired."""
    key = unicodedata.normalize("NFKC", account or "").strip().lower()
    key = re.sub(r"\s*_\s*", "_", key)
    return re.sub(r"^zxkt\s*[-_ ]\s*", "zxkt_", key)


def account_variants(account: str | None) -> set[str]:
    """The stored names one written account may stand for: as given, with and without `zxkt_`."""
    key = account_key(account)
    if not key:
        return set()
    bare = key.removeprefix("zxkt_")
    return {key, bare, "zxkt_" + bare}


def email_key(email: str | None) -> str:
    return unicodedata.normalize("NFKC", email or "").strip().lower()
