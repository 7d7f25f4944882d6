"""Steps 1 and 2 of `read`: the mail body split from its quoted part, and the scans OCR'd within a
time budget (the OCR and seal modules are optional: `optional()` loads them when they are there).
"""

from __future__ import annotations

import importlib
import re
import time
from types import ModuleType

from .roles import LETTER_NAME, LICENCE_NAME
from .sources import Source

# --- the mail body --------------------------------------------------------------------------------

_QUOTE_START = re.compile(
    r"^\s*(?:-{2,}\s*(?:原始邮件|Original Message|转发邮件|Forwarded message|回复的原邮件)\s*-{0,}"
    r"|(?:在|On)\s.{0,120}(?:写道|wrote)\s*[:：]?\s*$"
    r"|(?:发件人|From)\s*[:：].*$)",
    re.I | re.M,
)


def split_quoted(text: str) -> tuple[str, str]:
    """(new text, quoted text) of a mail body: "> " lines and everything after a reply header."""
    m = _QUOTE_START.search(text)
    head, tail = (text[: m.start()], text[m.start() :]) if m else (text, "")
    kept, quoted = [], [tail] if tail else []
    for line in head.splitlines():
        (quoted if line.lstrip().startswith(">") else kept).append(line)
    return "\n".join(kept).strip(), "\n".join(quoted)


def quoted_letter(quoted: str) -> str:
    """The quoted part without its "> " marks and reply headers (发件人/主题/From … lines)."""
    lines = []
    for line in quoted.splitlines():
        line = re.sub(r"^\s*(?:>\s?)+", "", line)
        if _QUOTE_START.match(line) or re.match(
            r"\s*(?:发件人|收件人|抄送|主题|发送时间|日期|时间|Sent|To|Cc|Subject|Date)\s*[:：]", line, re.I
        ):
            continue
        lines.append(line)
    return "\n".join(lines).strip()


# --- OCR and seal modules (written elsewhere; optional) -------------------------------------------


def optional(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"{__package__}.{name}")
    except Exception:  # ImportError, or a broken optional dependency underneath
        return None


def _ocr_priority(s: Source) -> int:
    if LETTER_NAME.search(s.filename):
        return 0
    if LICENCE_NAME.search(s.filename):
        return 2
    return 1


def run_ocr(sources: list[Source], ocr: bool, budget: float) -> tuple[str | None, list[str]]:
    """OCR the sources that need it, most letter-like names first; (state, errors)."""
    need = [s for s in sources if s.ocr_pages]
    if not need:
        return None, []
    if not ocr:
        return "pending", []
    mod = optional("ocr")
    try:
        ok = mod is not None and bool(mod.available())
    except Exception:
        ok = False
    if not ok:
        for s in need:
            s.problem, s.problem_code = "OCR 不可用，扫描件未识别", "ocr_unavailable"
        return "unavailable", []
    deadline = time.monotonic() + budget
    timed_out = False
    errors: list[str] = []
    for s in sorted(need, key=lambda s: (_ocr_priority(s), sources.index(s))):
        if time.monotonic() >= deadline:
            s.problem, s.problem_code = "OCR 超时，扫描件未识别", "ocr_timeout"
            timed_out = True
            continue
        t = time.perf_counter()
        try:
            if s.kind == "pdf":
                res = mod.ocr_pdf(s.data, deadline=deadline)
            elif s.kind == "ofd":
                res = mod.ocr_image(s.images[0], deadline=deadline)
            else:
                res = mod.ocr_image(s.data, deadline=deadline)
        except Exception as exc:
            s.problem, s.problem_code = f"OCR 出错（{type(exc).__name__}）", "ocr_error"
            errors.append(f"《{s.filename}》{s.problem}")
            continue
        finally:
            s.seconds += time.perf_counter() - t
        pages = [p or "" for p in (getattr(res, "pages", None) or [])]
        if s.kind == "pdf":
            for i in s.ocr_pages:
                if i < len(pages) and pages[i].strip():
                    s.pages[i] = pages[i]
        else:
            s.pages = pages or [getattr(res, "text", "") or ""]
        s.ocr_used = any(p.strip() for p in pages) or bool(getattr(res, "text", ""))
        s.ocr_pages = []
        error = getattr(res, "error", None)
        if error:
            if "超时" in error:
                timed_out = True
                s.problem, s.problem_code = error, "ocr_timeout"
            else:
                s.problem, s.problem_code = error, "ocr_error"
                errors.append(f"《{s.filename}》{error}")
    return ("timeout" if timed_out else None), errors
