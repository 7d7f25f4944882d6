"""A ticket's current letter: one reading per inbound message, merged, with the agent's corrections.

Each inbound message that carried a letter keeps its own reading (`Letter.to_dict()`, stored with
the message). The ticket's letter is the newest reading of each field, and an agent's value wins
over any reading, earlier or later. This module is the only reader of the stored dicts (through
`Letter.from_dict`); the ticket is duck-typed (`TicketLike`), so letters imports no database code.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from .findings import KIND_NAMES
from .model import Evidence, Field, Finding, Letter, SourceInfo

#: `Evidence.source` of a value an agent set (it is not read from anything the enterprise sent)
AGENT_SOURCE = "agent"
#: the timeline event kind that tickets.services.update_fields records for each agent correction
CORRECTION_EVENT = "field"
#: list-valued in `ticket.fields`: every value the reading found, not only the first
CODE_FIELDS = ("uscc", "org_code")
#: fields taken together from one reading: the n-th old value belongs to the n-th new value
_GROUPS = {"old_value": "old/new", "new_value": "old/new"}


class MessageLike(Protocol):
    id: int
    created_at: datetime
    letter: dict[str, Any] | None


class EventLike(Protocol):
    kind: str
    field: str | None


class TicketLike(Protocol):
    messages: Sequence[MessageLike]  #: oldest first
    fields: dict[str, Any] | None
    events: Sequence[EventLike]


@dataclass(frozen=True, slots=True)
class CurrentLetter:
    """What the ticket knows of its letter now."""

    read: Letter | None  #: the readings merged (newest reading per field), None when nothing was read
    values: dict[str, Any]  #: name -> value as shown: the stored values over what was read
    corrected: frozenset[str]  #: names whose value an agent set and no reading says

    @property
    def letter(self) -> Letter | None:
        """The reading with the agent's values on top (their evidence source is "agent")."""
        if self.read is None and not self.corrected:
            return None
        base = self.read or Letter(type="inquiry")
        kept = tuple(f for f in base.fields if f.name not in self.corrected)
        agent = tuple(_agent_field(name, self.values[name]) for name in sorted(self.corrected))
        return replace(base, fields=kept + agent)

    def is_corrected(self, name: str) -> bool:
        """True when the shown value is an agent's correction, not what a reading found."""
        return name in self.corrected


def current_letter(ticket: TicketLike) -> CurrentLetter:
    """The ticket's letter: its messages' readings merged, the stored (agent-confirmed) values on top."""
    read = merge_readings(stored_readings(ticket.messages))
    stored = dict(ticket.fields or {})
    values = field_values(read) if read is not None else {}
    values.update(stored)
    agent = agent_names(ticket.events)
    corrected = frozenset(
        name for name in agent if name in stored and _norm(stored[name]) != _norm(_read_value(read, name))
    )
    return CurrentLetter(read=read, values=values, corrected=corrected)


def refreshed_fields(ticket: TicketLike) -> dict[str, Any]:
    """`ticket.fields` after a new reading: the newest reading's values, every agent-set value kept.

    An agent's value wins over a later automatic reading of the same field; values nobody set by hand
    follow the readings.
    """
    read = merge_readings(stored_readings(ticket.messages))
    stored = ticket.fields or {}
    out = field_values(read) if read is not None else {}
    out.update({name: stored[name] for name in agent_names(ticket.events) if name in stored})
    return out


def stored_readings(messages: Iterable[MessageLike]) -> list[Letter]:
    """The readings stored on these messages, oldest mail first (messages without one are skipped)."""
    # sorted here: a message just added to a loaded relationship sits at its end whatever its date
    with_letter = sorted((m for m in messages if m.letter), key=lambda m: (m.created_at, m.id))
    return [Letter.from_dict(m.letter) for m in with_letter if m.letter]


def searchable_words(message: MessageLike) -> list[str]:
    """What a message's stored reading says, for the search index: field values, their evidence
    text and the names of what was read."""
    return stored_words(message.letter)


def stored_words(stored: Any) -> list[str]:
    """As searchable_words, from the stored value itself (a dict, or JSON text from a raw query)."""
    if isinstance(stored, str):
        try:
            stored = json.loads(stored) if stored else None
        except ValueError:
            return []
    if not stored:
        return []
    try:
        reading = Letter.from_dict(stored)
    except (TypeError, ValueError, KeyError, AttributeError):
        return []  # an unreadable old reading must not stop the index
    out: list[str] = []
    for f in reading.fields:
        out.extend(_words(f.value))
        if f.evidence is not None and f.evidence.text:
            out.append(f.evidence.text)
    out.extend(s.filename for s in reading.sources if s.filename)
    return out


def _words(value: Any) -> list[str]:
    if isinstance(value, list | tuple):
        return [w for item in value for w in _words(item)]
    if isinstance(value, dict):
        return [w for item in value.values() for w in _words(item)]
    return [] if value is None or isinstance(value, bool) else [str(value)]


def waits_for_ocr(message: MessageLike) -> bool:
    """True when the message's reading was made without OCR and one of its sources still needs it."""
    return bool(message.letter) and Letter.from_dict(message.letter or {}).ocr_pending


def agent_names(events: Iterable[EventLike]) -> set[str]:
    """The field names an agent has set on the ticket (one timeline event per correction)."""
    return {e.field for e in events if e.kind == CORRECTION_EVENT and e.field}


def merge_readings(readings: Sequence[Letter]) -> Letter | None:
    """One letter from several readings (oldest first): each field from the newest reading that has it.

    A reading that found no field (a "thank you" reply) only adds its sources. The type is the newest
    one that is not an inquiry; findings are the newest of each code among readings that found fields.
    """
    if not readings:
        return None
    if len(readings) == 1:
        return readings[0]
    telling = [r for r in readings if r.fields] or [readings[-1]]
    newest_first = list(reversed(telling))
    # a follow-up that carries no letter (only the licence, say) cannot say anything about the letter:
    # its "unknown" (seal: no letter found) and its findings about a letter it lacks do not hide what
    # the earlier letter said; what it does carry (the licence, the codes on it) counts
    letter_seen = any(_carries_letter(r) for r in telling)
    taken: set[str] = set()
    fields: list[Field] = []
    for reading in newest_first:
        partial = letter_seen and not _carries_letter(reading)
        own = [f for f in reading.fields if not (partial and f.value == "unknown")]
        groups = {_GROUPS.get(f.name, f.name) for f in own} - taken
        fields.extend(f for f in own if _GROUPS.get(f.name, f.name) in groups)
        taken |= groups
    seen_codes: set[str] = set()
    findings: list[Finding] = []
    letter_codes = {f.code for r in telling if _carries_letter(r) for f in r.findings}
    for reading in newest_first:
        partial = letter_seen and not _carries_letter(reading)
        new = [
            f
            for f in reading.findings
            if f.code not in seen_codes and not (partial and f.code in letter_codes)
        ]
        findings.extend(new)
        seen_codes |= {f.code for f in new}
    if letter_seen:
        findings = [_licence_supplied(f, fields, newest_first) for f in findings]
    typed = next((r for r in newest_first if r.type != "inquiry"), newest_first[0])
    sources: list[SourceInfo] = [s for r in readings for s in r.sources]
    return Letter(
        type=typed.type,
        type_reasons=typed.type_reasons,
        fields=tuple(fields),
        findings=tuple(findings),
        sources=tuple(sources),
        timings=dict(readings[-1].timings),
        ocr_pending=any(r.ocr_pending for r in readings),
    )


def _carries_letter(reading: Letter) -> bool:
    return any(s.role == "letter" for s in reading.sources)


def _licence_supplied(finding: Finding, fields: list[Field], newest_first: list[Letter]) -> Finding:
    """The letter's "licence missing" once a later mail brought the licence (only the licence was missing)."""
    licence = next((f for f in fields if f.name == "has_licence"), None)
    if (
        finding.code != "required_attachments"
        or finding.status == "pass"
        or licence is None
        or licence.value is not True
        or "营业执照" not in finding.message
        or "《" in finding.message  # the letter itself is missing too: that still stands
    ):
        return finding
    kind = next((r.type for r in newest_first if r.type != "inquiry"), "")
    name = KIND_NAMES.get(kind, "说明")
    return replace(
        finding, status="pass", message=f"已附《{name}》和营业执照扫描件（营业执照随后续邮件补充）"
    )


def field_values(letter: Letter) -> dict[str, Any]:
    """name -> value as `ticket.fields` holds them: the first value of each field, codes as lists."""
    out: dict[str, Any] = {}
    for f in letter.fields:
        if f.name not in out:
            out[f.name] = letter.values(f.name) if f.name in CODE_FIELDS else f.value
    return out


def _read_value(read: Letter | None, name: str) -> Any:
    if read is None:
        return None
    return field_values(read).get(name)


def _norm(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [str(v).strip() for v in values if v not in (None, "")]


def _agent_field(name: str, value: Any) -> Field:
    text = "、".join(str(v) for v in value) if isinstance(value, list) else str(value)
    return Field(name=name, value=value, evidence=Evidence(AGENT_SOURCE, text), confidence=1.0)
