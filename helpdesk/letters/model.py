"""What `letters.read()` returns: a Letter with typed fields, their evidence, and findings.

Field names and the type of `Field.value` for each (a name may occur several times where noted):

======================  ==========  =============================================================
name                    value       meaning
======================  ==========  =============================================================
company_name            str         the enterprise writing the letter
account_names           list[str]   platform accounts the letter lists as the enterprise's
account_count           int         number of accounts the letter says the enterprise has
target_accounts         list[str]   the account(s) to unbind / cancel
reason                  str         事由 (the "由于…原因" blank)
modification            str         具体修改内容 (change letters)
old_value / new_value   str         "由 X 变更为 Y": X and Y (codes normalised, maybe repaired); one
                                    pair per changed value, in order (USCC and organisation code)
uscc                    str         one Field per valid (or repaired) USCC found anywhere
org_code                str         one Field per valid (or repaired) organisation code, "XXXXXXXX-X"
invalid_code            str         one Field per code the letter states that fails its check (and is
                                    not the old value of a change): kept as a value for the agent
letter_date             str         ISO date of the letter
contact                 str         "name phone" (either part may be missing)
has_licence             bool        a business-licence scan is attached
seal                    str         seal hint on the letter: "seal" / "none" / "unknown"
======================  ==========  =============================================================

Text values are NFKC-normalised: full-width letters, digits and punctuation become ASCII ("（" -> "(",
"，" -> ","), and spaces between Chinese characters are dropped; `Evidence.text` quotes the source as
written. Codes are upper case without separators; organisation codes are written "XXXXXXXX-X".

Account names are kept as written after NFKC (full-width to half-width), with two exceptions that
only undo damage: a "ZXKT_" / "zxkt-" / "zxkt " prefix becomes "zxkt_" (the FAQ defines the prefix in
lower case followed by "_"), and spaces around "_" are removed. Case is not folded otherwise: the
records layer decides how to compare.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

LETTER_TYPES = ("change", "unbind", "cancel", "recovery", "inquiry")
FIELD_NAMES = (
    "company_name",
    "account_names",
    "account_count",
    "target_accounts",
    "reason",
    "modification",
    "old_value",
    "new_value",
    "uscc",
    "org_code",
    "invalid_code",
    "letter_date",
    "contact",
    "has_licence",
    "seal",
)
STATUSES = ("pass", "fail", "unknown")


@dataclass(frozen=True, slots=True)
class Evidence:
    """Where a value was read."""

    source: str  #: "attachment:<filename>", "body", "subject" or "filename"
    text: str  #: the span of the source text (as written there)
    page: int | None = None  #: 1-based page, for paged sources
    start: int | None = None  #: offsets into that source's extracted text
    end: int | None = None


@dataclass(frozen=True, slots=True)
class Field:
    """One extracted value."""

    name: str
    value: Any  #: str, int, bool or list[str], see the table above
    evidence: Evidence
    confidence: float  #: 0..1
    repaired: bool = False  #: a code fixed through its check characters
    original: str | None = None  #: the text before repair


@dataclass(frozen=True, slots=True)
class Finding:
    """A check an agent would otherwise do by hand."""

    code: str
    status: str  #: "pass", "fail" or "unknown"
    message: str  #: one Chinese sentence for the agent
    field: str | None = None


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """One thing that was read: an attachment, the mail body."""

    filename: str
    kind: str  #: sniffed: docx, pdf, jpg, png, ..., "body"
    role: str  #: "letter", "licence" or "other"
    chars: int = 0
    pages: int = 0
    ocr: bool = False  #: OCR produced (some of) its text
    seconds: float = 0.0
    problem: str | None = None  #: Chinese, when it could not be read (fully)


@dataclass(frozen=True, slots=True)
class Letter:
    """A mail understood: type, fields with evidence, findings, and what was read."""

    type: str
    type_reasons: tuple[str, ...] = ()
    fields: tuple[Field, ...] = ()
    findings: tuple[Finding, ...] = ()
    sources: tuple[SourceInfo, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    ocr_pending: bool = False  #: read with ocr=False and some source still needs OCR

    def get(self, name: str) -> Field | None:
        """The first field called `name`, or None."""
        return next((f for f in self.fields if f.name == name), None)

    def values(self, name: str) -> list[Any]:
        """The values of every field called `name`; list values are flattened into the result."""
        out: list[Any] = []
        for f in self.fields:
            if f.name == name:
                out.extend(f.value if isinstance(f.value, list) else [f.value])
        return out

    def finding(self, code: str) -> Finding | None:
        """The first finding with this code, or None."""
        return next((f for f in self.findings if f.code == code), None)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-serialisable data; `Letter.from_dict` reverses it.

        Shape (docs/letters.md): a field is {name, value, evidence, confidence}, plus
        {repaired: true, original} only when the value was repaired; evidence keys page/start/end
        only where known. A finding is {code, status, message} plus {about: field name} when it
        concerns one field: findings never carry a "name" or "value", fields never a "status".
        """
        d = _plain(asdict(self))
        d["fields"] = [_field_dict(f) for f in self.fields]
        d["findings"] = [_finding_dict(f) for f in self.findings]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Letter:
        """The Letter of `to_dict()` output, in this shape or the one stored before issue 12."""
        return cls(
            type=d["type"],
            type_reasons=tuple(d.get("type_reasons", ())),
            fields=tuple(
                Field(
                    name=f["name"],
                    value=f["value"],
                    evidence=Evidence(**f["evidence"]),
                    confidence=f["confidence"],
                    repaired=bool(f.get("repaired", False)),
                    original=f.get("original"),
                )
                for f in d.get("fields", ())
            ),
            findings=tuple(
                Finding(f["code"], f["status"], f["message"], f.get("about", f.get("field")))
                for f in d.get("findings", ())
            ),
            sources=tuple(SourceInfo(**s) for s in d.get("sources", ())),
            timings=dict(d.get("timings", {})),
            ocr_pending=bool(d.get("ocr_pending", False)),
        )


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x]
    return x


def _field_dict(f: Field) -> dict[str, Any]:
    ev = {k: v for k, v in asdict(f.evidence).items() if v is not None}
    out: dict[str, Any] = {
        "name": f.name,
        "value": _plain(f.value),
        "evidence": ev,
        "confidence": f.confidence,
    }
    if f.repaired:
        out["repaired"] = True
        out["original"] = f.original
    return out


def _finding_dict(f: Finding) -> dict[str, Any]:
    out: dict[str, Any] = {"code": f.code, "status": f.status, "message": f.message}
    if f.field is not None:
        out["about"] = f.field
    return out
