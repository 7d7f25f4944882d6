"""Writing: upsert the checked rows by their natural keys, with an audit entry per changed field."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import bindparam, delete, func, select, tuple_, update

from helpdesk.db import session, utcnow
from helpdesk.records.importer.check import _Row, _Run
from helpdesk.records.importer.columns import CHUNK
from helpdesk.records.importer.sql import _bulk_insert, _insert_rows, _select
from helpdesk.records.keys import name_grams, name_key
from helpdesk.records.models import (
    Enterprise,
    EnterpriseNameGram,
    PlatformAccount,
)

ENTERPRISE_FIELDS = (
    "name", "org_code", "division_code", "division_name", "authority", "contact_name", "contact_phone",
    "contact_email",
)  # fmt: skip
ACCOUNT_FIELDS = ("status", "app_bound", "email", "mobile")
QUALIFICATION_FIELDS = ("review_status", "allow_modify", "industry", "main_business", "headcount")
PROJECT_FIELDS = ("status", "fund_year", "filed_company_name", "filed_division")


def _changes(row: _Row, old: dict[str, Any], fields: Sequence[str]) -> dict[str, tuple[Any, Any]]:
    return {
        f: (old[f], row.values[f])
        for f in fields
        if f in row.present and old[f] != row.values[f] and not (old[f] is None and row.values[f] == "")
    }


class _Writer:
    """The bulk writes of a validated run, in one transaction (the caller's unit of work)."""

    def __init__(self, run: _Run, actor_id: int | None) -> None:
        self.run = run
        self.actor_id = actor_id
        self.now = utcnow()
        self.audit: list[dict[str, Any]] = []

    def note(
        self, entity: str, entity_id: Any, enterprise_id: int | None, changes: dict[str, tuple[Any, Any]]
    ):
        for f, (before, after) in changes.items():
            self.audit.append({
                "at": self.now, "actor_id": self.actor_id, "ticket_id": None, "enterprise_id": enterprise_id,
                "action": "import", "entity": entity, "entity_id": str(entity_id), "field": f,
                "before": None if before is None else str(before), "after": None if after is None else str(after),
                "detail": None,
            })  # fmt: skip

    def enterprises(self) -> None:
        run, counts = self.run, self.run.report.counts["enterprise"]
        rows = run.ok("enterprise")
        old: dict[str, dict[str, Any]] = {}
        usccs = [r.key for r in rows]
        cols = [Enterprise.id, Enterprise.uscc, *(getattr(Enterprise, f) for f in ENTERPRISE_FIELDS)]
        for i in range(0, len(usccs), CHUNK):
            for rec in _select(select(*cols).where(Enterprise.uscc.in_(usccs[i : i + CHUNK]))):
                old[rec.uscc] = rec._asdict()
        new_rows, updates, renamed = [], [], []
        for r in rows:
            before = old.get(r.key)
            if before is None:
                new_rows.append({
                    **r.values, "name_key": name_key(r.values["name"]), "created_at": self.now, "updated_at": self.now,
                })  # fmt: skip
                continue
            changes = _changes(r, before, ENTERPRISE_FIELDS)
            if not changes:
                counts.unchanged += 1
                continue
            values = {f: (r.values[f] if f in changes else before[f]) for f in ENTERPRISE_FIELDS}
            values["name_key"] = name_key(values["name"])
            updates.append({"_id": before["id"], **values, "updated_at": self.now})
            if "name" in changes and name_key(before["name"]) != values["name_key"]:
                renamed.append((before["id"], name_key(before["name"]), values["name_key"]))
            self.note("enterprise", before["id"], before["id"], changes)
        if new_rows:
            top = _select(select(func.max(Enterprise.id))).scalar() or 0
            _bulk_insert(Enterprise.__table__, new_rows)
            counts.created += len(new_rows)
            wanted = {r["uscc"] for r in new_rows}
            for ent_id, uscc in _select(select(Enterprise.id, Enterprise.uscc).where(Enterprise.id > top)):
                if uscc in wanted:
                    run.ent_ids[uscc] = ent_id
        if updates:
            t = Enterprise.__table__
            session.execute(update(t).where(t.c.id == bindparam("_id")), updates)
            counts.updated += len(updates)
        run.load_enterprise_ids(r["uscc"] for r in new_rows)  # normally found above already
        pairs = [(g, run.ent_ids[r["uscc"]]) for r in new_rows for g in name_grams(r["name_key"])]
        if renamed:
            g = EnterpriseNameGram.__table__
            stale = [
                {"e": i, "g": gram}
                for i, old_key, new_key in renamed
                for gram in name_grams(old_key) | name_grams(new_key)
            ]
            session.execute(
                delete(g).where(g.c.enterprise_id == bindparam("e"), g.c.gram == bindparam("g")), stale
            )
            pairs.extend((gram, i) for i, _o, new_key in renamed for gram in name_grams(new_key))
        pairs.sort()  # in index order: appending to the B-tree is much cheaper than random inserts
        _insert_rows(EnterpriseNameGram.__table__, ["gram", "enterprise_id"], pairs)
        run.progress(len(rows))

    def accounts(self, existing: dict[str, tuple[int, int, str, bool, str, str]]) -> None:
        run, counts = self.run, self.run.report.counts["account"]
        rows = run.ok("account")
        run.load_enterprise_ids(r.enterprise for r in rows if r.enterprise)
        new_rows, unbinding, other = [], [], []
        for r in rows:
            ent_id = run.ent_ids[r.enterprise]  # type: ignore[index]
            rec = existing.get(r.key)
            if rec is None:
                new_rows.append({
                    "enterprise_id": ent_id, **r.values,
                    "cancelled_at": self.now if r.values["status"] == "cancelled" else None,
                })  # fmt: skip
                continue
            before = dict(zip(ACCOUNT_FIELDS, rec[2:], strict=True))
            changes = _changes(r, before, ACCOUNT_FIELDS)
            if not changes:
                counts.unchanged += 1
                continue
            values = {f: (r.values[f] if f in changes else before[f]) for f in ACCOUNT_FIELDS}
            if values["status"] == "cancelled" and values["app_bound"]:
                values["app_bound"] = False  # a cancelled account holds no binding
                changes["app_bound"] = (True, False)
            cancelled_at = self.now if "status" in changes and values["status"] == "cancelled" else None
            item = {"_id": rec[0], **values, "cancelled_at": cancelled_at}
            (unbinding if not values["app_bound"] else other).append(item)
            self.note("account", r.key, ent_id, changes)
        t = PlatformAccount.__table__
        stmt = update(t).where(t.c.id == bindparam("_id"))  # SET columns: the keys of the parameter dicts
        # unbind first, bind last: the one-binding index must hold after every statement
        if unbinding:
            session.execute(stmt, unbinding)
        if new_rows:
            _bulk_insert(PlatformAccount.__table__, sorted(new_rows, key=lambda r: r["app_bound"]))
        if other:
            session.execute(stmt, other)
        counts.created += len(new_rows)
        counts.updated += len(unbinding) + len(other)
        run.progress(len(rows))

    def keyed(self, kind: str, model: Any, key_col: Any, fields: Sequence[str]) -> None:
        """Upsert qualifications or projects by (enterprise, year / name)."""
        run, counts = self.run, self.run.report.counts[kind]
        rows = run.ok(kind)
        run.load_enterprise_ids(r.enterprise for r in rows if r.enterprise)
        keys = [(run.ent_ids[r.enterprise], r.key) for r in rows]  # type: ignore[index]
        old: dict[tuple[int, Any], dict[str, Any]] = {}
        cols = [model.id, model.enterprise_id, key_col, *(getattr(model, f) for f in fields)]
        for i in range(0, len(keys), CHUNK // 2):
            chunk = keys[i : i + CHUNK // 2]
            for rec in _select(select(*cols).where(tuple_(model.enterprise_id, key_col).in_(chunk))):
                d = rec._asdict()
                old[(d["enterprise_id"], d[key_col.key])] = d
        new_rows, updates = [], []
        for r, key in zip(rows, keys, strict=True):
            before = old.get(key)
            if before is None:
                new_rows.append({"enterprise_id": key[0], key_col.key: key[1], **r.values})
                continue
            changes = _changes(r, before, fields)
            if not changes:
                counts.unchanged += 1
                continue
            updates.append(
                {"_id": before["id"], **{f: (r.values[f] if f in changes else before[f]) for f in fields}}
            )
            self.note(kind, before["id"], key[0], changes)
        if new_rows:
            _bulk_insert(model.__table__, new_rows)
        if updates:
            t = model.__table__
            session.execute(update(t).where(t.c.id == bindparam("_id")), updates)
        counts.created += len(new_rows)
        counts.updated += len(updates)
        run.progress(len(rows))


@contextmanager
def _big_cache() -> Iterator[None]:
    """SQLite: a page cache large enough for the indexes being filled, for this import only.

    With the default 2 MB cache, inserting 100,000 rows into five B-trees in random key order
    keeps evicting and re-reading the same pages.
    """
    conn = session.connection()
    if conn.dialect.name != "sqlite":
        yield
        return
    before = conn.exec_driver_sql("PRAGMA cache_size").scalar()
    conn.exec_driver_sql("PRAGMA cache_size = -262144")  # KiB: at most 256 MB, allocated as needed
    try:
        yield
    finally:
        conn.exec_driver_sql(f"PRAGMA cache_size = {int(before)}")
