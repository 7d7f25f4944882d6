"""One home per concept, checked on the source: who may commit, and who may use the tickets' private helpers.

Views and CLI commands call one service and never commit or roll back: the service's `unit_of_work()`
does both. The ticket lifecycle's steps are public (tickets.lifecycle); nothing outside tickets/
(nor another tickets module) reaches into a private helper of a tickets module.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "helpdesk"

#: a view that rolls back a failed read in a context processor; owned by the SLA rewrite (issue 13),
#: which moves the banner's read into sla's service. Remove the entry when that lands.
KNOWN = {"helpdesk/sla/views.py": 1}


def transaction_calls(source: str) -> list[str]:
    """`x.commit()`, `x.rollback()` and `unit_of_work` uses in `source`, as "line: what"."""
    found = []
    for node in ast.walk(ast.parse(source)):
        call = isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
        if call and node.func.attr in ("commit", "rollback"):  # type: ignore[attr-defined]
            found.append(f"{node.lineno}: .{node.func.attr}()")
        if isinstance(node, ast.Name) and node.id == "unit_of_work":
            found.append(f"{node.lineno}: unit_of_work")
        if isinstance(node, ast.Attribute) and node.attr == "unit_of_work":
            found.append(f"{node.lineno}: unit_of_work")
    return found


def private_ticket_helpers(source: str) -> list[str]:
    """Uses of a private name (`_x`) of a helpdesk.tickets module in `source`, as "line: module._x"."""
    tree = ast.parse(source)
    modules: dict[str, str] = {}  # local name -> helpdesk.tickets.<module>
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if node.module == "helpdesk.tickets":
                    modules[alias.asname or alias.name] = f"helpdesk.tickets.{alias.name}"
                elif node.module.startswith("helpdesk.tickets.") and alias.name.startswith("_"):
                    found.append(f"{node.lineno}: {node.module}.{alias.name}")
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("helpdesk.tickets.") and alias.asname:
                    modules[alias.asname] = alias.name
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in modules
            and node.attr.startswith("_")
            and not node.attr.startswith("__")
        ):
            found.append(f"{node.lineno}: {modules[node.value.id]}.{node.attr}")
    return found


def _views_and_commands() -> list[Path]:
    names = ("views.py", "api.py", "cli.py")
    files = [p for p in PACKAGE.rglob("*.py") if p.name in names]
    files += [p for p in PACKAGE.rglob("views/*.py")]  # a views package, one module per page group
    return sorted(set(files))


def test_the_transaction_scanner_sees_commits_rollbacks_and_units_of_work():
    source = (
        "def v():\n    session.commit()\n    db.session.rollback()\n    with unit_of_work():\n        pass\n"
    )
    assert transaction_calls(source) == ["2: .commit()", "3: .rollback()", "4: unit_of_work"]
    assert transaction_calls("def v():\n    services.assign(t, a, by=u)\n") == []


def test_views_and_cli_commands_never_commit_or_roll_back():
    files = _views_and_commands()
    assert any(p.name == "cli.py" for p in files) and any(p.name == "api.py" for p in files)
    problems = []
    for path in files:
        rel = path.relative_to(ROOT).as_posix()
        calls = transaction_calls(path.read_text(encoding="utf-8"))
        if len(calls) != KNOWN.get(rel, 0):
            problems += [f"{rel}:{c}" for c in calls] or [f"{rel}: the known exception is gone; drop it"]
    assert problems == [], "views and commands call a service, which commits: " + "; ".join(problems)


def test_the_private_helper_scanner_sees_module_and_from_imports():
    source = (
        "from helpdesk.tickets import services as s, lifecycle\n"
        "from helpdesk.tickets.services import _hidden\n"
        "s._record(t, 'x')\nlifecycle.record(t, 'x')\nlifecycle._iso(None)\n"
    )
    assert private_ticket_helpers(source) == [
        "2: helpdesk.tickets.services._hidden",
        "3: helpdesk.tickets.services._record",
        "5: helpdesk.tickets.lifecycle._iso",
    ]


def test_no_module_uses_a_private_helper_of_another_tickets_module():
    # intake, resolve, sla, demo and the tests alike: a step others need is public (tickets.lifecycle)
    files = [*PACKAGE.rglob("*.py"), *(ROOT / "tests").rglob("*.py")]
    files = [p for p in files if p != Path(__file__).resolve()]  # its own examples above
    problems = [
        f"{p.relative_to(ROOT).as_posix()}:{use}"
        for p in files
        for use in private_ticket_helpers(p.read_text(encoding="utf-8"))
    ]
    assert problems == [], "use the public tickets.lifecycle steps instead: " + "; ".join(problems)
