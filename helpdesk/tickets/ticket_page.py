"""The ticket page's data: users, likely duplicates, merged tickets, macros, saved filters,
notifications, and who else is viewing the ticket."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select

from helpdesk.auth.models import User
from helpdesk.core.models import Setting
from helpdesk.db import session
from helpdesk.tickets.models import (
    OPEN_STATUSES,
    Macro,
    Notification,
    SavedFilter,
    Ticket,
)
from helpdesk.tickets.queue_pages import light

# ------------------------------------------------------------------------------------ ticket page


def users_by_id(ids: Iterable[int | None] | None = None) -> dict[int, User]:
    stmt = select(User)
    wanted = {i for i in ids or () if i is not None}
    if ids is not None:
        if not wanted:
            return {}
        stmt = stmt.where(User.id.in_(wanted))
    return {u.id: u for u in session.scalars(stmt)}


def active_users() -> list[User]:
    return list(
        session.scalars(select(User).where(User.active.is_(True)).order_by(User.display_name, User.username))
    )


def likely_duplicates(ticket: Ticket, limit: int = 10) -> list[Ticket]:
    """Open tickets of the same type from the same enterprise (or, unlinked, the same sender)."""
    if ticket.enterprise_id is not None:
        same = Ticket.enterprise_id == ticket.enterprise_id
    elif ticket.requester_email:
        same = Ticket.requester_email == ticket.requester_email
    else:
        return []
    stmt = (
        select(Ticket)
        .where(same, Ticket.type == ticket.type, Ticket.status.in_(OPEN_STATUSES), Ticket.id != ticket.id)
        .order_by(Ticket.received_at, Ticket.id)
        .limit(limit)
    )
    return list(session.scalars(light(stmt)))


def merged_from(events: Iterable[Any]) -> list[Ticket]:
    """The tickets merged into this one, from its "merged_from" timeline events (merged_into_id has no index)."""
    ids = {int(e.new_value) for e in events if e.kind == "merged_from" and (e.new_value or "").isdigit()}
    if not ids:
        return []
    return list(session.scalars(light(select(Ticket).where(Ticket.id.in_(ids)).order_by(Ticket.id))))


def ticket_by_number(text: str) -> Ticket | None:
    """A ticket by "ZXZJ#12", "#12" or "12"."""
    match = re.fullmatch(r"\s*(?:zxzj)?\s*#?\s*([0-9]{1,9})\s*", (text or "").lower())
    return session.get(Ticket, int(match.group(1))) if match else None


def macros(user: User | None = None) -> list[Macro]:
    """The shared canned replies, and `user`'s personal ones (nobody sees another's personal replies)."""
    mine = (
        Macro.owner_id.is_(None) if user is None else or_(Macro.owner_id.is_(None), Macro.owner_id == user.id)
    )
    return list(session.scalars(select(Macro).where(mine).order_by(Macro.category, Macro.title)))


def saved_filters(user: User) -> list[SavedFilter]:
    return list(
        session.scalars(select(SavedFilter).where(SavedFilter.user_id == user.id).order_by(SavedFilter.name))
    )


def unread_count(user: User) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(Notification)
            .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        )
        or 0
    )


def notifications(user: User, limit: int = 200) -> list[Notification]:
    return list(
        session.scalars(
            select(Notification)
            .where(Notification.user_id == user.id)
            .order_by(
                Notification.read_at.is_not(None), Notification.created_at.desc(), Notification.id.desc()
            )
            .limit(limit)
        )
    )


# ------------------------------------------------------------------------------------ presence

PRESENCE_PREFIX = "viewing:"
PRESENCE_FRESH = timedelta(seconds=45)  #: a viewer whose last heartbeat is older than this has left


def presence_range(ticket_id: int | None) -> ColumnElement[bool]:
    """Setting keys "viewing:<ticket>:<user>" of one ticket (or of all), as a range on the primary key."""
    low = f"{PRESENCE_PREFIX}{ticket_id}:" if ticket_id is not None else PRESENCE_PREFIX
    return and_(Setting.key >= low, Setting.key < low[:-1] + ";")  # ";" sorts right after ":"


def viewers(ticket_id: int, now: datetime, *, exclude: int | None = None) -> list[dict[str, Any]]:
    """Who else has the ticket open: [{"user_id", "name", "at"}] with a fresh heartbeat."""
    out = []
    for row in session.scalars(select(Setting).where(presence_range(ticket_id))):
        value = row.value or {}
        try:
            at = datetime.fromisoformat(value.get("at", ""))
        except (TypeError, ValueError):
            continue
        if now - at > PRESENCE_FRESH or value.get("user_id") == exclude:
            continue
        out.append({"user_id": value.get("user_id"), "name": value.get("name", ""), "at": at})
    return sorted(out, key=lambda v: v["name"])
