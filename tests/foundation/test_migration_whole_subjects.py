"""Revision c4e1a7d29b53 on a database that holds data: subjects widened, stored mail HTML re-cleaned."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import command

from helpdesk import db, migrate
from helpdesk.mail.html import MAX_HTML_DEPTH

PREVIOUS = "bfa965dc3f0c"
REVISION = "c4e1a7d29b53"
LONG_SUBJECT = "关于申请变更企业信息的函" * 100  # 1,200 characters
DANGEROUS = (
    '<p onclick="steal()">请看附件</p><script>alert(1)</script><img src="https://evil.example/t.png">'
    '<a href="javascript:alert(2)">点这里</a><a href="https://ok.example/x">正常链接</a>'
)
TOO_DEEP = "<div>层" * (MAX_HTML_DEPTH + 50)
TABLES = ("tickets", "messages", "outbound_mails")


def _alembic(engine: sa.Engine, target: str, action: Any = command.upgrade) -> None:
    cfg = migrate.alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        action(cfg, target)


def _filler(column: sa.Column) -> Any:
    """A value for a NOT NULL column the test does not care about."""
    kind = column.type
    if isinstance(kind, sa.Boolean):
        return False
    if isinstance(kind, sa.Integer):
        return 0
    if isinstance(kind, sa.DateTime):
        return datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    if isinstance(kind, sa.JSON):
        return {}
    return "x"


def _insert(conn: sa.Connection, table: sa.Table, **values: Any) -> int:
    for column in table.columns:
        if column.name not in values and not column.nullable and not column.primary_key:
            values[column.name] = _filler(column)
    return conn.execute(table.insert().values(**values).returning(table.c.id)).scalar_one()


def _database(db_kind: str, tmp_path: Any, request: Any) -> sa.Engine:
    if db_kind == "sqlite":
        return db.configure(f"sqlite:///{tmp_path / 'previous.sqlite3'}")
    return db.configure(request.getfixturevalue("postgres_url"))


def test_upgrade_keeps_rows_widens_subjects_and_recleans_stored_html(db_kind, tmp_path, request):
    engine = _database(db_kind, tmp_path, request)
    _alembic(engine, PREVIOUS)
    meta = sa.MetaData()
    meta.reflect(engine, only=TABLES)
    tickets, messages, outbound = (meta.tables[n] for n in TABLES)
    assert tickets.c.subject.type.length == 500  # really the old schema
    with engine.begin() as conn:
        ticket = _insert(conn, tickets, subject="变更说明", type="change", status="new")
        dangerous = _insert(
            conn, messages, ticket_id=ticket, subject="来函", body_html=DANGEROUS, body_text="请看附件"
        )
        deep = _insert(conn, messages, ticket_id=ticket, subject="深", body_html=TOO_DEEP, body_text="层层")
        plain = _insert(
            conn, messages, ticket_id=ticket, subject="纯文本", body_html="", body_text="只有文本"
        )
        _insert(conn, outbound, ticket_id=ticket, subject="回复：变更说明", message_id="ours-1@zxzj")

    _alembic(engine, REVISION)

    assert migrate.current_revision(engine) == REVISION
    columns = {t: {c["name"]: c for c in sa.inspect(engine).get_columns(t)} for t in TABLES}
    for table in TABLES:
        assert isinstance(columns[table]["subject"]["type"], sa.Text), table
        assert not columns[table]["subject"]["nullable"], table
    with engine.begin() as conn:
        # a subject the old column could not hold is now stored whole, in every subject column
        conn.execute(tickets.update().values(subject=LONG_SUBJECT))
        conn.execute(messages.update().where(messages.c.id == plain).values(subject=LONG_SUBJECT))
        conn.execute(outbound.update().values(subject="回复：" + LONG_SUBJECT))
        stored = dict(conn.execute(sa.select(messages.c.id, messages.c.body_html)).all())
        texts = dict(conn.execute(sa.select(messages.c.id, messages.c.body_text)).all())
        subjects = [conn.execute(sa.select(t.c.subject)).scalars().all() for t in (tickets, outbound)]
    assert subjects == [[LONG_SUBJECT], ["回复：" + LONG_SUBJECT]]
    cleaned = stored[dangerous].lower()
    for bad in ("<script", "onclick", "javascript:", "evil.example"):
        assert bad not in cleaned, bad
    assert "请看附件" in stored[dangerous] and 'href="https://ok.example/x"' in stored[dangerous]
    assert stored[deep] == ""  # over the nesting budget: the page shows the text version
    assert stored[plain] == ""
    assert texts == {dangerous: "请看附件", deep: "层层", plain: "只有文本"}  # no text is lost
    _alembic(engine, "head")
    assert migrate.pending_changes(engine) == []  # the models describe the upgraded schema
    engine.dispose()


def test_downgrade_cuts_subjects_back_to_500(db_kind, tmp_path, request):
    engine = _database(db_kind, tmp_path, request)
    _alembic(engine, REVISION)
    meta = sa.MetaData()
    meta.reflect(engine, only=["tickets"])
    with engine.begin() as conn:
        _insert(conn, meta.tables["tickets"], subject=LONG_SUBJECT, type="change", status="new")
    _alembic(engine, PREVIOUS, command.downgrade)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT subject FROM tickets")).scalar_one() == LONG_SUBJECT[:500]
    engine.dispose()
