"""Strict request parameters: numbers and redirect targets, parsed one way everywhere.

`str.isdigit()` is true for "²" and "①" (which `int()` refuses) and for twenty-digit numbers
(which the database refuses), so neither test is enough on its own: every numeric query, form,
path and JSON value goes through `parse_int`, every redirect target through `local_path`.
"""

from __future__ import annotations

from typing import Any

from flask import Request, abort
from werkzeug.routing import IntegerConverter, ValidationError

#: the largest value an INTEGER column holds on PostgreSQL (SQLite's hold 64 bits); ids and counts
MAX_INT = 2**31 - 1
#: ASCII control characters: browsers drop tab, CR and LF inside URLs ("/\t/evil" becomes "//evil"),
#: and a CR/LF in a Location header is refused by the server (it would answer 500)
_CONTROL = frozenset(chr(c) for c in (*range(0x20), 0x7F))


def parse_int(raw: Any, *, low: int = 0, high: int = MAX_INT) -> int | None:
    """The value as an int when it is ASCII digits (an int from JSON) within [low, high]; otherwise None."""
    if isinstance(raw, bool):  # JSON true/false are ints to Python, never a number here
        return None
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str):
        text = raw.strip()
        if not (text.isascii() and text.isdigit()) or len(text) > len(str(high)):
            return None
        value = int(text)
    else:
        return None
    return value if low <= value <= high else None


def parse_id(raw: Any) -> int | None:
    """A row id (1 to MAX_INT) or None."""
    return parse_int(raw, low=1)


def optional_int(raw: Any, what: str, *, low: int = 0, high: int = MAX_INT) -> int | None:
    """None when `raw` is empty; the number when valid; otherwise answer 400 naming `what`."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    value = parse_int(raw, low=low, high=high)
    if value is None:
        abort(400, f"{what}无效：应为 {low} 到 {high} 之间的整数。请返回上一页重新填写。")
    return value


def has_nul(request: Request) -> bool:
    """True when a query, form or JSON value holds a NUL character (PostgreSQL text cannot store it)."""
    if any("\x00" in v for v in (request.path, *request.args.values(), *request.form.values())):
        return True
    # in JSON a NUL is written "\u0000"; drop escaped backslashes first so "\\u0000" (text) still passes
    return request.is_json and "\\u0000" in request.get_data(as_text=True).replace("\\\\", "")


def local_path(target: str | None) -> str | None:
    """`target` when it is a path on this site, safe to redirect to; otherwise None.

    Refused: anything not starting with a single "/", a backslash anywhere (browsers read it as
    "/"), control characters and spaces (browsers drop some, servers refuse CR/LF in headers).
    """
    if not target or not target.startswith("/") or target.startswith("//"):
        return None
    if "\\" in target or " " in target or any(ch in _CONTROL for ch in target):
        return None
    return target


def is_local_path(target: str | None) -> bool:
    return local_path(target) is not None


class IdConverter(IntegerConverter):
    """`<int:...>` in routes: ASCII digits only, at most MAX_INT, so a huge id is a 404, not a 500."""

    regex = r"[0-9]+"  # werkzeug's r"\d+" also matches "²", which int() then refuses with a 500

    def to_python(self, value: str) -> Any:
        if len(value.lstrip("-")) > len(str(MAX_INT)) or int(value) > MAX_INT:
            raise ValidationError()
        return super().to_python(value)
