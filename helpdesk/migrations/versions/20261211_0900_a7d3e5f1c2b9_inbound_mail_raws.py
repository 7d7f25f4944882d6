"""the raw bytes of stored mail in a table of their own

Revision ID: a7d3e5f1c2b9
Revises: f2b4d6a8c0e3
Create Date: 2026-12-10 09:00:00+00:00

inbound_mails.raw held each mail's bytes (150 KB and more with a scanned licence) in the row that
intake updates three times (the claim, the settle, the server flag). SQLite rewrites a whole row,
overflow pages included, on every UPDATE: 3-4 ms a mail of the ingest went to rewriting bytes that
never change. The bytes move to inbound_mail_raws (one row per stored mail, written once); every
row's bytes are copied, then the column is dropped (SQLite >= 3.35 drops a plain column in place,
no rebuild of the table that messages reference).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a7d3e5f1c2b9"
down_revision: str | None = "f2b4d6a8c0e3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "inbound_mail_raws",
        sa.Column("inbound_mail_id", sa.Integer(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["inbound_mail_id"],
            ["inbound_mails.id"],
            name=op.f("fk_inbound_mail_raws_inbound_mail_id_inbound_mails"),
        ),
        sa.PrimaryKeyConstraint("inbound_mail_id", name=op.f("pk_inbound_mail_raws")),
    )
    op.execute("INSERT INTO inbound_mail_raws (inbound_mail_id, raw) SELECT id, raw FROM inbound_mails")
    op.drop_column("inbound_mails", "raw")


def downgrade() -> None:
    op.add_column("inbound_mails", sa.Column("raw", sa.LargeBinary(), nullable=True))
    op.execute(
        "UPDATE inbound_mails SET raw = (SELECT r.raw FROM inbound_mail_raws r "
        "WHERE r.inbound_mail_id = inbound_mails.id)"
    )
    op.drop_table("inbound_mail_raws")
