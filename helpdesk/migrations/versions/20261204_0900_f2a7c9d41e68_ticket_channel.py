"""tickets by hand: tickets.channel and tickets.client_key

Revision ID: f2a7c9d41e68
Revises: e1f4c2a7b9d3
Create Date: 2026-12-04 09:00:00+00:00

- tickets.channel: how the request reached us — mail (every ticket so far), phone or visit (opened by
  an agent from the records).
- tickets.client_key: the one-time key of the form that opened a ticket by hand, unique, so a form
  posted twice makes one ticket. NULL for mail (mail has its own claims).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "f2a7c9d41e68"
down_revision: str | None = "e1f4c2a7b9d3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("tickets", sa.Column("channel", sa.String(length=10), server_default="mail", nullable=False))
    op.add_column("tickets", sa.Column("client_key", sa.String(length=40), nullable=True))
    op.create_index(op.f("ix_tickets_client_key"), "tickets", ["client_key"], unique=True)


def downgrade() -> None:
    op.drop_index(op.f("ix_tickets_client_key"), table_name="tickets")
    op.drop_column("tickets", "client_key")
    op.drop_column("tickets", "channel")
