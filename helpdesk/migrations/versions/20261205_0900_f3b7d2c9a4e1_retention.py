"""personal-data retention: what was removed from a closed ticket, and when

Revision ID: f3b7d2c9a4e1
Revises: f2a7c9d41e68
Create Date: 2026-12-04 09:00:00+00:00

- retention_removals: one row per ticket and kind of material removed under
  HELPDESK_RETENTION_DAYS (raw mails, attachments, licence scans, mail bodies): how many items,
  how many bytes, when. The ticket page lists them; the audit trail and record changes stay.
- attachments.removed_at, inbound_mails.raw_removed_at, messages.body_removed_at: the mark on each
  removed item, so downloads, re-reading and OCR say "removed" instead of failing. Plain
  add_column (nullable): no table rebuild on SQLite.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import helpdesk.db

revision: str = "f3b7d2c9a4e1"
down_revision: str | None = "f2a7c9d41e68"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "retention_removals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("policy_days", sa.Integer(), nullable=False),
        sa.Column("removed_at", helpdesk.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_retention_removals_ticket_id_tickets")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_removals")),
    )
    op.create_index(
        op.f("ix_retention_removals_ticket_id"), "retention_removals", ["ticket_id"], unique=False
    )
    op.add_column("attachments", sa.Column("removed_at", helpdesk.db.UTCDateTime(), nullable=True))
    op.add_column("inbound_mails", sa.Column("raw_removed_at", helpdesk.db.UTCDateTime(), nullable=True))
    op.add_column("messages", sa.Column("body_removed_at", helpdesk.db.UTCDateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("messages", "body_removed_at")
    op.drop_column("inbound_mails", "raw_removed_at")
    op.drop_column("attachments", "removed_at")
    op.drop_index(op.f("ix_retention_removals_ticket_id"), table_name="retention_removals")
    op.drop_table("retention_removals")
