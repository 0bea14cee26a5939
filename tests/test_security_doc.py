"""docs/security.md maps every SECURITY.md promise to tests that exist.

The page is only worth reading if it cannot drift: each promise 1 to 23 has
its section with at least one test row, and every test it names is a test
function defined in the file it names.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "security.md"
PROMISES = range(1, 24)
_SECTION = re.compile(r"^### (\d+)\. ", re.MULTILINE)
_ROW_TEST = re.compile(r"^\| `([\w/]+\.py)::(\w+)` \|", re.MULTILINE)


def _sections() -> dict[int, str]:
    text = DOC.read_text(encoding="utf-8")
    marks = list(_SECTION.finditer(text))
    return {
        int(mark.group(1)): text[mark.end() : marks[i + 1].start() if i + 1 < len(marks) else None]
        for i, mark in enumerate(marks)
    }


def _test_functions(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    functions = (ast.FunctionDef, ast.AsyncFunctionDef)
    return {
        node.name
        for node in ast.walk(tree)
        if isinstance(node, functions) and node.name.startswith("test_")
    }


def test_every_promise_has_a_section_with_tests() -> None:
    sections = _sections()
    assert sorted(sections) == list(PROMISES)
    empty = [number for number, body in sections.items() if not _ROW_TEST.search(body)]
    assert empty == [], f"promises without a test row: {empty}"


def test_every_named_test_exists() -> None:
    missing = []
    known: dict[Path, set[str]] = {}
    for body in _sections().values():
        for file, function in _ROW_TEST.findall(body):
            path = ROOT / "tests" / file
            if path not in known:
                known[path] = _test_functions(path) if path.is_file() else set()
            if function not in known[path]:
                missing.append(f"{file}::{function}")
    assert missing == [], f"docs/security.md names tests that do not exist: {missing}"
