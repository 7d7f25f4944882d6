"""The stored letter has one reader: outside helpdesk/letters no module reads a stored letter dict
(it asks helpdesk.letters.current), and no letters module imports Flask or the database."""

from __future__ import annotations

import ast
from pathlib import Path

import helpdesk

ROOT = Path(helpdesk.__file__).parent
LETTERS = ROOT / "letters"
#: the one value outside letters/ with a `.letter` that is not stored: intake's freshly read Letter
TYPED_LETTER_HOLDERS = {"prepared"}


def _modules(under: Path) -> list[Path]:
    return sorted(p for p in under.rglob("*.py") if "migrations" not in p.parts)


def _stored_letter_reads(tree: ast.AST) -> list[int]:
    """Lines that load `<something>.letter` (writes such as `message.letter = ...` are fine)."""
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "letter" and isinstance(node.ctx, ast.Load):
            holder = node.value.id if isinstance(node.value, ast.Name) else None
            if holder not in TYPED_LETTER_HOLDERS:
                lines.append(node.lineno)
    return lines


def _from_dict_calls(tree: ast.AST) -> list[int]:
    return [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "from_dict"
    ]


def test_no_module_outside_letters_reads_the_stored_letter():
    offenders = []
    for path in _modules(ROOT):
        if LETTERS in path.parents:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        offenders += [
            f"{path.relative_to(ROOT)}:{n}" for n in _stored_letter_reads(tree) + _from_dict_calls(tree)
        ]
    assert offenders == []


def test_the_check_sees_a_read_by_hand():
    by_hand = ast.parse('letter = ticket.letter or {}\nfor f in message.letter["fields"]: pass\n')
    assert _stored_letter_reads(by_hand) == [1, 2]
    assert _stored_letter_reads(ast.parse("message.letter = read.to_dict()\nx = prepared.letter")) == []
    assert _from_dict_calls(ast.parse("Letter.from_dict(m.letter)")) == [1]


def test_letters_imports_no_flask_and_no_database():
    # mail's pure modules (bytes to text: no Flask, no database) and the vocabulary (imports only
    # enum) are leaves that letters may use
    allowed_helpdesk = (
        "helpdesk.letters",
        "helpdesk.vocabulary",
        "helpdesk.mail.parse",
        "helpdesk.mail.html",
        "helpdesk.mail.charsets",
        "helpdesk.mail.parsed",
    )
    bad = []
    for path in _modules(LETTERS):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                # a relative import resolved from helpdesk/letters/: ".." is helpdesk, "." letters
                base = ["helpdesk", "helpdesk.letters"][node.level == 1] if node.level else ""
                names = [".".join(p for p in (base, node.module or "") if p)]
            for name in names:
                top = name.split(".")[0]
                if top in ("flask", "sqlalchemy", "flask_login", "flask_wtf") or (
                    top == "helpdesk" and not name.startswith(allowed_helpdesk)
                ):
                    bad.append(f"{path.name}: {name}")
    assert bad == []
