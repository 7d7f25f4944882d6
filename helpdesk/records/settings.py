"""The records' one admin setting: whether cancelling an account waits for a second person's approval."""

from __future__ import annotations

from helpdesk.auth.models import User
from helpdesk.core.models import Setting
from helpdesk.db import session, unit_of_work
from helpdesk.records.models import AuditEntry

SECOND_APPROVAL_KEY = "require_second_approval"


def second_approval_required() -> bool:
    """The admin setting: cancelling an account waits for a supervisor's approval."""
    row = session.get(Setting, SECOND_APPROVAL_KEY)
    value = row.value if row is not None else False
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "是")
    return bool(value)


def set_second_approval(value: bool, *, by: User) -> None:
    """Turn the second approval of cancels on or off, with an audit entry (before, after). Commits."""
    with unit_of_work():
        row = session.get(Setting, SECOND_APPROVAL_KEY)
        before = row.value if row is not None else False
        if row is None:
            session.add(Setting(key=SECOND_APPROVAL_KEY, value=value))
        else:
            row.value = value
        session.add(AuditEntry(actor_id=by.id, action="setting", entity="setting", entity_id=SECOND_APPROVAL_KEY,
                               field="value", before=str(bool(before)), after=str(value)))  # fmt: skip
