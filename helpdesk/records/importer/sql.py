"""Chunked SELECTs and bulk INSERTs on the session's connection (many rows, few round trips)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from helpdesk.db import session


def _bulk_insert(table: Any, rows: list[dict[str, Any]]) -> None:
    """INSERT many rows given as dicts (every row has the keys of the first); see `_insert_rows`."""
    if rows:
        cols = list(rows[0])
        _insert_rows(table, cols, [[row[c] for c in cols] for row in rows])


def _insert_rows(table: Any, cols: list[str], data: Sequence[Sequence[Any]]) -> None:
    """INSERT many rows through the driver's executemany.

    SQLAlchemy's per-row parameter processing would cost more than SQLite's insert itself; the
    columns' bind processors (UTC datetimes, JSON) are still applied, once per distinct value.
    """
    if not data:
        return
    conn = session.connection()
    dialect = conn.dialect
    procs = [(i, p) for i, c in enumerate(cols) if (p := table.c[c].type.bind_processor(dialect)) is not None]
    if procs:
        data = [list(values) for values in data]
        for i, proc in procs:
            memo: dict[Any, Any] = {}
            for values in data:
                v = values[i]
                if v is None:
                    continue
                try:
                    values[i] = memo[v]
                except KeyError:
                    values[i] = memo[v] = proc(v)
                except TypeError:  # unhashable (a JSON dict)
                    values[i] = proc(v)
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({', '.join([mark] * len(cols))})"
    for i in range(0, len(data), 50_000):
        conn.exec_driver_sql(sql, [tuple(v) for v in data[i : i + 50_000]])


def _select(stmt: Any) -> Any:
    # Core execution on the session's connection: no ORM result processing for plain column rows
    return session.connection().execute(stmt)
