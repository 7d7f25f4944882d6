"""Server-side reply drafts: what a user has typed in a ticket's reply box, one row per (ticket, user).

The reply box saves as the agent types (a debounced POST), the ticket page restores it, sending the
reply deletes it in the same unit of work. A draft touched in the last few minutes is shown to
colleagues as "某某 正在回复" next to the presence line, so two agents do not answer the same mail.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from helpdesk.auth.models import User
from helpdesk.db import session, unit_of_work, utcnow
from helpdesk.tickets.models import Message, MessageKind, ReplyDraft

#: a draft saved this recently means its author is replying now
REPLYING_FRESH = timedelta(minutes=3)
MAX_DRAFT_CHARS = 20000  #: the reply form's own limit


def draft_for(ticket_id: int, user_id: int) -> ReplyDraft | None:
    return session.scalar(
        select(ReplyDraft).where(ReplyDraft.ticket_id == ticket_id, ReplyDraft.user_id == user_id)
    )


class AlreadySent(Exception):
    """The user sent a reply on the ticket after the page that typed this draft was opened."""


def save(
    ticket_id: int,
    user: User,
    body: str,
    now: datetime | None = None,
    *,
    since: datetime | None = None,
) -> ReplyDraft | None:
    """Keep `body` as the user's draft on the ticket (empty: forget the draft); returns the row. Commits.

    `since`: when the page that typed it was opened. A save from a page older than the user's last
    reply on the ticket is refused (AlreadySent): it is the tail of the text just sent, arriving after
    the reply deleted the draft, and must not bring the draft back.
    """
    now = now or utcnow()
    body = (body or "")[:MAX_DRAFT_CHARS]
    for _ in range(2):
        try:
            with unit_of_work():
                if since is not None and _replied_since(ticket_id, user.id, since):
                    raise AlreadySent()
                row = draft_for(ticket_id, user.id)
                if not body.strip():
                    if row is not None:
                        session.delete(row)
                    return None
                if row is None:
                    row = ReplyDraft(ticket_id=ticket_id, user_id=user.id, body=body, updated_at=now)
                    session.add(row)
                else:
                    row.body, row.updated_at = body, now
            return row
        except IntegrityError:  # the same user's other tab inserted it a moment ago: update that row
            continue
    return draft_for(ticket_id, user.id)


def _replied_since(ticket_id: int, user_id: int, since: datetime) -> bool:
    return (
        session.scalar(
            select(Message.id)
            .where(
                Message.ticket_id == ticket_id,
                Message.author_id == user_id,
                Message.kind == MessageKind.OUTBOUND.value,
                Message.created_at > since,
            )
            .limit(1)
        )
        is not None
    )


def discard(ticket_id: int, user_id: int) -> None:
    """Forget the user's draft on the ticket, in the caller's unit of work (the reply was sent)."""
    session.execute(
        delete(ReplyDraft)
        .where(ReplyDraft.ticket_id == ticket_id, ReplyDraft.user_id == user_id)
        .execution_options(synchronize_session=False)
    )


def replying(ticket_id: int, now: datetime | None = None, *, exclude: int | None = None) -> list[str]:
    """Names of the users with a fresh, non-empty draft on the ticket (sorted), `exclude` left out."""
    now = now or utcnow()
    rows = session.execute(
        select(User, ReplyDraft.body)
        .join(ReplyDraft, ReplyDraft.user_id == User.id)
        .where(ReplyDraft.ticket_id == ticket_id, ReplyDraft.updated_at >= now - REPLYING_FRESH)
    ).all()
    return sorted(u.name for u, body in rows if u.id != exclude and body.strip())
