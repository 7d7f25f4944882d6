"""two-factor login: TOTP secret on users, user_recovery_codes

Revision ID: f2a7c9e4b1d6
Revises: f3b7d2c9a4e1
Create Date: 2026-12-04 09:00:00+00:00

- users.totp_secret: the base32 TOTP secret; set with totp_enabled_at NULL while the user is
  enrolling (scanned, not yet confirmed), both set once confirmed. NULL: no second factor.
- users.totp_last_step: the time step of the last accepted code, so a code is never accepted twice.
- user_recovery_codes: ten single-use codes per user, stored as SHA-256 hashes; used_at marks a used one.
- The roles that must use two-factor login are a row in the existing settings table (no schema).
Plain add_column / create_table: no rebuild of the referenced users table on SQLite.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import helpdesk.db

revision: str = "f2a7c9e4b1d6"
down_revision: str | None = "f3b7d2c9a4e1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("totp_secret", sa.String(length=64), nullable=True))
    op.add_column("users", sa.Column("totp_enabled_at", helpdesk.db.UTCDateTime(), nullable=True))
    op.add_column("users", sa.Column("totp_last_step", sa.Integer(), nullable=True))
    op.create_table(
        "user_recovery_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", helpdesk.db.UTCDateTime(), nullable=False),
        sa.Column("used_at", helpdesk.db.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_recovery_codes_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_recovery_codes")),
    )
    op.create_index(op.f("ix_user_recovery_codes_user_id"), "user_recovery_codes", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_user_recovery_codes_user_id"), table_name="user_recovery_codes")
    op.drop_table("user_recovery_codes")
    op.drop_column("users", "totp_last_step")
    op.drop_column("users", "totp_enabled_at")
    op.drop_column("users", "totp_secret")
