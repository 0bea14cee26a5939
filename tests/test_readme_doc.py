"""The README as a new user follows it: its Python runs as written, what it names exists.

A user coming from face_recognition copies the Library section's code and
runs ``make`` targets the README mentions; none of that may drift from the
code. The code blocks run on the example photos under the file names the
README uses (an ID photo, a live photo of the same man, a door camera's
photo of him and another man), in a scratch directory with its own key area.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Any

import click
import numpy as np
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


def _run_python_blocks(
    doc: Path,
    photos: dict[str, str],
    examples: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> tuple[dict[str, object], list[str], int]:
    """Run a doc's Python blocks in order, in one namespace, as a user pastes them: in a
    scratch directory holding the photos under the names the doc uses (``photos``: doc name ->
    example photo), with its own key area. Returns the namespace, what they printed and how
    many blocks ran."""
    for name, photo in photos.items():
        shutil.copyfile(examples / photo, tmp_path / name)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path.parent / f"{tmp_path.name}-config"))
    monkeypatch.delenv("FACEWARDEN_KEY_DIR", raising=False)
    blocks = _PYTHON_BLOCK.findall(doc.read_text(encoding="utf-8"))
    namespace: dict[str, object] = {"__name__": doc.stem}
    printed: list[str] = []
    namespace["print"] = lambda *values: printed.append(" ".join(map(str, values)))
    for block in blocks:
        exec(compile(block, str(doc), "exec"), namespace)  # the doc's own code
    return namespace, printed, len(blocks)


def test_the_library_code_runs_as_written_and_does_what_its_comments_say(
    faces_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = {
        "id_photo.jpg": "obama-480p.jpg",
        "live.jpg": "obama2.jpg",
        "alice.jpg": "obama.jpg",
        "door.jpg": "two_people.jpg",
    }
    examples = faces_dir / "face_recognition" / "examples"
    namespace, printed, blocks = _run_python_blocks(README, photos, examples, tmp_path, monkeypatch)
    assert blocks >= 3, "the README's Library section lost its code"
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


MIGRATING = ROOT / "docs" / "migrating.md"


def test_the_migration_guides_python_runs_and_says_what_is_true(
    faces_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/migrating.md, block by block: group.jpg shows Obama (alice.jpg) and Biden
    (bob.jpg); id_photo.jpg and live.jpg are two photos of Obama."""
    photos = {
        "group.jpg": "two_people.jpg",
        "alice.jpg": "obama.jpg",
        "bob.jpg": "biden.jpg",
        "id_photo.jpg": "obama-480p.jpg",
        "live.jpg": "obama2.jpg",
    }
    examples = faces_dir / "face_recognition" / "examples"
    ns, _, blocks = _run_python_blocks(MIGRATING, photos, examples, tmp_path, monkeypatch)
    assert blocks == 5, "a Python block of the guide was added or lost: check it here"
    image, css = ns["image"], ns["css"]
    assert isinstance(image, np.ndarray) and isinstance(css, list) and len(css) == 2
    for top, right, bottom, left in css:  # face_recognition's order, inside the photo
        assert 0 <= top < bottom <= image.shape[0] and 0 <= left < right <= image.shape[1]
    # Each face of the group photo is one known person, and the two are different people.
    is_match = np.asarray(ns["is_match"])
    assert is_match.shape == (2, 2) and is_match.sum(axis=1).tolist() == [1, 1]
    assert sorted(map(str, ns["names"])) == ["Alice Example", "Bob Example"]
    assert sorted(map(str, ns["seen"])) == ["Alice Example", "Bob Example"]
    assert ns["verified"] is True
    assert isinstance(ns["similarity"], float) and ns["similarity"] >= ns["threshold"]
    assert all(isinstance(ns[k], float) and ns[k] > 0 for k in ("x", "y", "w", "h"))
    # The BGR trap, with the figures the guide quotes: reversed, the channels give the
    # path's own similarity; passed as they are, a lower one.
    from facewarden.service import compare_images

    reversed_bgr, path_result = ns["rgb_result"], ns["result"]
    assert reversed_bgr.similarity == pytest.approx(path_result.similarity, abs=1e-6)
    as_is = compare_images(ns["pipeline"], "id_photo.jpg", ns["bgr"])
    text = MIGRATING.read_text(encoding="utf-8")
    quoted = re.search(r"wrong similarity \((0\.\d+) instead of (0\.\d+)", text)
    assert quoted is not None, "the guide no longer quotes the BGR figures"
    assert as_is.similarity == pytest.approx(float(quoted[1]), abs=0.002)
    assert path_result.similarity == pytest.approx(float(quoted[2]), abs=0.002)


_HTTP_SPAN = re.compile(r"`(GET|POST|PUT|PATCH|DELETE) (/[^`\s]+)`")
_CURL_URL = re.compile(r"https?://[^/\s]+(/[^\s'\"]*)")


def _operation(spec: dict[str, Any], method: str, path: str) -> dict[str, Any] | None:
    """The OpenAPI operation a doc's ``METHOD /path`` names: ``{id}`` in the doc stands for
    any one parameter segment, a query string is ignored, and so is a trailing slash (every
    route answers with one too: docs/http-api.md)."""
    wanted = path.split("?", maxsplit=1)[0].rstrip(".,;:").rstrip("/").split("/")
    for candidate, operations in spec["paths"].items():
        parts = candidate.split("/")
        if len(parts) == len(wanted) and all(
            a == b or (a.startswith("{") and b.startswith("{"))
            for a, b in zip(parts, wanted, strict=True)
        ):
            found = operations.get(method.lower())
            if found is not None:
                return dict(found)
    return None


def _body_fields(spec: dict[str, Any], operation: dict[str, Any]) -> set[str]:
    fields: set[str] = set()
    for media in operation.get("requestBody", {}).get("content", {}).values():
        schema = media.get("schema", {})
        if "$ref" in schema:
            schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        fields.update(schema.get("properties", {}))
    return fields


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The served app's OpenAPI document (built, never started: no deployment is opened)."""
    from facewarden.api import create_app
    from facewarden.config import Settings

    root = tmp_path_factory.mktemp("openapi")
    app = create_app(Settings(data_dir=root / "data", key_dir=root / "keys"))
    return dict(app.openapi())


def test_every_http_route_and_field_the_docs_show_exists(openapi: dict[str, Any]) -> None:
    """A client calls what the docs show: each `METHOD /v1/...` they name is a route, and
    each curl line's route, form fields (-F) and JSON keys (-d) are the route's own."""
    wrong, checked = [], 0
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        named = [(m, p) for m, p in _HTTP_SPAN.findall(text) if p.startswith(("/v1/", "/api/v1/"))]
        for method, path in named:
            checked += 1
            if _operation(openapi, method, path) is None:
                wrong.append(f"{doc.name}: {method} {path}")
        for block in _SH_BLOCK.findall(text):
            for line in block.replace("\\\n", " ").splitlines():
                words = shlex.split(line.split(" #")[0])
                if not words or words[0] != "curl":
                    continue
                url = next((w for w in words if _CURL_URL.match(w)), None)
                assert url is not None, f"{doc.name}: curl line without a URL: {line}"
                path = _CURL_URL.match(url)[1]
                sends = any(w in ("-F", "-d", "--data") for w in words)
                method = (
                    words[words.index("-X") + 1] if "-X" in words else ("POST" if sends else "GET")
                )
                operation = _operation(openapi, method, path)
                checked += 1
                if operation is None:
                    wrong.append(f"{doc.name}: curl {method} {path}")
                    continue
                fields = _body_fields(openapi, operation)
                for flag, value in itertools.pairwise(words):
                    if flag == "-F" and value.split("=", 1)[0] not in fields:
                        wrong.append(f"{doc.name}: {path} has no form field {value.split('=')[0]}")
                    if flag in ("-d", "--data"):
                        extra = set(json.loads(value)) - fields
                        if extra:
                            wrong.append(f"{doc.name}: {path} takes no {sorted(extra)}")
    assert checked > 40, "the docs' routes were not found"
    assert wrong == []


def test_the_migration_guides_curl_calls_succeed_on_a_live_server(
    faces_dir: Path, tmp_path: Path
) -> None:
    """docs/migrating.md's curl blocks, run as written (their URL pointed at a real server on
    loopback, KEY an operator's key), each answering 2xx with what the guide says."""
    from api._live import FAST, serving

    if shutil.which("curl") is None:
        pytest.skip("curl is not installed: the guide's HTTP calls cannot be run as written")
    examples = faces_dir / "face_recognition" / "examples"
    photos = tmp_path / "photos"
    photos.mkdir()
    for name, photo in {
        "group.jpg": "two_people.jpg",
        "alice.jpg": "obama.jpg",
        "id_photo.jpg": "obama-480p.jpg",
        "live.jpg": "obama2.jpg",
    }.items():
        shutil.copyfile(examples / photo, photos / name)
    blocks = [b for b in _SH_BLOCK.findall(MIGRATING.read_text(encoding="utf-8")) if "curl " in b]
    assert blocks, "the guide lost its curl calls"
    with serving(tmp_path / "deployment", **FAST) as live:
        script = "\n".join(
            [
                "set -euo pipefail",
                # Each answer on a line of its own; an HTTP error fails the script, its body shown.
                'curl() { command curl --fail-with-body "$@"; echo; }',
                *(b.replace("http://127.0.0.1:8000", live.url) for b in blocks),
            ]
        )
        run = subprocess.run(
            ["bash", "-c", script],
            cwd=photos,
            env={**os.environ, "KEY": live.keys["operator"]},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    assert run.returncode == 0, run.stdout + run.stderr
    answers = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    watchlist, subject, identified, verified, detected = answers
    assert watchlist["name"] == "staff" and watchlist["fmr"] == 1e-3
    matched = [c for f in identified["faces"] for c in f["candidates"] if c["is_match"]]
    assert [c["subject_id"] for c in matched] == [subject["subject_id"]]
    assert matched[0]["full_name"] == "Alice Example"
    assert verified["is_match"] is True
    assert len(detected["faces"]) == 2 and detected["width"] > 0
