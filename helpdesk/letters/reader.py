"""`read(mail) -> Letter`: the one entry point of the letters package.

Steps: 1. read every attachment (sniffed by content) and the mail body; 2. OCR the scans, within a
time budget (or leave them for a second pass when ``ocr=False``); 3. decide from the text which file
is the letter and which the business licence; 4. classify; 5. extract fields, letter sources first,
then the body; 6. detect the seal on the letter; 7. run the checks. Nothing raises out of `read`.
"""

from __future__ import annotations

import importlib
import io
import logging
import re
import time
from dataclasses import replace
from datetime import date
from types import ModuleType

from ..mail.html import html_to_text
from ..mail.parsed import ParsedMail
from . import findings as checks
from .classify import classify, letter_structure, title_type
from .codes import CodeMatch, find_codes
from .company import extract_company
from .fields import code_cand, extract_all
from .model import Evidence, Field, Finding, Letter, SourceInfo
from .sniff import IMAGE_KINDS
from .sources import Source, from_attachment
from .text import is_cjk, normalize
from .view import Cand, View, make_view

log = logging.getLogger(__name__)

MAX_ATTACHMENTS = 20
SMALL_INLINE_IMAGE = 12 * 1024  #: inline images below this are logos and signatures, not scans
MAX_SEAL_CHECKS = 4
OCR_FACTOR = 0.85  #: confidence factor for text read by OCR

_LICENCE_WORDS = (
    "营业执照",
    "统一社会信用代码",
    "法定代表人",
    "注册资本",
    "成立日期",
    "登记机关",
    "经营范围",
    "营业期限",
    "住所",
    "市场监督管理",
    "国家企业信用信息公示系统",
    "执行事务合伙人",
    "经营者",
)
_LETTER_WORDS = (
    "说明",
    "项目组",
    "特此",
    "现申请",
    "无影响",
    "申报项目",
    "统一平台",
    "专项资金",
    "盖章",
    "由于",
)
_LICENCE_NAME = re.compile(r"营业执照|执照|license|licence|营业", re.I)
_LETTER_NAME = re.compile(r"说明|变更|解绑|注销|申请|函")
_KIND_RANK = {"docx": 0, "pdf": 1, "ofd": 2, "doc": 3, "rtf": 3, "text": 3, "html": 4}
_UNREAD_CODES = {
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


def read(
    mail: ParsedMail,
    *,
    today: date | None = None,
    ocr: bool = True,
    ocr_budget_s: float = 30.0,
    max_letter_age_days: int = 180,
) -> Letter:
    """Understand a parsed mail: its type, fields with evidence, and findings. Never raises."""
    started = time.perf_counter()
    try:
        return _read(mail, today or date.today(), ocr, ocr_budget_s, max_letter_age_days, started)
    except Exception as exc:  # the last guard: a bug here must still give the mail a ticket
        log.exception("letters.read failed on %s", getattr(mail, "message_id", "?"))
        return Letter(
            type="inquiry",
            type_reasons=("读取时出现内部错误，按咨询处理",),
            findings=(
                Finding(
                    "internal_error",
                    "unknown",
                    f"系统读取邮件时出错（{type(exc).__name__}），请人工查看邮件和附件",
                ),
            ),
            timings={"total": round(time.perf_counter() - started, 4)},
        )


def _read(mail: ParsedMail, today: date, ocr: bool, budget: float, max_age: int, started: float) -> Letter:
    timings: dict[str, float] = {}
    lap = time.perf_counter()

    # 1. sources
    sources: list[Source] = []
    for att in mail.attachments[:MAX_ATTACHMENTS]:
        sources += from_attachment(
            att.filename or "未命名附件", att.data, inline=att.inline, problem=att.problem
        )
    for s in sources:
        if s.inline and s.kind in IMAGE_KINDS and len(s.data) < SMALL_INLINE_IMAGE:
            s.ocr_pages, s.images, s.image_pages = [], [], []
    body_text, quoted = split_quoted(mail.text or html_to_text(mail.html or ""))
    if not is_letter_text(body_text) and is_letter_text(quoted):
        # "以下是我们之前发的说明" with the letter quoted below: the quote carries the letter
        body_text, quoted = _quoted_letter(quoted), ""
    body = Source("body", "", "body", pages=[body_text]) if body_text.strip() else None
    timings["extract"] = _lap(lap)
    lap = time.perf_counter()

    # 2. OCR
    ocr_state, ocr_errors = _run_ocr(sources, ocr, budget)
    timings["ocr"] = _lap(lap)
    lap = time.perf_counter()

    # 3. roles
    for s in sources:
        _assign_role(s)
    if body is not None:
        body.page_roles = ["letter" if is_letter_text(body_text) else "other"]
        body.role = body.page_roles[0]
    letters = sorted(
        (s for s in sources if s.role == "letter"),
        key=lambda s: (
            5 if s.ocr_used or s.kind in IMAGE_KINDS else _KIND_RANK.get(s.kind, 4),
            sources.index(s),
        ),
    )
    letters_with_text = [s for s in letters if s.text.strip()]
    main = letters[0] if letters else (body if body is not None and body.role == "letter" else None)
    if body is not None and body.role == "letter" and (not letters_with_text):
        letters_with_text.append(body)

    views: dict[int, View] = {}

    def view(s: Source) -> View:
        if id(s) not in views:
            factor = OCR_FACTOR if s.ocr_used else (0.95 if s.kind == "body" else 1.0)
            repair = "all" if s.ocr_used else "alphabet"
            views[id(s)] = make_view(s.label, s.text, page_of=s.page_of, factor=factor, repair=repair)
        return views[id(s)]

    # 4. type
    kind, reasons = classify(
        letter_texts=[(s.label, s.text) for s in letters_with_text],
        body=body_text,
        subject=mail.subject or "",
        filenames=[s.filename for s in sources],
        quoted=quoted,
    )
    timings["classify"] = _lap(lap)
    lap = time.perf_counter()

    # 5. fields
    field_sources = [s for s in letters_with_text if s is not body] + ([body] if body is not None else [])
    chosen: dict[str, Cand] = {}
    alts: list[tuple[str, str]] = []
    pairs: list[Cand] = []  #: old_value / new_value, in pairs, from the first source that has any
    for s in field_sources:
        found = extract_all(view(s))
        if not pairs:
            pairs = [c for c in found if c.name in ("old_value", "new_value")]
        for c in found:
            best = chosen.get(c.name)
            if best is None or best.label == c.label and c.confidence > best.confidence:
                chosen[c.name] = c
            if c.name == "company_name":
                alts.append((c.value, _company_where(c)))
    licences = [s for s in sources if "licence" in s.page_roles and s.text.strip()]
    for s in licences:
        for c in extract_company(view(s), licence=True):
            alts.append((c.value, f"附件《{s.filename}》营业执照"))
            if "company_name" not in chosen:
                chosen["company_name"] = c
    ocr_labels = {s.label for s in sources if s.ocr_used}
    if "company_name" in chosen and chosen["company_name"].label in ocr_labels:
        names = [mail.subject or ""] + [re.sub(r"\.[A-Za-z0-9]{2,5}$", "", s.filename) for s in sources]
        chosen["company_name"] = _company_from_names(chosen["company_name"], names, mail.subject or "")
    fields: list[Field] = [_field(chosen[n]) for n in _SINGLE_FIELDS if n in chosen]
    fields += [_field(c) for c in pairs]
    main_company = chosen.get("company_name")
    company_alts = [
        (v, w)
        for v, w in alts
        if main_company is None or (v, w) != (main_company.value, _company_where(main_company))
    ]

    olds = [c.value for c in pairs if c.name == "old_value"]
    code_fields, code_matches = _codes(
        sources, body, mail.subject or "", view, olds, [c.value for c in pairs]
    )
    fields += code_fields

    has_licence = _has_licence(sources, licences)
    if has_licence is not None and (kind in checks.LETTER_KINDS or has_licence[0]):
        fields.append(has_licence[1])
    timings["fields"] = _lap(lap)
    lap = time.perf_counter()

    # 6. seal
    seal = ("unknown", "")
    if kind in checks.LETTER_KINDS:
        seal, seal_label = _seal(main)
        fields.append(
            Field("seal", seal[0], Evidence(seal_label, seal[1]), 0.7 if seal[0] != "unknown" else 0.0)
        )
    timings["seal"] = _lap(lap)
    lap = time.perf_counter()

    # 7. findings
    placeholders = view(main).placeholders if main is not None and main.text.strip() else []
    unread = any(s.problem_code in _UNREAD_CODES or (s.needs_ocr and s.role == "other") for s in sources)
    ctx = checks.Context(
        type=kind,
        fields=fields,
        sources=sources,
        codes=code_matches,
        placeholders=placeholders,
        seal=seal,
        has_licence=has_licence[0] if has_licence is not None else None,
        letter_label=main.label if main is not None else None,
        letter_unread=unread,
        today=today,
        max_age_days=max_age,
        ocr_state=ocr_state,
        ocr_errors=ocr_errors,
        company_alts=company_alts,
    )
    found = checks.all_findings(ctx)
    if len(mail.attachments) > MAX_ATTACHMENTS:
        found.append(
            Finding(
                "attachment_problem",
                "unknown",
                f"邮件有 {len(mail.attachments)} 个附件，只读取了前 {MAX_ATTACHMENTS} 个",
            )
        )
    timings["findings"] = _lap(lap)

    infos = [
        SourceInfo(
            filename=s.filename,
            kind=s.kind,
            role=s.role,
            chars=len(s.text),
            pages=len(s.pages),
            ocr=s.ocr_used,
            seconds=round(s.seconds, 4),
            problem=s.problem,
        )
        for s in sources
    ]
    if body is not None:
        infos.append(SourceInfo("", "body", body.role, chars=len(body_text), pages=1))
    timings["total"] = _lap(started)
    return Letter(
        type=kind,
        type_reasons=reasons,
        fields=tuple(fields),
        findings=tuple(found),
        sources=tuple(infos),
        timings=timings,
        ocr_pending=ocr_state == "pending",
    )


_SINGLE_FIELDS = (
    "company_name",
    "account_names",
    "account_count",
    "target_accounts",
    "reason",
    "modification",
    "letter_date",
    "contact",
)


def _company_from_names(c: Cand, names: list[str], subject: str) -> Cand:
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


def _lap(since: float) -> float:
    return round(time.perf_counter() - since, 4)


def _field(c: Cand) -> Field:
    return Field(
        c.name,
        c.value,
        Evidence(c.label, c.evidence, c.page, c.start, c.end),
        c.confidence,
        c.repaired,
        c.original,
    )


def _company_where(c: Cand) -> str:
    where = "邮件正文" if c.label == "body" else f"附件《{c.label.split(':', 1)[-1]}》"
    return where


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


def _quoted_letter(quoted: str) -> str:
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


def _optional(name: str) -> ModuleType | None:
    try:
        return importlib.import_module(f"{__package__}.{name}")
    except Exception:  # ImportError, or a broken optional dependency underneath
        return None


def _ocr_priority(s: Source) -> int:
    if _LETTER_NAME.search(s.filename):
        return 0
    if _LICENCE_NAME.search(s.filename):
        return 2
    return 1


def _run_ocr(sources: list[Source], ocr: bool, budget: float) -> tuple[str | None, list[str]]:
    """OCR the sources that need it, most letter-like names first; (state, errors)."""
    need = [s for s in sources if s.ocr_pages]
    if not need:
        return None, []
    if not ocr:
        return "pending", []
    mod = _optional("ocr")
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


def _licence_score(text: str) -> int:
    return sum(w in text for w in _LICENCE_WORDS)


def _licence_title(page: str) -> bool:
    head = [re.sub(r"\s+", "", ln) for ln in page.splitlines() if ln.strip()][:3]
    return any(ln.startswith("营业执照") and len(ln) <= 12 for ln in head)


def is_letter_text(text: str) -> bool:
    """Text laid out like a letter (a mail body, a quoted part)."""
    # a short covering note ("老师您好，附件是说明，麻烦处理") has a salutation and a request too;
    # a letter also has its title, or more of a letter's parts
    return title_type(text) is not None or letter_structure(text) >= 4 or _letter_score(text) >= 3


def _letter_score(text: str) -> int:
    flat = re.sub(r"\s+", "", text)
    return sum(w in flat for w in _LETTER_WORDS)


def _assign_role(s: Source) -> None:
    roles = []
    for page in s.pages:
        flat = re.sub(r"\s+", "", page)
        lic, let = _licence_score(flat), _letter_score(flat)
        shape = letter_structure(page)
        # the role comes from the page's layout (title, salutation, request, closing, date), not from
        # a count of licence words: a letter may quote the licence's 统一社会信用代码 and 法定代表人
        if shape >= 3 or (let >= 2 and not _licence_title(page)):
            roles.append("letter")
        elif lic >= 3:
            roles.append("licence")
        elif page.strip():
            roles.append("other")
        else:
            roles.append("")
    if any(r in ("letter", "licence") for r in roles):
        s.role = "letter" if "letter" in roles else "licence"
    elif s.kind in ("exe", "empty") or s.problem_code in ("exe", "empty", "format"):
        s.role = "other"
    elif not any(roles) or not s.text.strip():
        # nothing readable: the file name is all we have (a tie-breaker otherwise)
        if _LICENCE_NAME.search(s.filename):
            s.role, roles = "licence", ["licence"] * max(1, len(roles))
        elif _LETTER_NAME.search(s.filename):
            s.role, roles = "letter", ["letter"] * max(1, len(roles))
    elif all(r in ("other", "") for r in roles):
        if _LICENCE_NAME.search(s.filename) and _licence_score(s.text) >= 1:
            s.role, roles = "licence", ["licence" if r else r for r in roles]
        elif _LETTER_NAME.search(s.filename) and _letter_score(s.text) >= 1:
            s.role, roles = "letter", ["letter" if r else r for r in roles]
    s.page_roles = roles


def _has_licence(sources: list[Source], licences: list[Source]) -> tuple[bool, Field] | None:
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
    if any(s.problem_code in _UNREAD_CODES or (s.needs_ocr and s.role == "other") for s in sources):
        return None
    names = "、".join(s.filename for s in sources) or "（无附件）"
    return False, Field("has_licence", False, Evidence("filename", names), 0.9)


def _seal(main: Source | None) -> tuple[tuple[str, str], str]:
    """((verdict, Chinese reason), evidence source) for the letter's seal."""
    if main is None:
        return ("unknown", "未找到说明函，无法判断是否盖章"), "filename"
    if main.kind == "body":
        return ("unknown", "说明写在邮件正文中，没有盖章件"), "body"
    label = main.label
    if main.signed:
        return ("seal", "OFD 文件带有电子签章"), label
    letter_pages = {i for i, r in enumerate(main.page_roles) if r == "letter"} or {0}
    images = [
        img
        for img, p in zip(main.images, main.image_pages, strict=False)
        if p in letter_pages or main.kind in IMAGE_KINDS
    ]
    mod = _optional("seal")
    if main.kind not in IMAGE_KINDS:
        # pictures inside a document (an e-seal PNG): judge them as placed on a page; a picture
        # that is a whole scanned page (an image-only PDF) is judged as it is
        images = [
            p
            for p in (img if _is_page_image(img) else _on_page(img) for img in images[:MAX_SEAL_CHECKS])
            if p is not None
        ]
    if not images:
        if main.kind == "docx":
            return ("unknown", "电子版未见公章图片"), label
        return ("unknown", f"附件《{main.filename}》中未见图片，无法判断是否盖章"), label
    if mod is None:
        return ("unknown", "公章检测不可用，请人工查看附件"), label
    verdicts = []
    for img in images[:MAX_SEAL_CHECKS]:
        try:
            hint = mod.detect_seal(img)
        except Exception as exc:
            verdicts.append(("unknown", f"公章检测出错（{type(exc).__name__}）"))
            continue
        verdicts.append((str(getattr(hint, "verdict", "unknown")), str(getattr(hint, "reason", "")) or ""))
    for v, why in verdicts:
        if v == "seal":
            return ("seal", f"附件《{main.filename}》：{why or '见到公章'}"), label
    if verdicts and all(v == "none" for v, _ in verdicts):
        return ("none", f"附件《{main.filename}》：{verdicts[0][1] or '未见公章'}"), label
    why = next((w for v, w in verdicts if w), "无法判断是否盖章")
    return ("unknown", f"附件《{main.filename}》：{why}"), label


def _is_page_image(data: bytes) -> bool:
    """A picture the size and shape of a scanned page (A4 at 100 dpi or more, either way up)."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
    except Exception:
        return False
    return min(w, h) >= 800 and 1.2 <= max(w, h) / min(w, h) <= 1.6


def _on_page(data: bytes) -> bytes | None:
    """A picture taken out of a document, pasted at its usual size on a white A4 page (PNG).

    An electronic seal is a picture that *is* the seal; the seal detector looks for a seal-sized
    structure on a page, so the picture is given its page back (a 4 cm seal on 21 cm paper).
    """
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            rgba = im.convert("RGBA")
    except Exception:
        return None
    w, h = rgba.size
    if w < 16 or h < 16:
        return None
    # a small page keeps detection fast: the picture at 160 px is a 4 cm seal on a 600 px A4 page
    scale = min(1.0, 160 / max(w, h))
    if scale < 1.0:
        w, h = max(1, round(w * scale)), max(1, round(h * scale))
        rgba = rgba.resize((w, h))
    page_w = max(600, int(max(w, h) * 210 / 60))
    page_h = int(page_w * 297 / 210)
    page = Image.new("RGB", (page_w, page_h), (255, 255, 255))
    page.paste(rgba, ((page_w - w) // 2, (page_h - h) // 2), rgba)
    out = io.BytesIO()
    page.save(out, "PNG", compress_level=1)
    return out.getvalue()


def _codes(
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
                    fields.append(_field(c))
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
