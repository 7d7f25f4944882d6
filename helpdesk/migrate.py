"""Schema management through Alembic: upgrade to head (safe to repeat), check for drift."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

import helpdesk.models  # noqa: F401
from helpdesk.db import Base

HERE = Path(__file__).parent


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Leave the search index out of the drift check: not a model (an FTS5 table and its shadow
    tables on SQLite, helpdesk/tickets/search.py)."""
    if type_ == "index" and name == "ix_tickets_search_text_id":  # PostgreSQL only, made by that revision
        return False
    if type_ == "index" and (name or "").endswith("_trgm"):  # PostgreSQL's pg_trgm indexes (f2b4d6a8c0e3)
        return False
    return not (type_ == "table" and (name or "").startswith("ticket_search"))


def alembic_config() -> Config:
    return Config(str(HERE / "alembic.ini"))


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade(engine: Engine) -> tuple[str | None, str | None]:
    """Bring the schema to head; return (revision before, revision after)."""
    before = current_revision(engine)
    if before is None and set(inspect(engine).get_table_names()) - {"alembic_version"}:
        raise RuntimeError(
            "数据库中已有表但没有迁移版本记录（alembic_version）：它不是由 helpdesk 创建的，请换一个空数据库。"
        )
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    return before, current_revision(engine)


def pending_changes(engine: Engine) -> list[object]:
    """Differences between the models and the migrated schema (empty = migrations are complete)."""
    with engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True, "include_name": include_name})
        return list(compare_metadata(ctx, Base.metadata))


def revision(engine: Engine, message: str) -> None:
    """Autogenerate a new revision against `engine` (developers only)."""
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.revision(cfg, message=message, autogenerate=True)
