"""Reading stored mail in the sandbox: parse it and read its letter, within a deadline and a memory cap.

The functions that run in the sandbox's worker processes (`prepare`, `prepare_body_only`,
`read_with_ocr`) are module-level so that they pickle by reference. A mail that overruns is read
again without its attachments' content; what fails that too comes back as the exception.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import current_app

from helpdesk.core import sandbox
from helpdesk.letters import Letter, ocr
from helpdesk.letters import read as read_letter
from helpdesk.mail.parse import parse_mail
from helpdesk.mail.parsed import ParsedMail

#: workers of the intake sandbox (parse + letter reading)
PARALLEL_WORKERS = int(os.environ.get("HELPDESK_INTAKE_WORKERS", "2"))
#: OCR sandbox processes (see `ocr_workers`)
OCR_WORKERS_ENV = "HELPDESK_OCR_WORKERS"
DEFAULT_OCR_WORKERS = 2
#: attachments kept per mail; a mail with more keeps the rest inside its original.eml
MAX_ATTACHMENTS = 100


@dataclass(frozen=True)
class Prepared:
    """What the sandbox read from one stored mail, and what it could not read."""

    mail: ParsedMail
    letter: Letter
    unread: str = ""  #: why the attachments' content was not read ("" when it was)
    #: letter.to_dict(), made in the worker: the committing process has enough to do
    letter_dict: dict[str, Any] | None = None

    def letter_json(self) -> dict[str, Any]:
        prepared = self
        return prepared.letter_dict if prepared.letter_dict is not None else prepared.letter.to_dict()


#: a letter is a page or two (a quoted chain a few more): the reader gets at most this much of a
#: body, since its cost grows with the text (the ticket keeps the whole body)
LETTER_TEXT_LIMIT = 20_000


def _for_letter(mail: ParsedMail, *, attachments: bool = True) -> ParsedMail:
    return dataclasses.replace(
        mail,
        text=mail.text[:LETTER_TEXT_LIMIT],
        html=mail.html[:LETTER_TEXT_LIMIT],
        attachments=mail.attachments[:MAX_ATTACHMENTS] if attachments else (),
    )


def prepare(raw: bytes, max_attachment_bytes: int) -> Prepared:
    """The pure, CPU-bound part of intake (parse + read the letter without OCR); runs in the sandbox."""
    mail = parse_mail(raw, max_attachment_bytes=max_attachment_bytes)
    letter = read_letter(_for_letter(mail), ocr=False)
    return Prepared(mail, letter, letter_dict=letter.to_dict())


def prepare_body_only(raw: bytes, max_attachment_bytes: int, unread: str) -> Prepared:
    """The fallback when reading the attachments overran: the letter from the mail's own text."""
    mail = parse_mail(raw, max_attachment_bytes=max_attachment_bytes)
    letter = read_letter(_for_letter(mail, attachments=False), ocr=False)
    return Prepared(mail, letter, unread, letter.to_dict())


def max_attachment_bytes() -> int:
    return int(current_app.config["HELPDESK"]["HELPDESK_MAX_ATTACHMENT_MB"]) << 20


def intake_sandbox() -> sandbox.Sandbox:
    memory = int(current_app.config["HELPDESK"]["HELPDESK_PARSE_MEMORY_MB"])
    return sandbox.shared(
        f"intake:{memory}",
        lambda: sandbox.Sandbox(
            min(PARALLEL_WORKERS, os.cpu_count() or 1),
            memory_mb=memory,
            preload=["helpdesk.tickets.prepare_worker"],
        ),
    )


#: what a reading that hit its budget ends with (any other exception is a bug or a broken mail)
_OVERRUN = (sandbox.BudgetExceeded, sandbox.WorkerDied, MemoryError, RecursionError)


def prepare_all(raws: Sequence[bytes]) -> list[Prepared | BaseException]:
    """Read each stored mail in the sandbox within the budget; degrade step by step, never wait forever.

    A mail that overruns or kills its worker is read again without its attachments' content (half
    the budget); what fails that too comes back as the exception, and `ingest` makes the fallback.
    """
    return read_all(
        intake_sandbox(),
        raws,
        float(current_app.config["HELPDESK"]["HELPDESK_PARSE_SECONDS"]),
        max_attachment_bytes(),
    )


def read_all(box: sandbox.Sandbox, raws: Sequence[bytes], budget: float, limit: int) -> list[Any]:
    """prepare_all without the app's settings: it also runs on the read-ahead thread."""
    results: list[Any] = box.run(prepare, [(raw, limit) for raw in raws], budget)
    again = [i for i, r in enumerate(results) if isinstance(r, _OVERRUN)]
    if again:
        calls = [(raws[i], limit, str(results[i])) for i in again]
        for i, second in zip(again, box.run(prepare_body_only, calls, budget / 2), strict=True):
            results[i] = second
    return results


def read_with_ocr(
    raw: bytes, max_attachment_bytes: int, budget_s: float, threads: int | None = None
) -> Letter:
    """Parse and read the letter with OCR; runs in the OCR sandbox (no memory cap: the engine maps a lot).

    ``threads``: onnxruntime (and recognition) threads of this worker's engine, set before it loads
    (the OCR sandbox passes cores / workers, so that its workers together use every core once).
    """
    if threads:
        ocr.set_default_threads(threads)
    mail = parse_mail(raw, max_attachment_bytes=max_attachment_bytes)
    return read_letter(_for_letter(mail), ocr=True, ocr_budget_s=budget_s)


def ocr_workers() -> int:
    """Processes of the OCR sandbox: HELPDESK_OCR_WORKERS, else 2; never more than the cores.

    Each keeps one engine warm (a few hundred MB) and reads one letter at a time, so N workers
    read N scans at once; their engines get cores / N threads each (`ocr_threads`).
    """
    try:
        wanted = int(os.environ.get(OCR_WORKERS_ENV, "") or DEFAULT_OCR_WORKERS)
    except ValueError:
        wanted = DEFAULT_OCR_WORKERS
    return max(1, min(wanted, ocr.cores()))


def ocr_threads(workers: int | None = None) -> int:
    """onnxruntime threads per OCR worker: the cores shared out among ``workers`` (default:
    `ocr_workers`), at least 1."""
    return max(1, ocr.cores() // (workers or ocr_workers()))


def ocr_sandbox() -> sandbox.Sandbox:
    return sandbox.shared(
        "ocr",
        lambda: sandbox.Sandbox(
            ocr_workers(), memory_mb=None, recycle_mb=None, preload=["helpdesk.tickets.prepare_worker"]
        ),
    )
