"""Stored mail and its claims: the first two steps of intake, before anything is parsed.

`store_raw` keeps the raw bytes, keyed by content without trace headers (helpdesk.mail.identity).
`claim` takes stored mail for one path with a compare-and-set; `settle` marks it done inside the
ticket's transaction only while that claim stands, so whatever overlaps (the poll, the retry job,
reprocess-mail, import-eml, another worker) one stored mail makes one ticket.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.util import identity_key

from helpdesk.core import leases
from helpdesk.db import session, utcnow
from helpdesk.mail import identity
from helpdesk.mail.models import InboundMail


class ClaimLost(Exception):
    """Another path claimed this mail after us (our claim had expired): our work is rolled back."""


def store_raw(
    raw: bytes,
    *,
    internal_date: datetime,
    mailbox_id: int | None = None,
    uidvalidity: int | None = None,
    uid: int | None = None,
    source: str = "imap",
    commit: bool = True,
) -> tuple[InboundMail, bool]:
    """Keep the raw message before anything else; returns (row, created). Commits unless commit=False
    (the poller stores a whole batch, then commits once, before any of it is parsed).

    The key is the content without trace headers (helpdesk.mail.identity): the same mail fetched
    twice, from another UID, after a UIDVALIDITY change or delivered by two routes finds the existing
    row; a different mail that reuses a Message-ID is a new row.
    """
    key = identity.content_key(raw)
    existing = session.scalar(select(InboundMail).where(InboundMail.message_key == key))
    if existing is not None:
        _seen_again(existing, mailbox_id=mailbox_id, uidvalidity=uidvalidity, uid=uid)
        if commit:
            session.commit()
        return existing, False
    row = _new_row(raw, key, internal_date, mailbox_id, uidvalidity, uid, source)
    try:
        # a savepoint, so that losing the race below undoes only this row, not the batch around it
        with session.begin_nested():
            session.add(row)
        if commit:
            session.commit()
    except IntegrityError:  # a concurrent worker stored it first (unique message_key)
        if commit:
            session.rollback()
        existing = session.scalar(select(InboundMail).where(InboundMail.message_key == key))
        if existing is None:
            raise
        return existing, False
    return row, True


def store_many(
    fetched: Sequence[tuple[bytes, datetime, int | None]],
    *,
    mailbox_id: int | None,
    uidvalidity: int | None,
    source: str = "imap",
) -> list[tuple[InboundMail, bool]]:
    """`store_raw` for a batch of (raw, internal date, uid), in order, with one query for all their keys
    and one multi-row insert. Does not commit (the caller commits the batch before it is parsed).

    Should a concurrent worker store one of them first (the unique key), the new rows are stored one
    by one instead, each in its own savepoint as `store_raw` does.
    """
    keys = [identity.content_key(raw) for raw, _, _ in fetched]
    found = session.scalars(select(InboundMail).where(InboundMail.message_key.in_(sorted(set(keys)))))
    known: dict[str, InboundMail] = {row.message_key: row for row in found}
    fresh: list[InboundMail] = []
    out: list[tuple[InboundMail, bool]] = []
    for (raw, internal_date, uid), key in zip(fetched, keys, strict=True):
        existing = known.get(key)
        if existing is not None:  # stored earlier, or twice in this batch (the same mail under two UIDs)
            _seen_again(existing, mailbox_id=mailbox_id, uidvalidity=uidvalidity, uid=uid)
            out.append((existing, False))
            continue
        row = known[key] = _new_row(raw, key, internal_date, mailbox_id, uidvalidity, uid, source)
        fresh.append(row)
        out.append((row, True))
    try:
        with session.begin_nested():
            session.add_all(fresh)
    except IntegrityError:
        return [
            store_raw(
                raw,
                internal_date=internal_date,
                mailbox_id=mailbox_id,
                uidvalidity=uidvalidity,
                uid=uid,
                source=source,
                commit=False,
            )
            for raw, internal_date, uid in fetched
        ]
    return out


def _seen_again(
    existing: InboundMail, *, mailbox_id: int | None, uidvalidity: int | None, uid: int | None
) -> None:
    if uid is not None and existing.uid != uid and mailbox_id is not None:
        # same message seen under a new UID (moved, re-uploaded, new UIDVALIDITY): remember the newest
        existing.mailbox_id, existing.uidvalidity, existing.uid = mailbox_id, uidvalidity, uid
        existing.flagged_on_server = False


def _new_row(
    raw: bytes,
    key: str,
    internal_date: datetime,
    mailbox_id: int | None,
    uidvalidity: int | None,
    uid: int | None,
    source: str,
) -> InboundMail:
    return InboundMail(
        mailbox_id=mailbox_id,
        uidvalidity=uidvalidity,
        uid=uid,
        message_key=key,
        message_id=identity.message_id(raw),
        raw_sha256=_sha256(raw),
        raw=raw,
        internal_date=internal_date,
        source=source,
    )


def _sha256(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


def claim_ttl() -> timedelta:
    """A claim older than this belongs to a path that died: the job locks' TTL, one setting for both."""
    return leases.ttl_from_settings()


def claim(inbound_ids: Sequence[int], *, now: datetime | None = None) -> tuple[str, list[int]]:
    """Claim the stored mails that no other path is working on; returns (token, the ids won). Commits.

    A claim older than the lease TTL belongs to a path that died: it may be taken over. The claim
    only says who does the work; the ticket's transaction checks the token again (`_settle`).
    """
    now = now or utcnow()
    token = uuid.uuid4().hex
    if not inbound_ids:
        return token, []
    session.execute(
        update(InboundMail)
        .where(
            InboundMail.id.in_(list(inbound_ids)),
            InboundMail.status.in_(("stored", "failed")),
            or_(InboundMail.claimed_at.is_(None), InboundMail.claimed_at < now - claim_ttl()),
        )
        .values(claim_token=token, claimed_at=now, attempts=InboundMail.attempts + 1)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    # populate_existing: the identity map may hold these rows as they were before the update
    won = session.scalars(
        select(InboundMail)
        .where(InboundMail.claim_token == token)
        .order_by(InboundMail.id)
        .execution_options(populate_existing=True)
    ).all()
    return token, [row.id for row in won]


def settle(inbound_id: int, token: str, **values: Any) -> None:
    """Mark the mail done, in the caller's transaction, only if our claim still stands."""
    done = session.execute(
        update(InboundMail)
        .where(
            InboundMail.id == inbound_id,
            InboundMail.claim_token == token,
            InboundMail.status != "ingested",
        )
        .values(claim_token=None, claimed_at=None, **values)
        .execution_options(synchronize_session=False)
    ).rowcount
    if done != 1:
        raise ClaimLost(f"inbound mail {inbound_id}")
    row = session.identity_map.get(identity_key(InboundMail, inbound_id))
    if row is not None:  # the update went around the ORM: reload the row when it is next read
        session.expire(row)
