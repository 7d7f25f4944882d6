"""The queue's free-text search: one query function over a trigram index, chosen by dialect.

What is searched (docs/search.md):
- the ticket's own words, in `ticket_search` (one row per ticket, lower-cased): subject, sender,
  read letter fields and their evidence, the agent's field values, and every message's subject,
  sender and body (at most MESSAGE_BYTES of each), notes and replies included, and attachment names.
  SQLite: an FTS5 table with the trigram tokenizer (rowid = ticket id). PostgreSQL: a plain table with
  a pg_trgm GIN index on `doc`, which serves LIKE '%word%'.
- the linked enterprise's name, codes and account names, read from the records at query time
  (enterprises / platform_accounts, a few thousand rows): a ticket linked or unlinked later, or a
  record renamed, is found under its new words at once, with nothing to reindex.

A trigram index cannot serve a word of one or two characters. Such a word of Chinese characters (a
surname, a short name) is looked up in `ticket_search_grams`, which holds every piece of one or two
such characters of the narrow column tickets.search_text (subject, sender, names, codes, accounts; at
most 2,000 bytes): SQLite an FTS5 table (unicode61 tokenizer, one token per piece), PostgreSQL a
text[] column with a GIN index. Other short words (ASCII: rarely a useful query) scan search_text
through its index ix_tickets_search_text. Either way the enterprises are looked up as above.

The index is written in the transaction that changes a ticket's words: a session listener below
notes them at each flush and rewrites their rows before the commit (`reindex` does it by hand).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    column,
    event,
    exists,
    func,
    inspect,
    or_,
    select,
    table,
    text,
    true,
    union,
)
from sqlalchemy import Text as TextType
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session as SessionBase
from sqlalchemy.orm import selectinload

from helpdesk.db import session
from helpdesk.letters import current
from helpdesk.records.keys import name_key
from helpdesk.records.models import Enterprise, PlatformAccount
from helpdesk.tickets.models import Attachment, Message, Ticket

MESSAGE_BYTES = 64 * 1024  #: of each message's body, what the index holds
TRIGRAM = 3  #: words at least this long use the trigram index; shorter ones the narrow column
ENTERPRISE_CAP = 2000  #: enterprises a word may name before the word stops matching by enterprise
MAX_WORDS = 8
USCC_LENGTH = 18  #: 统一社会信用代码
ORG_CODE_LENGTH = 9  #: 组织机构代码 as stored (without its hyphen)
TICKET_NUMBER = re.compile(r"(?:zxzj)?\s*#?\s*([0-9]{1,9})")  #: ZXZJ#12, #12 or 12 also finds ticket 12

#: the SQLite FTS5 table (rowid = ticket id) and the PostgreSQL table share the name and `doc`
fts = table("ticket_search", column("rowid"), column("doc"))
pg_doc = table("ticket_search", column("ticket_id"), column("doc"))
#: the short words' pieces: SQLite FTS5 (rowid = ticket id, `grams` space-separated), PostgreSQL text[]
fts_grams = table("ticket_search_grams", column("rowid"), column("grams"))
pg_grams = table("ticket_search_grams", column("ticket_id"), column("grams", ARRAY(TextType)))


def words_of(q: str) -> list[str]:
    """The lower-cased words of a query (at most MAX_WORDS, duplicates dropped)."""
    out: list[str] = []
    for word in q.lower().split():
        if word and word not in out:
            out.append(word)
    return out[:MAX_WORDS]


def _gram_char(ch: str) -> bool:
    return not ch.isascii() and ch.isalnum()


def grams_of(text_: str) -> list[str]:
    """Every piece of one or two letters outside ASCII (Chinese characters) of `text_`, once each, in
    order: "王芳 变更" gives 王, 芳, 王芳, 变, 更, 变更. A word of one or two such letters occurs in
    `text_` exactly when it is one of these."""
    out: dict[str, None] = {}
    previous = ""
    for ch in text_.lower():
        if not _gram_char(ch):
            previous = ""
            continue
        out[ch] = None
        if previous:
            out[previous + ch] = None
        previous = ch
    return list(out)


def is_gram_word(word: str) -> bool:
    """A word the pieces table answers: one or two letters, none of them ASCII."""
    return 0 < len(word) < TRIGRAM and all(_gram_char(ch) for ch in word)


def _dialect(bind: Any = None) -> str:
    return (bind or session.get_bind()).dialect.name


# ------------------------------------------------------------------------------------ documents


def _cap(text_: str, limit: int) -> str:
    return text_.encode()[:limit].decode(errors="ignore")


def _strings(value: Any) -> Iterable[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif value is not None and not isinstance(value, bool):
        yield str(value)


def document(
    *,
    subject: str,
    requester: Iterable[str],
    fields: Any,
    messages: Iterable[tuple[str, str, str, list[str]]],
    attachment_names: Iterable[str],
) -> str:
    """The lower-cased text the index holds for one ticket. `messages`: (subject, sender, body, the words
    of its stored reading, from letters.current)."""
    parts: list[str] = [subject or "", *requester]
    parts.extend(_strings(fields))
    for msg_subject, sender, body, letter_words in messages:
        parts += [msg_subject or "", sender or "", _cap(body or "", MESSAGE_BYTES)]
        parts.extend(letter_words)
    parts.extend(attachment_names)
    # a newline between parts: a word never matches across two of them by accident of joining
    return "\n".join(p.strip() for p in parts if p and p.strip()).lower()


def document_for(ticket: Ticket) -> str:
    return document(
        subject=ticket.subject,
        requester=(ticket.requester_email, ticket.requester_name),
        fields=ticket.fields,
        messages=((m.subject, m.sender, m.body_text, current.searchable_words(m)) for m in ticket.messages),
        attachment_names=(a.original_name for a in ticket.attachments),
    )


def _write(conn: Connection | Any, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    ids = [r["id"] for r in rows]
    if _dialect(conn.get_bind() if hasattr(conn, "get_bind") else conn) == "sqlite":
        conn.execute(text("DELETE FROM ticket_search WHERE rowid = :id"), [{"id": i} for i in ids])
        conn.execute(text("INSERT INTO ticket_search (rowid, doc) VALUES (:id, :doc)"), rows)
    else:
        conn.execute(
            text(
                "INSERT INTO ticket_search (ticket_id, doc) VALUES (:id, :doc) "
                "ON CONFLICT (ticket_id) DO UPDATE SET doc = EXCLUDED.doc"
            ),
            rows,
        )


def _write_grams(conn: Connection | Any, rows: list[dict[str, Any]]) -> None:
    """rows: {"id": ticket id, "grams": grams_of(its search_text)}."""
    if not rows:
        return
    if _dialect(conn.get_bind() if hasattr(conn, "get_bind") else conn) == "sqlite":
        conn.execute(
            text("DELETE FROM ticket_search_grams WHERE rowid = :id"), [{"id": r["id"]} for r in rows]
        )
        conn.execute(
            text("INSERT INTO ticket_search_grams (rowid, grams) VALUES (:id, :grams)"),
            [{"id": r["id"], "grams": " ".join(r["grams"])} for r in rows],
        )
    else:
        conn.execute(
            text(
                "INSERT INTO ticket_search_grams (ticket_id, grams) VALUES (:id, :grams) "
                "ON CONFLICT (ticket_id) DO UPDATE SET grams = EXCLUDED.grams"
            ),
            [{"id": r["id"], "grams": list(r["grams"])} for r in rows],
        )


def _write_tickets(conn: Connection | Any, tickets: Iterable[Ticket]) -> None:
    written = [t for t in tickets if t.id is not None]
    _write(conn, [{"id": t.id, "doc": document_for(t)} for t in written])
    _write_grams(conn, [{"id": t.id, "grams": grams_of(t.search_text or "")} for t in written])


def reindex(*tickets: Ticket) -> None:
    """Bring the tickets' index rows up to date, in the caller's transaction (flushes first)."""
    session.flush()
    for ticket in tickets:
        # the collections may be stale (a merge moves messages by their ticket_id)
        session.refresh(ticket, ["messages", "attachments"])
    _write_tickets(session, tickets)


# Every path that changes searchable text (intake and follow-ups, notes, replies, field corrections,
# OCR, merges, tickets opened by hand, test factories) goes through the ORM and commits: one listener
# on the session notes the tickets whose words changed as they are flushed, and rewrites their index
# rows just before the commit, in the same transaction. The enterprise's words need nothing: they are
# read from the records at query time, so a link, unlink or records edit is found at once.
_TICKET_TEXT = ("subject", "requester_email", "requester_name", "fields", "search_text")
_MESSAGE_TEXT = ("ticket_id", "subject", "sender", "body_text", "letter")
_ATTACHMENT_TEXT = ("ticket_id", "original_name")
_PENDING = "search_reindex"


def _changed(obj: Any, names: tuple[str, ...]) -> bool:
    state = inspect(obj)
    return any(state.attrs[name].history.has_changes() for name in names)


def _owner_ids(obj: Any) -> list[Any]:
    """The ticket (object or id) a message or attachment belongs to, and the one it left (a merge)."""
    out: list[Any] = []
    history = inspect(obj).attrs["ticket_id"].history
    out.extend(i for i in (*history.added, *history.deleted, *history.unchanged) if i is not None)
    if not out and obj.ticket is not None:
        out.append(obj.ticket)
    return out


@event.listens_for(SessionBase, "before_flush")
def _note_changed_text(sess: SessionBase, _context: Any, _instances: Any) -> None:
    pending = sess.info.setdefault(_PENDING, set())
    for obj in (*sess.new, *sess.dirty):
        if isinstance(obj, Ticket):
            if obj in sess.new or _changed(obj, _TICKET_TEXT):
                pending.add(obj)
        elif isinstance(obj, Message):
            if obj in sess.new or _changed(obj, _MESSAGE_TEXT):
                pending.update(_owner_ids(obj))
        elif isinstance(obj, Attachment) and (obj in sess.new or _changed(obj, _ATTACHMENT_TEXT)):
            pending.update(_owner_ids(obj))


@event.listens_for(SessionBase, "before_commit")
def _reindex_pending(sess: SessionBase) -> None:
    if sess.in_nested_transaction():
        # a savepoint's release: the real commit writes them all at once (intake releases one per
        # mail); what a rolled-back savepoint noted is a ticket id that no longer exists, or that a
        # later ticket of this transaction reused (noted too): either way the rows below are right
        return
    if sess.new or sess.dirty or sess.deleted:
        sess.flush()  # the commit's own flush comes after this event: note its changes now
    if not sess.info.get(_PENDING):
        return
    pending = sess.info.pop(_PENDING, set())
    ids = {p if isinstance(p, int) else p.id for p in pending}
    ids.discard(None)
    if not ids:
        return
    # the collections may be stale (a merge moves messages by their ticket_id): loaded afresh, in
    # three queries for all the tickets
    tickets = sess.scalars(
        select(Ticket)
        .where(Ticket.id.in_(sorted(ids)))
        .options(selectinload(Ticket.messages), selectinload(Ticket.attachments))
        .execution_options(populate_existing=True)
    ).all()
    _write_tickets(sess, tickets)


@event.listens_for(SessionBase, "after_rollback")
def _forget_pending(sess: SessionBase) -> None:
    sess.info.pop(_PENDING, None)


def backfill(conn: Connection, batch: int = 2000) -> int:
    """(Re)build the index of every ticket from the tables alone (the migration and bench use this)."""
    done = 0
    last = 0
    while True:
        ids = conn.execute(
            text("SELECT id FROM tickets WHERE id > :last ORDER BY id LIMIT :n"), {"last": last, "n": batch}
        ).scalars().all()  # fmt: skip
        if not ids:
            return done
        last = ids[-1]
        rows = _documents_from_tables(conn, list(ids))
        _write(conn, rows)
        done += len(rows)


def backfill_grams(conn: Connection, batch: int = 5000) -> int:
    """(Re)build ticket_search_grams from tickets.search_text (its migration and the bench use this)."""
    done = 0
    last = 0
    while True:
        rows = conn.execute(
            text("SELECT id, search_text FROM tickets WHERE id > :last ORDER BY id LIMIT :n"),
            {"last": last, "n": batch},
        ).all()
        if not rows:
            return done
        last = rows[-1].id
        _write_grams(conn, [{"id": r.id, "grams": grams_of(r.search_text or "")} for r in rows])
        done += len(rows)


def _documents_from_tables(conn: Connection, ids: list[int]) -> list[dict[str, Any]]:
    lo, hi = ids[0], ids[-1]
    tickets = conn.execute(
        text(
            "SELECT id, subject, requester_email, requester_name, fields FROM tickets "
            "WHERE id BETWEEN :lo AND :hi ORDER BY id"
        ),
        {"lo": lo, "hi": hi},
    ).all()
    messages: dict[int, list[tuple[str, str, str, list[str]]]] = {}
    for row in conn.execute(
        text(
            "SELECT ticket_id, subject, sender, body_text, letter AS reading FROM messages "
            "WHERE ticket_id BETWEEN :lo AND :hi ORDER BY created_at, id"
        ),
        {"lo": lo, "hi": hi},
    ):
        words = current.stored_words(row.reading)
        messages.setdefault(row.ticket_id, []).append((row.subject, row.sender, row.body_text, words))
    names: dict[int, list[str]] = {}
    for row in conn.execute(
        text(
            "SELECT ticket_id, original_name FROM attachments WHERE ticket_id BETWEEN :lo AND :hi ORDER BY id"
        ),
        {"lo": lo, "hi": hi},
    ):
        names.setdefault(row.ticket_id, []).append(row.original_name or "")
    out = []
    for t in tickets:
        fields = json.loads(t.fields) if isinstance(t.fields, str) and t.fields else t.fields
        doc = document(
            subject=t.subject,
            requester=(t.requester_email or "", t.requester_name or ""),
            fields=fields,
            messages=messages.get(t.id, ()),
            attachment_names=names.get(t.id, ()),
        )
        out.append({"id": t.id, "doc": doc})
    return out


def documents(ids: Iterable[int]) -> dict[int, str]:
    """The indexed text of these tickets (for the queue's snippets)."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    if _dialect() == "sqlite":
        stmt = select(fts.c.rowid, fts.c.doc).where(fts.c.rowid.in_(wanted))
    else:
        stmt = select(pg_doc.c.ticket_id, pg_doc.c.doc).where(pg_doc.c.ticket_id.in_(wanted))
    return {int(i): d or "" for i, d in session.execute(stmt).all()}


# ------------------------------------------------------------------------------------ enterprises


def _contains(col: Any, word: str, sqlite: bool) -> ColumnElement[bool]:
    if sqlite:
        return func.instr(col, word) > 0
    return func.strpos(col, word) > 0


def _like_pattern(word: str) -> str:
    return "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _record_contains(col: Any, word: str, sqlite: bool) -> ColumnElement[bool]:
    """`col` holds `word`: on PostgreSQL as LIKE for three characters or more, which the column's pg_trgm
    index serves (revision f2b4d6a8c0e3); else a substring test of each row (SQLite: some 20,000 rows
    in a few milliseconds)."""
    if sqlite or len(word) < TRIGRAM:
        return _contains(func.coalesce(col, ""), word, sqlite)
    return col.like(_like_pattern(word), escape="\\")


def enterprise_ids(word: str, cap: int = ENTERPRISE_CAP) -> list[int] | None:
    """Enterprises whose name, codes or account names contain `word` (lower-cased); None if over cap.

    Compared on the stored, already folded columns (name_key is lower-case NFKC without punctuation,
    codes upper-case, accounts lower-case), so no function runs per row but the substring test; codes
    and accounts are ASCII, so a word with Chinese in it skips them."""
    sqlite = _dialect() == "sqlite"
    key = name_key(word)
    tests = [_record_contains(Enterprise.name_key, key, sqlite)] if key else []
    code = word.upper()
    # a part of a code is made of its letters and digits and no longer than it: an account name such
    # as zxkt_000123 skips both scans
    if code.isascii() and code.isalnum():
        if len(code) <= USCC_LENGTH:
            tests.append(_record_contains(Enterprise.uscc, code, sqlite))
        if len(code) <= ORG_CODE_LENGTH:
            tests.append(_record_contains(Enterprise.org_code, code, sqlite))
    selects = [select(Enterprise.id).where(or_(*tests))] if tests else []
    if word.isascii():
        selects.append(
            select(PlatformAccount.enterprise_id).where(
                _record_contains(PlatformAccount.account_name, word, sqlite)
            )
        )
    if not selects:
        return []
    stmt = selects[0] if len(selects) == 1 else union(*selects).subquery().c[0]
    ids = session.scalars((select(stmt) if len(selects) > 1 else stmt).limit(cap + 1)).all()
    return None if len(ids) > cap else [int(i) for i in ids]


def enterprises_named(name: str, cap: int = ENTERPRISE_CAP) -> list[int]:
    """The queue's 企业 filter: enterprises whose name contains `name`, or whose code or account it is."""
    words = words_of(name)
    if not words:
        return []
    found: set[int] | None = None
    for word in words:
        ids = set(enterprise_ids(word, cap) or [])
        found = ids if found is None else found & ids
    return sorted(found or ())[:cap]


# ------------------------------------------------------------------------------------ the query


class _Words:
    """A query's words with the enterprises each names (looked up once per request)."""

    def __init__(self, q: str) -> None:
        self.words = words_of(q)
        self.enterprises = {w: enterprise_ids(w) for w in self.words}
        #: set by matching_ids: a word of a one-word query holds more than the cap in its own text, so
        #: more than the cap tickets match (the queue then shows "cap+" without counting row by row)
        self.over_cap = False

    def by_enterprise(self, word: str) -> ColumnElement[bool] | None:
        ids = self.enterprises[word]
        if ids is None:  # a word every other enterprise holds: too broad to name any
            return None
        return Ticket.enterprise_id.in_(ids) if ids else None


def _short_ids(word: str, sqlite: bool) -> Any:
    """The ids of the tickets whose search_text holds the short `word`: from the pieces table for
    Chinese, else by scanning the column's index."""
    if not is_gram_word(word):
        return select(Ticket.id).where(_contains(Ticket.search_text, word, sqlite))
    if sqlite:
        phrase = '"' + word + '"'
        return select(fts_grams.c.rowid).where(text("ticket_search_grams MATCH :g").bindparams(g=phrase))
    return select(pg_grams.c.ticket_id).where(pg_grams.c.grams.contains([word]))


def _own_text_set(word: str, sqlite: bool) -> ColumnElement[bool]:
    """The ticket's own text holds `word`, as a set the index computes (for a few matches)."""
    if len(word) < TRIGRAM:
        return Ticket.id.in_(_short_ids(word, sqlite))
    if sqlite:
        phrase = '"' + word.replace('"', '""') + '"'
        return Ticket.id.in_(select(fts.c.rowid).where(text("ticket_search MATCH :m").bindparams(m=phrase)))
    pattern = _like_pattern(word)
    return Ticket.id.in_(select(pg_doc.c.ticket_id).where(pg_doc.c.doc.like(pattern, escape="\\")))


def _in_document(word: str, sqlite: bool) -> ColumnElement[bool]:
    """This row's indexed text holds `word` (read by the ticket's id: one row, no index scan)."""
    if sqlite:
        return exists().where(fts.c.rowid == Ticket.id, func.instr(fts.c.doc, word) > 0)
    # PostgreSQL: a scalar subquery, run row by row through the primary key. An EXISTS it would turn
    # into a semi-join, which for a count may hash the open tickets and scan ticket_search for the
    # word: 10 ms or 300 ms by where the scan happens to start (and for a word in one ticket of ten,
    # always the latter, against 50 ms row by row)
    in_doc = select(func.strpos(pg_doc.c.doc, word)).where(pg_doc.c.ticket_id == Ticket.id).scalar_subquery()
    return in_doc > 0


def _own_text_row(word: str, sqlite: bool) -> ColumnElement[bool]:
    """The same test row by row (in an ordered scan that stops after a page of matches)."""
    if len(word) < TRIGRAM:
        return _contains(Ticket.search_text, word, sqlite)
    return _in_document(word, sqlite)


def condition(q: str, *, per_row: bool = False, prepared: _Words | None = None) -> ColumnElement[bool]:
    """Tickets that hold every word of `q` in their own text or their enterprise's records.

    `per_row=False`: index lookups, for a query with few matches; `per_row=True`: a test of each row,
    for the ordered scan of a query whose matches are many (the page fills after a few rows).
    """
    words = prepared or _Words(q)
    if not words.words:
        return true()
    sqlite = _dialect() == "sqlite"
    own = _own_text_row if per_row else _own_text_set
    # beside a longer word, a short word is also looked for in the whole text of the few tickets the
    # longer word's index finds (the test runs only on those rows)
    beside_long = any(len(w) >= TRIGRAM for w in words.words)
    parts = []
    for word in words.words:
        alternatives = [own(word, sqlite)]
        if beside_long and len(word) < TRIGRAM:
            alternatives.append(_in_document(word, sqlite))
        by_enterprise = words.by_enterprise(word)
        if by_enterprise is not None:
            alternatives.append(by_enterprise)
        parts.append(or_(*alternatives) if len(alternatives) > 1 else alternatives[0])
    found = and_(*parts)
    number = TICKET_NUMBER.fullmatch(q.strip().lower())
    return or_(Ticket.id == int(number.group(1)), found) if number else found


def _candidates(word: str, words: _Words, cap: int, sqlite: bool) -> list[int] | None:
    """At most `cap` ids holding `word` (the index's or the narrow column's, and its enterprises'
    tickets), or None when more do. Each lookup stops after cap + 1 entries."""
    if len(word) >= TRIGRAM:
        if sqlite:
            phrase = '"' + word.replace('"', '""') + '"'
            own = select(fts.c.rowid).where(text("ticket_search MATCH :m").bindparams(m=phrase))
        else:
            pattern = _like_pattern(word)
            own = select(pg_doc.c.ticket_id).where(pg_doc.c.doc.like(pattern, escape="\\"))
    else:
        own = _short_ids(word, sqlite)
    found = set(session.scalars(own.limit(cap + 1)).all())
    if len(found) > cap:
        words.over_cap = len(words.words) == 1
        return None
    by_enterprise = words.by_enterprise(word)
    if words.enterprises[word] is None:
        return None  # the word names too many enterprises to list their tickets
    if by_enterprise is not None:
        found.update(session.scalars(select(Ticket.id).where(by_enterprise).limit(cap + 1)).all())
    return None if len(found) > cap else sorted(found)


def matching_ids(q: str, cap: int) -> tuple[list[int] | None, _Words]:
    """Ids of the tickets matching `q`, or None when more than `cap` match (then filter row by row).

    The rarest word's candidates (from the trigram index, or the narrow column for a short word, and
    its enterprises' tickets) are read first; each candidate row is then tested for every word. A
    one-word query needs no test: its candidates are exactly its matches.
    """
    words = _Words(q)
    sqlite = _dialect() == "sqlite"
    # longer words first: a trigram lookup is cheap and usually the most selective
    best: list[int] | None = None
    for word in sorted(words.words, key=len, reverse=True):
        found = _candidates(word, words, cap, sqlite)
        if found is not None and (best is None or len(found) < len(best)):
            best = found
            if len(best) <= 50:
                break
    number = TICKET_NUMBER.fullmatch(q.strip().lower())
    if best is None:
        return None, words  # every word is common: the ordered scan tests row by row
    if not best:
        ids: list[int] = []
    elif len(words.words) == 1:
        ids = best  # one word: its candidates are its matches (the index test is exact), no recheck
    else:
        test = condition(q, per_row=True, prepared=words)
        ids = list(
            session.scalars(select(Ticket.id).where(Ticket.id.in_(best), test).order_by(Ticket.id)).all()
        )
    if number:
        ids = sorted(
            set(ids) | set(session.scalars(select(Ticket.id).where(Ticket.id == int(number.group(1)))))
        )
    return (None if len(ids) > cap else ids), words


# ------------------------------------------------------------------------------------ snippets

SNIPPET_CONTEXT = 30


def snippet(doc: str, words: list[str], context: int = SNIPPET_CONTEXT) -> list[tuple[str, bool]]:
    """A piece of `doc` around its first hit, as (text, is_hit) parts; [] when no word occurs."""
    if not words or not doc:
        return []
    pattern = re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)))
    first = pattern.search(doc)
    if first is None:
        return []
    start = max(0, first.start() - context)
    end = min(len(doc), first.end() + context * 2)
    piece = doc[start:end].replace("\n", " · ")
    parts: list[tuple[str, bool]] = [("…", False)] if start else []
    pos = 0
    for hit in pattern.finditer(piece):
        if hit.start() > pos:
            parts.append((piece[pos : hit.start()], False))
        parts.append((hit.group(0), True))
        pos = hit.end()
    if pos < len(piece):
        parts.append((piece[pos:], False))
    if end < len(doc):
        parts.append(("…", False))
    return parts


def marked(value: str, words: list[str]) -> list[tuple[str, bool]]:
    """`value` as (text, is_hit) parts, hits found case-insensitively."""
    if not words or not value:
        return [(value or "", False)]
    pattern = re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)), re.IGNORECASE)
    parts: list[tuple[str, bool]] = []
    pos = 0
    for hit in pattern.finditer(value):
        if hit.start() > pos:
            parts.append((value[pos : hit.start()], False))
        parts.append((hit.group(0), True))
        pos = hit.end()
    if pos < len(value):
        parts.append((value[pos:], False))
    return parts
