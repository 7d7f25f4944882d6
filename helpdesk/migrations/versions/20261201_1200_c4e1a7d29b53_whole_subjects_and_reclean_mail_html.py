"""whole subjects; stored mail HTML cleaned by the one ingest policy

Revision ID: c4e1a7d29b53
Revises: bfa965dc3f0c
Create Date: 2026-12-01 12:00:00+00:00

1. tickets.subject, messages.subject and outbound_mails.subject become TEXT: subjects are stored whole
   (they were cut at 500 characters; a reply's "回复：" + subject could not be stored at all).
2. messages.body_html is re-cleaned with helpdesk.mail.html.sanitize_html, the one policy applied at
   ingest: the ticket page no longer sanitises on every view, so rows stored before that must be safe
   as they are. A body over the sanitising budget (size, nesting) is emptied; its text version
   (body_text) stays and is what the page shows.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from helpdesk.mail.html import sanitize_html

revision: str = "c4e1a7d29b53"
down_revision: str | None = "bfa965dc3f0c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

SUBJECTS = ("tickets", "messages", "outbound_mails")
BATCH = 200  #: messages re-cleaned per round trip (bodies run to megabytes)


def _sqlite_retype(table: str, column: str, sql_type: str, value: str) -> None:
    """SQLite cannot ALTER a column's type, and a batch copy of `tickets` would trip the foreign keys of
    every table that references it: add a new column, copy, drop the old one, rename (SQLite >= 3.35)."""
    op.execute(f"ALTER TABLE {table} ADD COLUMN {column}_new {sql_type} NOT NULL DEFAULT ''")
    op.execute(f"UPDATE {table} SET {column}_new = {value}")
    op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    op.execute(f"ALTER TABLE {table} RENAME COLUMN {column}_new TO {column}")


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in SUBJECTS:
        if sqlite:
            _sqlite_retype(table, "subject", "TEXT", "subject")
        else:  # varchar -> text is binary-compatible in PostgreSQL: no table rewrite
            op.alter_column(
                table, "subject", type_=sa.Text(), existing_type=sa.String(500), existing_nullable=False
            )
    _reclean_bodies()


def _reclean_bodies() -> None:
    bind = op.get_bind()
    messages = sa.table("messages", sa.column("id", sa.Integer), sa.column("body_html", sa.Text))
    last_id = 0
    while True:
        rows = bind.execute(
            sa.select(messages.c.id, messages.c.body_html)
            .where(messages.c.id > last_id, messages.c.body_html != "")
            .order_by(messages.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        for message_id, html in rows:
            clean = sanitize_html(html) or ""
            if clean != html:
                bind.execute(messages.update().where(messages.c.id == message_id).values(body_html=clean))
        last_id = rows[-1][0]


def downgrade() -> None:
    # subjects longer than 500 characters are cut: the old columns cannot hold them
    sqlite = op.get_bind().dialect.name == "sqlite"
    for table in SUBJECTS:
        if sqlite:
            _sqlite_retype(table, "subject", "VARCHAR(500)", "substr(subject, 1, 500)")
        else:
            op.alter_column(
                table,
                "subject",
                type_=sa.String(500),
                existing_type=sa.Text(),
                existing_nullable=False,
                postgresql_using="left(subject, 500)",
            )
