"""Schema creation and reference data (calendar, SLA policies, macros) for a new or upgraded database."""

from __future__ import annotations

from helpdesk import db, migrate


def init_database() -> tuple[str | None, str | None, list[str]]:
    """Upgrade the schema to head and seed missing reference data; returns (before, after, seed notes)."""
    before, after = migrate.upgrade(db.engine())
    notes: list[str] = []
    for seed in _seeds() + SEEDS:
        note = seed()
        if note:
            notes.append(note)
    return before, after, notes


def _seeds() -> list:
    from helpdesk.sla.service import seed_calendar, seed_policies

    return [seed_calendar, seed_policies]


SEEDS: list = []  #: extra seed functions that other modules append (e.g. canned replies)


def _seed_macros() -> str:
    from helpdesk.tickets.macros import seed_macros

    return seed_macros()


SEEDS.append(_seed_macros)
