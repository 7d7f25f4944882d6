"""Structured logs: one line per event, as key=value (default) or JSON (HELPDESK_LOG_FORMAT).

Every line carries the request id of the web request it belongs to (from X-Request-ID or made up,
see helpdesk.core.ops_web) and the ticket number where there is one. Pure: no Flask, no database.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

#: the current web request's id; "-" outside a request (the worker, commands)
request_id: ContextVar[str] = ContextVar("helpdesk_request_id", default="-")

#: the LogRecord attributes every record has: anything else was passed in `extra=` and is printed
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}
_HANDLER_MARK = "_helpdesk_structured"


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id.get()
        return True


def fields(record: logging.LogRecord) -> dict[str, Any]:
    """The event as ordered fields: time, level, logger, message, request id, then the extras."""
    out: dict[str, Any] = {
        "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
        "level": record.levelname,
        "logger": record.name,
        "msg": record.getMessage(),
        "request_id": getattr(record, "request_id", request_id.get()),
    }
    for key, value in vars(record).items():
        if key not in _STANDARD and key not in out:
            out[key] = value
    if record.exc_info:
        out["exc"] = logging.Formatter().formatException(record.exc_info)
    return out


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(fields(record), ensure_ascii=False, default=str)


class KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return " ".join(f"{key}={_kv(value)}" for key, value in fields(record).items())


def _kv(value: Any) -> str:
    text = str(value)
    # one event, one line: quote anything with spaces, quotes, = or line breaks
    if text and not any(c in text for c in ' "=\n\r\t'):
        return text
    return json.dumps(text, ensure_ascii=False)


def formatter(kind: str) -> logging.Formatter:
    return JsonFormatter() if kind == "json" else KeyValueFormatter()


def configure(kind: str, level: int = logging.INFO) -> None:
    """Send every log record to stderr as one structured line; safe to call again (replaces ours)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(formatter(kind))
    handler.addFilter(RequestIdFilter())
    root.addHandler(handler)
    if root.level > level or root.level == logging.NOTSET:
        root.setLevel(level)
