"""mail identity by content, ingest claims, related tickets

Revision ID: c3a1e7d20b11
Revises: c4e1a7d29b53
Create Date: 2026-12-01 09:00:00+00:00

- inbound_mails.message_key becomes the content key (sha256 without trace headers); the Message-ID
  moves to its own, non-unique column, so a reused Message-ID no longer hides a different mail;
- inbound_mails.claim_token / claimed_at: the compare-and-set claim every ingest path takes first;
- tickets.related_ticket_id: a mail that names a ticket its sender does not belong to.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import helpdesk.db
from helpdesk.mail.identity import content_key

revision: str = "c3a1e7d20b11"
down_revision: str | None = "c4e1a7d29b53"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 200


def upgrade() -> None:
    # plain ADD COLUMN on both engines: a batch rebuild on SQLite would drop tables that rows point at
    op.add_column("inbound_mails", sa.Column("message_id", sa.String(length=500), nullable=True))
    op.add_column("inbound_mails", sa.Column("claim_token", sa.String(length=64), nullable=True))
    op.add_column(
        "inbound_mails", sa.Column("claimed_at", helpdesk.db.UTCDateTime(timezone=True), nullable=True)
    )
    op.create_index(op.f("ix_inbound_mails_message_id"), "inbound_mails", ["message_id"], unique=False)
    if op.get_bind().dialect.name == "sqlite":  # SQLite adds a foreign key only inline with its column
        op.execute(
            "ALTER TABLE tickets ADD COLUMN related_ticket_id INTEGER "
            "CONSTRAINT fk_tickets_related_ticket_id_tickets REFERENCES tickets (id)"
        )
    else:
        op.add_column("tickets", sa.Column("related_ticket_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            op.f("fk_tickets_related_ticket_id_tickets"), "tickets", "tickets", ["related_ticket_id"], ["id"]
        )
    _rekey_inbound_mails()


def _rekey_inbound_mails() -> None:
    """Old keys were the Message-ID (or sha256 of the bytes): keep the Message-ID, key by content."""
    conn = op.get_bind()
    table = sa.table(
        "inbound_mails",
        sa.column("id", sa.Integer),
        sa.column("message_key", sa.String),
        sa.column("message_id", sa.String),
        sa.column("raw", sa.LargeBinary),
    )
    seen: set[str] = set()
    last = 0
    while True:
        rows = conn.execute(
            sa.select(table.c.id, table.c.message_key, table.c.raw)
            .where(table.c.id > last)
            .order_by(table.c.id)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        for row_id, old_key, raw in rows:
            key = content_key(bytes(raw))
            if key in seen:  # two rows of one content under different old keys: keep both rows
                key = f"{key}:{row_id}"
            seen.add(key)
            message_id = None if old_key.startswith("sha256:") else old_key
            # old keys never start with "c:", so the new key cannot collide with a row not yet rekeyed
            conn.execute(
                sa.update(table).where(table.c.id == row_id).values(message_key=key, message_id=message_id)
            )
        last = rows[-1][0]


def downgrade() -> None:
    # the content keys stay: they are unique, and the old code only ever compares keys for equality
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(op.f("fk_tickets_related_ticket_id_tickets"), "tickets", type_="foreignkey")
    op.drop_column("tickets", "related_ticket_id")
    op.drop_index(op.f("ix_inbound_mails_message_id"), table_name="inbound_mails")
    op.drop_column("inbound_mails", "claimed_at")
    op.drop_column("inbound_mails", "claim_token")
    op.drop_column("inbound_mails", "message_id")
