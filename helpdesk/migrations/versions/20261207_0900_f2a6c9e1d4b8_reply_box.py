"""the reply box: personal canned replies and server-side reply drafts

Revision ID: f2a6c9e1d4b8
Revises: f2a7c9e4b1d6
Create Date: 2026-12-04 09:00:00+00:00

- macros.owner_id: NULL for the shared canned replies (every existing row), a user for an agent's
  personal one. A plain add_column (no batch rebuild of the macros table on SQLite).
- reply_drafts: one row per (ticket, user), what the user has typed in the ticket's reply box.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import helpdesk.db

revision: str = "f2a6c9e1d4b8"
down_revision: str | None = "f2a7c9e4b1d6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot ALTER a constraint in, but takes a REFERENCES clause on a new nullable column
        op.execute("ALTER TABLE macros ADD COLUMN owner_id INTEGER REFERENCES users (id)")
    else:
        op.add_column("macros", sa.Column("owner_id", sa.Integer(), nullable=True))
        op.create_foreign_key(op.f("fk_macros_owner_id_users"), "macros", "users", ["owner_id"], ["id"])
    op.create_index(op.f("ix_macros_owner_id"), "macros", ["owner_id"], unique=False)
    op.create_table(
        "reply_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("updated_at", helpdesk.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["tickets.id"], name=op.f("fk_reply_drafts_ticket_id_tickets"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_reply_drafts_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reply_drafts")),
        sa.UniqueConstraint("ticket_id", "user_id", name=op.f("uq_reply_drafts_ticket_id_user_id")),
    )
    op.create_index(op.f("ix_reply_drafts_user_id"), "reply_drafts", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_reply_drafts_user_id"), table_name="reply_drafts")
    op.drop_table("reply_drafts")
    op.drop_index(op.f("ix_macros_owner_id"), table_name="macros")
    with op.batch_alter_table("macros") as batch_op:
        batch_op.drop_column("owner_id")
