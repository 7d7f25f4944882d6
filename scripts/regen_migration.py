"""Regenerate the single initial Alembic revision from the models (before the first release only).

Nothing has been deployed yet, so the schema is one reviewed revision rather than a stack of
session-by-session patches. Once a database exists in production, add new revisions instead.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from helpdesk import db, migrate

VERSIONS = Path(migrate.__file__).parent / "migrations" / "versions"


def main() -> None:
    for old in VERSIONS.glob("*.py"):
        old.unlink()
    with tempfile.TemporaryDirectory() as tmp:
        engine = db.configure(f"sqlite:///{tmp}/empty.sqlite3")
        migrate.revision(engine, "initial schema")
        engine.dispose()
    with tempfile.TemporaryDirectory() as tmp:
        engine = db.configure(f"sqlite:///{tmp}/check.sqlite3")
        migrate.upgrade(engine)
        drift = migrate.pending_changes(engine)
        engine.dispose()
    if drift:
        raise SystemExit(f"models and migration still differ: {drift}")
    print("regenerated:", ", ".join(p.name for p in VERSIONS.glob("*.py")))


if __name__ == "__main__":
    main()
