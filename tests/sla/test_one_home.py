"""The SLA clock has one home: only helpdesk/sla writes a clock, and sla's logic never imports tickets."""

from __future__ import annotations

import ast
from pathlib import Path

import helpdesk

ROOT = Path(helpdesk.__file__).parent
CLOCK_COLUMNS = {"due_at", "warn_at", "sla_clock_no"}  # the ticket's copies, plus every SlaClock column


def _modules(outside_sla: bool) -> list[Path]:
    out = []
    for path in ROOT.rglob("*.py"):
        rel = path.relative_to(ROOT).parts
        if rel[0] == "migrations":
            continue
        if (rel[0] == "sla") != outside_sla:
            out.append(path)
    return out


def _writes(tree: ast.AST) -> list[str]:
    found = []
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(node, ast.AugAssign | ast.AnnAssign) else []  # fmt: skip
        for t in targets:
            if (
                isinstance(t, ast.Attribute)
                and t.attr in CLOCK_COLUMNS
                and not isinstance(node, ast.AnnAssign)
            ):
                found.append(t.attr)
        if isinstance(node, ast.Call):
            name = ast.unparse(node.func)
            args = " ".join(ast.unparse(a) for a in node.args)
            if name == "SlaClock" or (name.endswith(("update", "insert")) and "SlaClock" in args):
                found.append(name)
    return found


def test_no_module_outside_sla_writes_a_clock_column():
    offenders = {
        str(p.relative_to(ROOT)): w
        for p in _modules(outside_sla=True)
        if (w := _writes(ast.parse(p.read_text())))
    }
    assert offenders == {}


def test_the_check_sees_a_write():
    assert _writes(ast.parse("ticket.due_at = x\nsession.execute(update(SlaClock).values(a=1))")) == [
        "due_at",
        "update",
    ]


def test_sla_never_imports_tickets():
    """Not even its page and CLI: the ticket types' labels come from helpdesk.vocabulary."""
    importers, scanned = [], set()
    for path in _modules(outside_sla=False):
        scanned.add(path.name)
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            if any(n.startswith("helpdesk.tickets") for n in names):
                importers.append(path.name)
    assert {"views.py", "cli.py", "clock.py", "recompute.py"} <= scanned
    assert importers == []
