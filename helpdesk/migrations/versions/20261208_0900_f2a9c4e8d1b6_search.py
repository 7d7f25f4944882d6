"""the queue's search index: ticket_search, backfilled

Revision ID: f2a9c4e8d1b6
Revises: f2a6c9e1d4b8
Create Date: 2026-12-04 09:00:00+00:00

- ticket_search: one row per ticket with its lower-cased words (subject, sender, letter fields, every
  message's subject, sender and first 64 KB of body, notes, attachment names); helpdesk/tickets/search.py.
  SQLite: an FTS5 virtual table with the trigram tokenizer (rowid = ticket id; FTS5 keeps its own
  shadow tables ticket_search_*). PostgreSQL: a table with a pg_trgm GIN index on doc (the extension
  pg_trgm is created when missing; it is a trusted extension, so the database owner may create it).
- PostgreSQL also gets ix_tickets_search_text_id (search_text INCLUDE id): words of one or two
  characters are looked up in that narrow column by an index-only scan.
- every existing ticket is indexed here, from the tables alone.
- the table is not a typed model (a virtual table on SQLite): helpdesk.migrate leaves it out of the
  drift check.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "f2a9c4e8d1b6"
down_revision: str | None = "f2a6c9e1d4b8"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    from helpdesk.tickets import search

    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE ticket_search USING fts5(doc, tokenize = 'trigram')")
    else:
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            "CREATE TABLE ticket_search ("
            " ticket_id integer NOT NULL,"
            " doc text NOT NULL DEFAULT '',"
            " CONSTRAINT pk_ticket_search PRIMARY KEY (ticket_id),"
            " CONSTRAINT fk_ticket_search_ticket_id_tickets FOREIGN KEY (ticket_id)"
            " REFERENCES tickets (id) ON DELETE CASCADE)"
        )
        op.execute("CREATE INDEX ix_ticket_search_doc_trgm ON ticket_search USING gin (doc gin_trgm_ops)")
        # words of one or two characters scan the narrow column; with the id in the index that scan
        # never reads the wide ticket rows (SQLite's indexes carry the rowid anyway)
        op.execute("CREATE INDEX ix_tickets_search_text_id ON tickets (search_text) INCLUDE (id)")
    search.backfill(bind)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.execute("DROP INDEX ix_tickets_search_text_id")
    op.execute("DROP TABLE ticket_search")
