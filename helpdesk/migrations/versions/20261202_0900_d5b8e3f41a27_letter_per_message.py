"""one letter reading per inbound message

Revision ID: d5b8e3f41a27
Revises: d5b2f8a41c07
Create Date: 2026-12-02 09:00:00+00:00

- messages.letter: the Letter read from that inbound mail (Letter.to_dict()); the ticket's letter
  is the merge of its messages' readings (helpdesk.letters.current);
- tickets.letter moves onto the ticket's first inbound message (a ticket merged into another one
  keeps it on the message it came with; a ticket with no message at all gets a system note that
  carries it), then the column is dropped: one home for a reading. Stored dicts are copied as they
  are: Letter.from_dict reads today's shape and the older one.
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

import helpdesk.db

revision: str = "d5b8e3f41a27"
down_revision: str | None = "d5b2f8a41c07"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 200
MIGRATED_NOTE = "（系统迁移）这张工单读取的来函结果原先存放在工单上，现随本条记录保存。"

_tickets = sa.table(
    "tickets",
    sa.column("id", sa.Integer),
    sa.column("letter", sa.JSON),
    sa.column("received_at", helpdesk.db.UTCDateTime()),
)
_messages = sa.table(
    "messages",
    sa.column("id", sa.Integer),
    sa.column("ticket_id", sa.Integer),
    sa.column("kind", sa.String),
    sa.column("inbound_mail_id", sa.Integer),
    sa.column("created_at", helpdesk.db.UTCDateTime()),
    sa.column("letter", sa.JSON),
    sa.column("sender", sa.String),
    sa.column("recipients", sa.String),
    sa.column("subject", sa.Text),
    sa.column("body_text", sa.Text),
    sa.column("body_html", sa.Text),
)
_inbound = sa.table("inbound_mails", sa.column("id", sa.Integer), sa.column("ticket_id", sa.Integer))


def upgrade() -> None:
    op.add_column("messages", sa.Column("letter", sa.JSON(), nullable=True))
    _move_letters_to_messages()
    # SQLite (3.35+) drops a column in place: no table rebuild under the rows that point at tickets
    op.drop_column("tickets", "letter")


def _move_letters_to_messages() -> None:
    conn = op.get_bind()
    last = 0
    while True:
        rows = conn.execute(
            sa.select(_tickets.c.id, _tickets.c.letter, _tickets.c.received_at)
            .where(_tickets.c.id > last, _tickets.c.letter.is_not(None))
            .order_by(_tickets.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        for ticket_id, letter, received_at in rows:
            if not letter:  # JSON null or an empty dict: nothing was read
                continue
            target = _first_inbound(conn, ticket_id)
            if target is None:
                _carrying_note(conn, ticket_id, letter, received_at)
            else:
                conn.execute(sa.update(_messages).where(_messages.c.id == target).values(letter=letter))
        last = rows[-1][0]


def _first_inbound(conn: sa.Connection, ticket_id: int) -> int | None:
    """The message the ticket's letter was read from: its first inbound mail, where it is now."""
    order = (_messages.c.created_at, _messages.c.id)
    own = conn.scalar(
        sa.select(_messages.c.id)
        .where(_messages.c.ticket_id == ticket_id, _messages.c.kind == "inbound")
        .order_by(*order)
        .limit(1)
    )
    if own is not None:
        return own
    # merged: its messages moved to the target ticket; the stored mail still names this ticket
    return conn.scalar(
        sa.select(_messages.c.id)
        .join(_inbound, _inbound.c.id == _messages.c.inbound_mail_id)
        .where(_inbound.c.ticket_id == ticket_id, _messages.c.kind == "inbound")
        .order_by(*order)
        .limit(1)
    )


def _carrying_note(conn: sa.Connection, ticket_id: int, letter: dict, received_at: datetime) -> None:
    """No message to carry the reading (a ticket made by hand or by a script): keep it on a note."""
    conn.execute(
        _messages.insert().values(
            ticket_id=ticket_id,
            kind="note",
            sender="系统",
            recipients="",
            subject="",
            body_text=MIGRATED_NOTE,
            body_html="",
            created_at=received_at,
            letter=letter,
        )
    )


def downgrade() -> None:
    op.add_column("tickets", sa.Column("letter", sa.JSON(), nullable=True))
    conn = op.get_bind()
    # the old column held the first reading only; later readings of follow-up mail are dropped
    for (ticket_id,) in conn.execute(sa.select(_tickets.c.id)).all():
        letter = conn.scalar(
            sa.select(_messages.c.letter)
            .where(_messages.c.ticket_id == ticket_id, _messages.c.letter.is_not(None))
            .order_by(_messages.c.created_at, _messages.c.id)
            .limit(1)
        )
        if letter is not None:
            conn.execute(sa.update(_tickets).where(_tickets.c.id == ticket_id).values(letter=letter))
    op.drop_column("messages", "letter")
