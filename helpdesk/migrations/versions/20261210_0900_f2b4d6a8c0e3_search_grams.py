"""the short words' index: ticket_search_grams, backfilled

Revision ID: f2b4d6a8c0e3
Revises: f2a9c4e6b8d1
Create Date: 2026-12-10 09:00:00+00:00

- ticket_search_grams: one row per ticket with every piece of one or two Chinese characters of its
  tickets.search_text (helpdesk/tickets/search.py, grams_of). A query word of one or two characters
  (a surname, a short name) cannot use the trigram index; it was answered by scanning search_text for
  all tickets (200 ms and more at 200,000 tickets), now by one index lookup.
  SQLite: an FTS5 virtual table with the unicode61 tokenizer, the pieces separated by spaces (one token
  each; rowid = ticket id; detail=none: no positions are needed for a one-token query). PostgreSQL: a
  table with a text[] column and a GIN index on it (`grams @> ARRAY[word]`).
- every existing ticket is indexed here, from tickets.search_text.
- PostgreSQL also gets pg_trgm GIN indexes on the records' words the search reads at query time
  (enterprises.name_key, uscc, org_code; platform_accounts.account_name): a word of three characters or
  more finds its enterprises through them (`LIKE '%word%'`) instead of a substring test of every row
  (SQLite scans those tens of thousands of rows in a few milliseconds). Not in the typed models (an
  operator class SQLite has not): helpdesk.migrate leaves indexes named *_trgm out of the drift check.
- like ticket_search, not a typed model: helpdesk.migrate leaves tables named ticket_search* out of the
  drift check.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "f2b4d6a8c0e3"
down_revision: str | None = "f2a9c4e6b8d1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


#: the records' columns a search word is looked for in (helpdesk.tickets.search.enterprise_ids)
RECORD_WORDS = (
    ("enterprises", "name_key"),
    ("enterprises", "uscc"),
    ("enterprises", "org_code"),
    ("platform_accounts", "account_name"),
)


def upgrade() -> None:
    from helpdesk.tickets import search

    bind = op.get_bind()
    if bind.dialect.name == "sqlite":
        op.execute(
            "CREATE VIRTUAL TABLE ticket_search_grams USING fts5("
            "grams, tokenize = 'unicode61 remove_diacritics 0', detail = 'none')"
        )
    else:
        op.execute(
            "CREATE TABLE ticket_search_grams ("
            " ticket_id integer NOT NULL,"
            " grams text[] NOT NULL DEFAULT '{}',"
            " CONSTRAINT pk_ticket_search_grams PRIMARY KEY (ticket_id),"
            " CONSTRAINT fk_ticket_search_grams_ticket_id_tickets FOREIGN KEY (ticket_id)"
            " REFERENCES tickets (id) ON DELETE CASCADE)"
        )
        op.execute("CREATE INDEX ix_ticket_search_grams_grams ON ticket_search_grams USING gin (grams)")
        for table, col in RECORD_WORDS:
            op.execute(f"CREATE INDEX ix_{table}_{col}_trgm ON {table} USING gin ({col} gin_trgm_ops)")
    search.backfill_grams(bind)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        for table, col in RECORD_WORDS:
            op.execute(f"DROP INDEX ix_{table}_{col}_trgm")
    op.execute("DROP TABLE ticket_search_grams")
