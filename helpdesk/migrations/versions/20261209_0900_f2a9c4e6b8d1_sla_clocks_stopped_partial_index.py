"""the report's index of stopped clocks holds only the stopped ones

Revision ID: f2a9c4e6b8d1
Revises: f2a9c4e8d1b6
Create Date: 2026-12-04 09:00:00+00:00

ix_sla_clocks_stopped_at indexed every clock, the running ones under NULL. SQLite's planner (no
statistics) took it for the SLA tick's `stopped_at IS NULL`, which matches every open clock, and
sorted them all for the earliest deadline (144-261 ms a step at 100,000 open tickets) instead of
walking the partial indexes by deadline (ix_sla_clocks_warn_due / ix_sla_clocks_breach_due). Made
partial (`stopped_at IS NOT NULL`) it still serves the report's range reads of stopped clocks (a
range on stopped_at implies NOT NULL on both databases) and no longer matches a running clock.
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy import text

revision: str = "f2a9c4e6b8d1"
down_revision: str | None = "f2a9c4e8d1b6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

STOPPED = "stopped_at IS NOT NULL"


def upgrade() -> None:
    op.drop_index("ix_sla_clocks_stopped_at", table_name="sla_clocks")
    op.create_index(
        "ix_sla_clocks_stopped_at",
        "sla_clocks",
        ["stopped_at"],
        unique=False,
        postgresql_where=text(STOPPED),
        sqlite_where=text(STOPPED),
    )


def downgrade() -> None:
    op.drop_index("ix_sla_clocks_stopped_at", table_name="sla_clocks")
    op.create_index("ix_sla_clocks_stopped_at", "sla_clocks", ["stopped_at"], unique=False)
