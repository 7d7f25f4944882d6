"""logins as rows: user_sessions

Revision ID: e1f4c2a7b9d3
Revises: d5b8e3f41a27
Create Date: 2026-12-03 09:00:00+00:00

- user_sessions: one row per login; the signed cookie (and the remember-me cookie) holds the row's
  random key, the row only its hash. Logout deletes the row, so every copy of the cookies stops
  working; a password change or deactivation deletes all of the user's rows.
- users.session_token is no longer read; it stays (dropping it would rebuild the referenced users
  table on SQLite). Cookies made before this revision name no row: everyone logs in once more.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import helpdesk.db

revision: str = "e1f4c2a7b9d3"
down_revision: str | None = "d5b8e3f41a27"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "user_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", helpdesk.db.UTCDateTime(), nullable=False),
        sa.Column("user_agent", sa.String(length=200), nullable=False),
        sa.Column("address", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_sessions_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_sessions")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_user_sessions_key_hash")),
    )
    op.create_index(op.f("ix_user_sessions_user_id"), "user_sessions", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_user_sessions_user_id"), table_name="user_sessions")
    op.drop_table("user_sessions")
