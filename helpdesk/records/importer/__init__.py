"""Import the platform's exports (CSV or XLSX) into the records: validate every row, then upsert in bulk.

The accepted column headers are documented in docs/records-import.md; `COLUMNS` below is the source.

    tables = read_file("企业.xlsx", data)            # parse: kinds detected from the headers
    report = import_tables(tables, skip_invalid=False, actor_id=admin.id)   # one transaction
    report.applied, report.errors[0].text()          # True/False, "…第 5 行 [统一社会信用代码]：…"

Each kind has a natural key (enterprise: USCC; account: account name; qualification: enterprise and
year; project: enterprise and project name), so importing the same file twice changes nothing the
second time. A file with any invalid row imports nothing unless `skip_invalid` is set, in which
case the valid rows are imported and the invalid ones reported.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from helpdesk.db import session, unit_of_work
from helpdesk.records.importer.check import _Run

# "X as X": re-exported, the names callers used when the importer was one module
from helpdesk.records.importer.columns import COLUMNS as COLUMNS
from helpdesk.records.importer.columns import FIELD_LABELS as FIELD_LABELS
from helpdesk.records.importer.columns import KIND_LABELS as KIND_LABELS
from helpdesk.records.importer.columns import KINDS as KINDS
from helpdesk.records.importer.read import Table, read_file
from helpdesk.records.importer.report import ImportFileError as ImportFileError
from helpdesk.records.importer.report import ImportReport
from helpdesk.records.importer.report import RowError as RowError
from helpdesk.records.importer.sql import _bulk_insert
from helpdesk.records.importer.write import PROJECT_FIELDS, QUALIFICATION_FIELDS, _big_cache, _Writer
from helpdesk.records.models import AuditEntry, ProjectApplication, Qualification


def import_tables(
    tables: list[Table],
    *,
    skip_invalid: bool = False,
    actor_id: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Validate every row of `tables`, then write them in one transaction (or nothing). Commits.

    `progress(n)` is called as rows are checked and again as they are written (2 x rows in all).
    """
    started = time.perf_counter()
    report = ImportReport(skip_invalid=skip_invalid)
    report.tables = [(t.source, t.kind, len(t.rows)) for t in tables]
    for t in tables:
        if t.encoding:
            report.notes.append(f"{t.source}：编码 {t.encoding}")
    run = _Run(report, progress)
    try:
        run.collect(tables)
        run.check_enterprises()
        run.check_accounts()
        existing = run.load_accounts()
        run.check_account_owners(existing)
        run.check_bindings(existing)
        run.check_qualifications()
        run.check_projects()
        report.errors.sort(key=lambda e: (e.source, e.row))
        if report.errors and not skip_invalid:
            session.rollback()  # nothing was written: end the checks' read transaction
            return report
        with unit_of_work(), _big_cache():
            writer = _Writer(run, actor_id)
            writer.enterprises()
            writer.accounts(existing)
            writer.keyed("qualification", Qualification, Qualification.fund_year, QUALIFICATION_FIELDS)
            writer.keyed("project", ProjectApplication, ProjectApplication.name, PROJECT_FIELDS)
            if writer.audit:
                _bulk_insert(AuditEntry.__table__, writer.audit)
            session.add(AuditEntry(
                actor_id=actor_id, action="import", entity="import", entity_id="",
                detail={
                    "sources": [s for s, _k, _n in report.tables],
                    "counts": {k: vars(c) for k, c in report.counts.items() if c.rows},
                    "skipped_rows": len(run.bad),
                },
            ))  # fmt: skip
        report.applied = True
        return report
    finally:
        report.seconds = time.perf_counter() - started


def import_files(
    files: Sequence[tuple[str, bytes]],
    *,
    skip_invalid: bool = False,
    actor_id: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Read and import several files at once (enterprises are written before what refers to them). Commits.

    Raises ImportFileError when a file cannot be read at all.
    """
    tables = [t for name, data in files for t in read_file(name, data)]
    return import_tables(tables, skip_invalid=skip_invalid, actor_id=actor_id, progress=progress)
