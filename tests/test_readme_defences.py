"""The README's defences table names the tests that prove each defence: every one it names must exist.

Why: the table is what a reader trusts about the attacks we handle; a renamed or deleted test would leave it
claiming a proof that no longer runs.
"""
from __future__ import annotations

import ast
import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
HEADING = "### Defences and the tests that prove them"
_REF = re.compile(r"`(tests/[\w/]+\.py)?((?:::\w+)*)`")


def defence_rows(text: str) -> list[str]:
    """The test cells (last column) of the table under HEADING."""
    assert text.count(HEADING) == 1, f"the README must hold exactly one `{HEADING}` section"
    section = text.split(HEADING, 1)[1]
    section = re.split(r"\n#{2,3} ", section, maxsplit=1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|") and not line.startswith("|---")]
    return [row.strip().strip("|").rsplit("|", 1)[-1] for row in rows[1:]]   # rows[0] is the header


def referenced_tests(cell: str) -> list[tuple[str, str | None]]:
    """(file, test name or None) for each `tests/...py[::name]` in a cell; a bare `::name` continues the last file."""
    found: list[tuple[str, str | None]] = []
    current: str | None = None
    for path, names in _REF.findall(cell):
        current = path or current
        assert current is not None, f"`{names}` names a test without a file before it: {cell!r}"
        parts = [n for n in names.split("::") if n]
        found.extend((current, name) for name in parts) if parts else found.append((current, None))
    return found


def defined_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    return names


def test_every_test_the_defences_table_names_exists():
    cells = defence_rows((REPO / "README.md").read_text(encoding="utf-8"))
    assert len(cells) >= 10, "the defences table was not found or lost its rows"
    missing = []
    for cell in cells:
        refs = referenced_tests(cell)
        if not refs:
            missing.append(f"a row names no test: {cell.strip()!r}")
        for file, name in refs:
            path = REPO / file
            if not path.is_file():
                missing.append(f"{file} does not exist")
            elif name is not None and name not in defined_names(path):
                missing.append(f"{file}::{name} does not exist")
    assert not missing, "\n".join(missing)


def test_the_parser_reads_continuations_and_catches_a_missing_test():
    cell = " `tests/attacks/test_outbound.py::a`, `::b` and `tests/test_yaml_resync.py` "
    assert referenced_tests(cell) == [("tests/attacks/test_outbound.py", "a"), ("tests/attacks/test_outbound.py", "b"),
                                      ("tests/test_yaml_resync.py", None)]
    assert "test_no_such_thing" not in defined_names(REPO / "tests" / "attacks" / "test_outbound.py")
