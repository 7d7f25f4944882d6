"""`read(mail) -> Letter`: the one entry point of the letters package.

Steps: 1. read every attachment (sniffed by content) and the mail body; 2. OCR the scans, within a
time budget (or leave them for a second pass when ``ocr=False``); 3. decide from the text which file
is the letter and which the business licence; 4. classify; 5. extract fields, letter sources first,
then the body; 6. detect the seal on the letter; 7. run the checks. Nothing raises out of `read`.

Files by step: inputs.py (1, 2: the body and its quoted part, OCR), roles.py (3), classify.py (4),
extraction.py (5), seal_check.py (6), findings.py (7); this file runs them in order and assembles
the Letter.
"""

from __future__ import annotations

import logging
import re
import time
from datetime import date

from ..mail.html import html_to_text
from ..mail.parsed import ParsedMail
from . import extraction, seal_check
from . import findings as checks
from .classify import classify
from .company import extract_company
from .fields import extract_all
from .inputs import quoted_letter, run_ocr, split_quoted
from .model import Evidence, Field, Finding, Letter, SourceInfo
from .roles import assign_role, is_letter_text
from .seal_check import MAX_SEAL_CHECKS as MAX_SEAL_CHECKS  # a public name of this module before the split
from .sniff import IMAGE_KINDS
from .sources import Source, from_attachment
from .view import Cand, View, make_view

log = logging.getLogger(__name__)

MAX_ATTACHMENTS = 20
SMALL_INLINE_IMAGE = 12 * 1024  #: inline images below this are logos and signatures, not scans
OCR_FACTOR = 0.85  #: confidence factor for text read by OCR

_KIND_RANK = {"docx": 0, "pdf": 1, "ofd": 2, "doc": 3, "rtf": 3, "text": 3, "html": 4}


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
        body_text, quoted = quoted_letter(quoted), ""
    body = Source("body", "", "body", pages=[body_text]) if body_text.strip() else None
    timings["extract"] = _lap(lap)
    lap = time.perf_counter()

    # 2. OCR
    ocr_state, ocr_errors = run_ocr(sources, ocr, budget)
    timings["ocr"] = _lap(lap)
    lap = time.perf_counter()

    # 3. roles
    for s in sources:
        assign_role(s)
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
                alts.append((c.value, extraction.company_where(c)))
    licences = [s for s in sources if "licence" in s.page_roles and s.text.strip()]
    for s in licences:
        for c in extract_company(view(s), licence=True):
            alts.append((c.value, f"附件《{s.filename}》营业执照"))
            if "company_name" not in chosen:
                chosen["company_name"] = c
    ocr_labels = {s.label for s in sources if s.ocr_used}
    if "company_name" in chosen and chosen["company_name"].label in ocr_labels:
        names = [mail.subject or ""] + [re.sub(r"\.[A-Za-z0-9]{2,5}$", "", s.filename) for s in sources]
        chosen["company_name"] = extraction.company_from_names(
            chosen["company_name"], names, mail.subject or ""
        )
    fields: list[Field] = [extraction.field(chosen[n]) for n in extraction.SINGLE_FIELDS if n in chosen]
    fields += [extraction.field(c) for c in pairs]
    main_company = chosen.get("company_name")
    company_alts = [
        (v, w)
        for v, w in alts
        if main_company is None or (v, w) != (main_company.value, extraction.company_where(main_company))
    ]

    olds = [c.value for c in pairs if c.name == "old_value"]
    code_fields, code_matches = extraction.codes(
        sources, body, mail.subject or "", view, olds, [c.value for c in pairs]
    )
    fields += code_fields

    has_licence = extraction.has_licence(sources, licences)
    if has_licence is not None and (kind in checks.LETTER_KINDS or has_licence[0]):
        fields.append(has_licence[1])
    timings["fields"] = _lap(lap)
    lap = time.perf_counter()

    # 6. seal: the three letters are stamped papers, and so is a recovery request sent as a file
    # (one asked for in a plain mail has no paper to judge)
    seal = ("unknown", "")
    stamped_request = kind == "recovery" and main is not None and main.kind != "body"
    if kind in checks.LETTER_KINDS or stamped_request:
        seal, seal_label = seal_check.seal(main)
        fields.append(
            Field("seal", seal[0], Evidence(seal_label, seal[1]), 0.7 if seal[0] != "unknown" else 0.0)
        )
    timings["seal"] = _lap(lap)
    lap = time.perf_counter()

    # 7. findings
    placeholders = view(main).placeholders if main is not None and main.text.strip() else []
    unread = any(
        s.problem_code in extraction.UNREAD_CODES or (s.needs_ocr and s.role == "other") for s in sources
    )
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


def _lap(since: float) -> float:
    return round(time.perf_counter() - since, 4)
