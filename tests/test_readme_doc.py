"""The README as a new user follows it: its Python runs as written, what it names exists.

A user coming from face_recognition copies the Library section's code and
runs ``make`` targets the README mentions; none of that may drift from the
code. The code blocks run on the example photos under the file names the
README uses (an ID photo, a live photo of the same man, a door camera's
photo of him and another man), in a scratch directory with its own key area.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import click
import pytest

from facewarden.cli import cli

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md"))]
_PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)
_LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")
# Repository files named in backquotes: scripts, benchmarks, tests and the package's modules.
_NAMED_FILE = re.compile(
    r"`((?:benchmarks|scripts|tests)/[\w/]+\.py"
    r"|(?:api|cli|convert|eval|match|privacy|service|store|vision)/\w+\.py)"
)
# docs/security.md names tests from tests/ (``api/test_sessions.py::...``).
_BASES = (ROOT, ROOT / "src" / "facewarden", ROOT / "tests")
_MAKE_TARGET = re.compile(r"`make ([a-z][\w-]*)")


def test_the_library_code_runs_as_written_and_does_what_its_comments_say(
    faces_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    examples = faces_dir / "face_recognition" / "examples"
    for name, photo in {
        "id_photo.jpg": "obama-480p.jpg",
        "live.jpg": "obama2.jpg",
        "alice.jpg": "obama.jpg",
        "door.jpg": "two_people.jpg",
    }.items():
        shutil.copyfile(examples / photo, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path.parent / f"{tmp_path.name}-config"))
    monkeypatch.delenv("FACEWARDEN_KEY_DIR", raising=False)
    blocks = _PYTHON_BLOCK.findall(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 3, "the README's Library section lost its code"
    namespace: dict[str, object] = {"__name__": "readme"}
    printed: list[str] = []
    namespace["print"] = lambda *values: printed.append(" ".join(map(str, values)))
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)  # the README's own code
    faces = namespace["faces"]
    assert isinstance(faces, list) and len(faces) == 1
    assert namespace["same_person"] is True
    alice = namespace["alice"]
    assert printed == [str((alice,)), "True"]
    assert (tmp_path / "facewarden-data" / "facewarden.db").is_file()


def test_every_file_the_docs_name_exists() -> None:
    missing = []
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for target in _LINK.findall(text):
            if "://" not in target and not (doc.parent / target).exists():
                missing.append(f"{doc.name}: link {target}")
        for named in _NAMED_FILE.findall(text):
            if not any((base / named).exists() for base in _BASES):
                missing.append(f"{doc.name}: {named}")
    assert missing == []


def test_every_make_target_the_readme_names_exists() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][\w-]*):", makefile, re.MULTILINE))
    named = set(_MAKE_TARGET.findall(README.read_text(encoding="utf-8")))
    assert named and named <= targets, f"named but not in the Makefile: {named - targets}"


_COMMAND_SPAN = re.compile(r"`((?:facewarden )?[a-z][\w-]* [^`]*)`")
_SH_BLOCK = re.compile(r"^```sh\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _command_lines(text: str) -> list[tuple[bool, list[str]]]:
    """(named with the program, words) of the command lines a doc shows: `facewarden ...`
    spans, sh lines, and spans such as `subjects export ...` (docs/data-protection.md leaves
    out the program's name)."""
    lines = _COMMAND_SPAN.findall(text)
    for block in _SH_BLOCK.findall(text):
        lines += [line.split("#")[0] for line in block.splitlines()]
    found = []
    for line in lines:
        words = line.split()
        if words:
            explicit = words[0] == "facewarden"
            found.append((explicit, words[1:] if explicit else words))
    return found


def _resolve(words: list[str]) -> tuple[click.Command, int]:
    """The command the words name, and how many words named it."""
    command: click.Command = cli
    depth = 0
    while isinstance(command, click.Group) and depth < len(words):
        sub = command.commands.get(words[depth])
        if sub is None:
            break
        command, depth = sub, depth + 1
    return command, depth


def test_every_command_and_option_the_docs_show_exists() -> None:
    """A user types what the docs show: each command they name is one, with its options
    (`subjects faces add|replace` names both)."""
    wrong, checked = [], 0
    for doc in [*DOCS, ROOT / "fuzz" / "README.md"]:
        for explicit, words in _command_lines(doc.read_text(encoding="utf-8")):
            named = f"{doc.relative_to(ROOT)}: {' '.join(words)!r}"
            command, depth = _resolve(words)
            if (depth == 0 and not explicit) or words in ([], ["..."]):
                continue  # prose in backquotes (`make run`), or `facewarden ...`
            if depth == 0 or (isinstance(command, click.Group) and depth < len(words)):
                if words and words[min(depth, len(words) - 1)].startswith("-"):
                    continue  # `facewarden -vv`, `facewarden subjects --help`
                alternatives = words[depth].split("|") if depth < len(words) else []
                parent = words[:depth]
                if not alternatives or any(
                    _resolve([*parent, a])[1] <= depth for a in alternatives
                ):
                    wrong.append(f"{named}: no such command")
                continue
            checked += 1
            options = {"-h", "--help"}
            for param in command.params:
                options.update(param.opts, param.secondary_opts)
            for word in words[depth:]:
                option = word.split("=")[0].rstrip(",.;:)]'\"")
                if option.startswith("--") and option not in options:
                    wrong.append(f"{named}: no option {option}")
    assert checked > 50, "the docs' command lines were not found"
    assert wrong == []
