"""The registry commands, run as a user runs them, on real SQLite files and real photos.

Acceptance 4 is here: the audit log's rows are edited in the real database
file with sqlite3 (tampered, deleted, reordered, truncated), and
``facewarden audit verify`` must exit non-zero naming the entry.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from facewarden.config import Settings
from facewarden.service import SubjectRecord, Warden

from .conftest import Run


def _db(tmp_path: Path) -> Path:
    return tmp_path / "data" / "facewarden.db"


@pytest.fixture
def audited(run: Run, tmp_path: Path) -> Path:
    """A deployment whose audit log holds 6 entries, made without any photo."""
    run("init")  # 1 deployment.init
    run("watchlists", "create", "gate", "--purpose", "site access", "--lawful-basis", "6(1)(f)")
    for _ in range(4):  # 3..6 subject.list
        run("subjects", "list")
    assert "audit log OK: 6 entries" in run("audit", "verify").output
    return _db(tmp_path)


def _edit(db: Path, *statements: str) -> None:
    conn = sqlite3.connect(db)
    with conn:
        for statement in statements:
            conn.execute(statement)
    conn.close()


@pytest.mark.parametrize(
    ("statements", "entry", "problem"),
    [
        (["UPDATE audit_log SET actor = 'cli:mallory' WHERE seq = 3"], 3, "tampered"),
        (
            [
                'UPDATE audit_log SET details = \'{"subjects":["sub_0123456789abcdef"]}\' '
                "WHERE seq = 4"
            ],
            4,
            "tampered",
        ),
        (["DELETE FROM audit_log WHERE seq = 3"], 3, "deleted"),
        (
            [
                "UPDATE audit_log SET pos = -1 WHERE seq = 3",
                "UPDATE audit_log SET pos = 3 WHERE seq = 4",
                "UPDATE audit_log SET pos = 4 WHERE seq = 3",
            ],
            3,
            "reordered",
        ),
        (["DELETE FROM audit_log WHERE seq = 6"], 6, "deleted"),
        (["UPDATE audit_log SET ts = 'yesterday' WHERE seq = 2"], 2, "tampered"),
    ],
    ids=["tamper-actor", "tamper-details", "delete", "reorder", "truncate-tail", "malformed"],
)
def test_audit_verify_names_the_first_bad_entry(
    run: Run, audited: Path, statements: list[str], entry: int, problem: str
) -> None:
    _edit(audited, *statements)
    result = run("audit", "verify", ok=False)
    assert result.exit_code == 1
    assert f"FAILED verification at entry {entry}: {problem}" in result.stderr
    assert result.stdout == ""


def test_audit_verify_catches_a_forged_head(run: Run, audited: Path) -> None:
    _edit(
        audited,
        "DELETE FROM audit_log WHERE seq >= 5",
        "UPDATE meta SET value = replace(value, '6:', '4:') WHERE key = 'audit_head'",
    )
    result = run("audit", "verify", ok=False)
    assert result.exit_code == 1 and "audit head" in result.stderr
    assert "audit" in run("check", ok=False).stderr


def test_audit_verify_with_a_high_water_mark_kept_elsewhere(run: Run, audited: Path) -> None:
    result = run("audit", "verify", "--last-seq", "9", ok=False)
    assert "entry 7: deleted" in result.stderr


def test_errors_are_one_line_with_exit_codes(run: Run, tmp_path: Path, faces_dir: Path) -> None:
    missing = run("subjects", "list", ok=False)
    assert missing.exit_code == 1
    assert missing.stderr.strip().startswith("error: no facewarden database")
    assert missing.stderr.count("\n") == 1
    run("init")
    photo = faces_dir / "face_recognition" / "examples" / "knn_examples" / "train" / "obama"
    unknown = run("identify", photo / "obama.jpg", "-w", "nope", ok=False)
    assert unknown.exit_code == 1 and "no watchlist called 'nope'" in unknown.stderr
    usage = run("verify", photo / "obama.jpg", ok=False)
    assert usage.exit_code == 2
    bad_dob = run(
        "subjects",
        "add",
        photo / "obama.jpg",
        "--name",
        "X",
        "--lawful-basis",
        "y",
        "--dob",
        "1961-13-45",
        ok=False,
    )
    assert bad_dob.exit_code == 1 and "date_of_birth" in bad_dob.stderr
    (tmp_path / "keys").chmod(0o755)
    exposed = run("subjects", "list", ok=False)
    assert exposed.exit_code == 2 and "chmod 700" in exposed.stderr
    (tmp_path / "keys").chmod(0o700)
    _db(tmp_path).write_bytes(b"garbage" * 1000)
    corrupt = run("subjects", "list", ok=False)
    assert corrupt.exit_code == 1 and "restore it from a backup" in corrupt.stderr


@pytest.mark.slow
def test_every_registry_command_end_to_end(run: Run, tmp_path: Path, faces_dir: Path) -> None:
    knn = faces_dir / "face_recognition" / "examples" / "knn_examples"
    assert "initialised" in run("init").output
    wl = run(
        "watchlists",
        "create",
        "entrance",
        "--purpose",
        "site security",
        "--lawful-basis",
        "GDPR 6(1)(f)",
    ).stdout.strip()
    assert wl.startswith("wl_")

    # Bulk import, with the embedding in worker processes; one line per committed person.
    imported = run(
        "subjects",
        "import",
        knn / "train",
        "--lawful-basis",
        "consent",
        "-w",
        "entrance",
        "--workers",
        "2",
    )
    acks = [line.split() for line in imported.stdout.splitlines()]
    assert [a[0] for a in acks] == ["enrolled"] * 5
    people = {Path(a[2]).name: a[1] for a in acks}
    assert "5 enrolled (9 faces), 0 already done, 0 skipped" in imported.stderr
    again = run("subjects", "import", knn / "train", "--lawful-basis", "consent")
    assert again.stdout == "" and "0 enrolled (0 faces), 5 already done" in again.stderr

    identified = run("identify", knn / "test" / "obama_and_biden.jpg", "-w", "entrance")
    assert identified.stdout.count("MATCH") == 2 and "unknown" in identified.stdout
    as_json = json.loads(
        run(
            "identify", knn / "test" / "kit_with_rose.jpg", "-w", "entrance", "--json", "--no-names"
        ).stdout
    )
    matched = {c["subject_id"] for f in as_json["faces"] for c in f["candidates"] if c["is_match"]}
    assert matched == {people["kit_harington"], people["rose_leslie"]}
    assert all(c["display_name"] is None for f in as_json["faces"] for c in f["candidates"])

    obama = people["obama"]
    same = run("verify", knn / "test" / "obama1.jpg", "--subject", obama)
    assert "SAME person" in same.stdout
    other = run("verify", knn / "test" / "obama1.jpg", knn / "train" / "biden" / "biden.jpg")
    assert "DIFFERENT people" in other.stdout

    record = json.dumps(
        {
            "full_name": "Barack Obama",
            "id_number": "US-44",
            "date_of_birth": "1961-08-04",
            "address": "1600 Pennsylvania Ave",
        }
    )
    run("subjects", "update", obama, "--record", "-", stdin=record)
    shown = json.loads(run("subjects", "show", "--id-number", "us 44", "--json").stdout)
    assert shown["subject_id"] == obama and shown["record"]["address"].startswith("1600")
    run("subjects", "update", obama, "--clear", "address", "--employer", "USA")
    assert "address" not in run("subjects", "show", obama).stdout
    listed = json.loads(run("subjects", "list", "--json").stdout)
    assert {r["subject_id"] for r in listed} == set(people.values())

    face_id = run("subjects", "faces", "add", obama, knn / "test" / "obama1.jpg").stdout.strip()
    new_face = run(
        "subjects", "faces", "replace", obama, face_id, knn / "train" / "obama" / "obama2.jpg"
    ).stdout.strip()
    run("subjects", "faces", "remove", obama, new_face)
    several = run("subjects", "faces", "add", obama, knn / "test" / "obama_and_biden.jpg", ok=False)
    assert several.exit_code == 1 and "(face 1 to 3," in several.stderr

    biden = people["biden"]
    run("watchlists", "remove", "entrance", biden)
    assert (
        "unknown"
        in run("identify", knn / "train" / "biden" / "biden2.jpg", "-w", "entrance").stdout
    )
    run("watchlists", "add", "entrance", biden)
    assert "members=5" in run("watchlists", "list").stdout

    export_file = tmp_path / "obama.json"
    run("subjects", "export", obama, "-o", export_file)
    exported = json.loads(export_file.read_text())
    assert exported["record"]["id_number"] == "US-44" and exported["audit"]
    assert oct(export_file.stat().st_mode & 0o777) == "0o600"
    assert run("subjects", "export", obama, "-o", export_file, ok=False).exit_code == 1
    printed = json.loads(run("subjects", "export", obama).stdout)  # to stdout, through the spool
    assert printed["record"] == exported["record"] and printed["format"] == exported["format"]

    restricted = run("subjects", "restrict", obama, "--reason", "contests a match (art. 18)")
    assert "left 1 watchlists" in restricted.stdout
    assert "unknown" in run("identify", knn / "test" / "obama1.jpg", "-w", "entrance").stdout
    assert run("watchlists", "add", "entrance", obama, ok=False).exit_code == 1
    assert "back on 1 watchlists" in run("subjects", "unrestrict", obama).stdout

    rotated = run("keys", "rotate").stdout
    old_key = rotated.split("no longer needed: ")[1].split()[0]
    run("keys", "destroy", old_key, "--yes")
    assert "wraps 0" not in run("keys", "status").stdout
    assert "renewed" in run("keys", "rotate-templates").stdout
    assert run("identify", knn / "test" / "obama1.jpg", "-w", "entrance").stdout.count(obama)

    run("subjects", "erase", obama, "--yes")
    assert run("subjects", "export", obama, ok=False).exit_code == 1
    assert "unknown" in run("identify", knn / "test" / "obama1.jpg", "-w", "entrance").stdout
    assert "purged: import_progress 0" in run("purge").stdout
    log = run("audit", "list", "--limit", "1000").stdout
    for action in (
        "subject.enroll",
        "identify",
        "verify",
        "verify.images",
        "subject.update",
        "face.add",
        "face.replace",
        "face.remove",
        "watchlist.remove",
        "subject.export",
        "keys.rotate_master",
        "keys.destroy_master",
        "keys.rotate_templates",
        "subject.erase",
        "retention.purge",
    ):
        assert f" {action} " in log, action
    assert "Barack" not in log and "US-44" not in log
    assert run("audit", "verify").stdout.startswith("audit log OK")
    assert run("check").stdout.strip() == "ok"


@pytest.mark.parametrize(
    "record",
    [
        b"[" * 5000,
        b"\xff\xfe not text",
        b"[1, 2]",
        b'{"shoe_size": "44"}',
        # Found by hand: values that are not text were stored as Python's repr of
        # them (a full name "['a']", notes "{'x': 1}"); the API refuses them.
        b'{"full_name": ["Alice"]}',
        b'{"notes": {"x": 1}}',
        b'{"id_number": 12345}',
        b'{"full_name": true}',
    ],
    ids=[
        "nested-too-deep",
        "not-utf8",
        "an-array",
        "unknown-field",
        "a-list-value",
        "an-object-value",
        "a-number-value",
        "a-boolean-value",
    ],
)
def test_a_bad_record_file_is_a_clear_error(run: Run, tmp_path: Path, record: bytes) -> None:
    # Found by hand: a record nested deeper than Python's JSON parser goes
    # raised RecursionError, which ended the command with a traceback.
    path = tmp_path / "record.json"
    path.write_bytes(record)
    result = run("subjects", "update", "sub_0000000000000000", "--record", path, ok=False)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit)
    assert "--record" in result.stderr


def test_photos_of_two_people_are_refused_unless_forced(run: Run, faces_dir: Path) -> None:
    train = faces_dir / "face_recognition" / "examples" / "knn_examples" / "train"
    obama, biden = train / "obama" / "obama.jpg", train / "biden" / "biden.jpg"
    run("init")
    fields = ("--name", "Barack Obama", "--lawful-basis", "consent")
    refused = run("subjects", "add", obama, biden, *fields, ok=False)
    assert refused.exit_code == 1
    assert refused.stderr.startswith(f"error: {biden}: the face does not match the other photos")
    assert refused.stderr.count("\n") == 1
    assert json.loads(run("subjects", "list", "--json").stdout) == []

    sid = run("subjects", "add", obama, train / "obama" / "obama2.jpg", *fields).stdout.strip()
    added = run("subjects", "faces", "add", sid, biden, ok=False)
    assert added.exit_code == 1 and f"faces enrolled for {sid}" in added.stderr
    assert len(json.loads(run("subjects", "show", sid, "--json").stdout)["faces"]) == 2
    forced = run("subjects", "faces", "add", sid, biden, "--force").stdout.strip()
    assert forced.startswith("face_")
    audit = json.loads(run("audit", "list", "--object", sid, "--json").stdout)
    [entry] = [e for e in audit if e["action"] == "face.add"]
    assert entry["details"]["forced_not_matching"] == [forced]


def _file_size_limit(limit: int) -> Callable[[], None]:
    """For a child process: files may grow to ``limit`` bytes, then writes fail (EFBIG)."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_an_export_that_cannot_be_written_whole_leaves_nothing_and_says_why(
    tmp_path: Path, faces_dir: Path
) -> None:
    """An export cut short by the disk (full, a quota, a size limit) leaves no part of it.

    It wrote the decrypted record (name, ID number, kept photos) straight
    into the named file: the write failed part way, the first 128 KiB of the
    person's data stayed on disk in clear, and the user got a Python
    traceback. Now the file takes its name only once whole, and the error is
    one line with exit code 1.
    """
    settings = Settings(
        data_dir=tmp_path / "data",
        key_dir=tmp_path / "keys",
        workers=1,
        enroll_mode="fast",
        keep_enrollment_photos=True,
    )
    photos = sorted(
        (faces_dir / "face_recognition" / "examples" / "knn_examples" / "train" / "obama").glob(
            "*.jpg"
        )
    )
    record = SubjectRecord(full_name="Barack Obama", lawful_basis="test", id_number="X-4417")
    with Warden.open(settings, create=True, actor="test:cli") as warden:
        subject = warden.registry.enroll(record, photos[:3]).subject_id
        whole = len(json.dumps(warden.registry.export(subject, purpose="test")))
    limit = 128 * 1024
    assert whole > limit, "the export must be larger than what the disk takes"
    out = tmp_path / "export.json"
    env = {
        **os.environ,
        "FACEWARDEN_DATA_DIR": str(settings.data_dir),
        "FACEWARDEN_KEY_DIR": str(settings.key_dir),
    }
    cut = subprocess.run(
        [sys.executable, "-m", "facewarden.cli", "subjects", "export", subject, "-o", str(out)],
        env=env,
        preexec_fn=_file_size_limit(limit),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert cut.returncode == 1, cut.stderr
    assert "Traceback" not in cut.stderr and "export" in cut.stderr.splitlines()[-1]
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if "export" in p.name] == []
    # Read, but not delivered: the log says so, after the entry of the read.
    with Warden.open(settings, actor="test:cli") as warden:
        entries = [e for e in warden.audit.about(subject) if e.action == "subject.export"]
    assert [e.outcome for e in entries] == ["ok", "ok", "failed"]  # the first: the sizing above
    # To stdout (as over HTTP) the export is spooled first, sealed, beside the data:
    # a spool the disk cuts short delivers nothing, and is audited so.
    piped = subprocess.run(
        [sys.executable, "-m", "facewarden.cli", "subjects", "export", subject],
        env=env,
        preexec_fn=_file_size_limit(limit),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert piped.returncode == 1 and piped.stdout == "", piped.stderr
    assert "Traceback" not in piped.stderr and "spool" in piped.stderr
    with Warden.open(settings, actor="test:cli") as warden:
        entries = [e for e in warden.audit.about(subject) if e.action == "subject.export"]
    assert [e.outcome for e in entries][3:] == ["ok", "failed"]


def test_an_export_to_a_path_it_cannot_write_is_not_audited_as_an_export(
    run: Run, tmp_path: Path, faces_dir: Path
) -> None:
    # The export was read and audited (subject.export, ok) before the file was
    # created: an unwritable path, a missing folder or a name taken left an entry
    # saying the person's data was exported when nothing left the store.
    obama = faces_dir / "face_recognition" / "examples" / "obama.jpg"
    run("init")
    subject = run(
        "subjects", "add", obama, "--name", "Barack Obama", "--lawful-basis", "c"
    ).stdout.strip()
    taken = tmp_path / "taken.json"
    taken.write_text("{}")
    # (A folder of mode 0500 is no test here: the suite may run as root.)
    for target in (tmp_path / "missing" / "out.json", taken / "out.json", taken):
        refused = run("subjects", "export", subject, "-o", target, ok=False)
        assert refused.exit_code == 1, (target, refused.output)
        assert refused.stderr.startswith("error: ") and refused.stderr.count("\n") == 1
    audit = json.loads(run("audit", "list", "--object", subject, "--json").stdout)
    assert [e["action"] for e in audit if e["action"] == "subject.export"] == []
    run("subjects", "export", subject, "-o", tmp_path / "out.json")
    audit = json.loads(run("audit", "list", "--object", subject, "--json").stdout)
    assert [e["outcome"] for e in audit if e["action"] == "subject.export"] == ["ok"]


def test_an_import_that_skipped_someone_exits_1_keeping_what_it_enrolled(
    run: Run, tmp_path: Path, faces_dir: Path
) -> None:
    # Found by scripting an import: a folder skipped (no photo, no face) still
    # exited 0, so a script could not tell "all done" from "some people missing"
    # without parsing the summary. Exit 1 now, with the summary; the enrolled stay.
    train = faces_dir / "face_recognition" / "examples" / "knn_examples" / "train"
    people = tmp_path / "people"
    (people / "nobody").mkdir(parents=True)
    (people / "obama").symlink_to(train / "obama", target_is_directory=True)
    run("init")
    first = run("subjects", "import", people, "--lawful-basis", "consent", ok=False)
    assert first.exit_code == 1, first.output
    assert [line.split()[0] for line in first.stdout.splitlines()] == ["enrolled"]
    assert "1 enrolled" in first.stderr and "1 skipped" in first.stderr
    assert "nobody: no photos" in first.stderr
    listed = run("subjects", "list", "--json").stdout
    assert "Obama" in listed or "obama" in listed
    again = run("subjects", "import", people, "--lawful-basis", "consent", ok=False)
    assert again.exit_code == 1 and "1 already done, 1 skipped" in again.stderr
    (people / "nobody").rmdir()
    assert "0 skipped" in run("subjects", "import", people, "--lawful-basis", "consent").stderr


def test_a_rerun_import_skips_a_person_erased_since_unless_allowed(
    run: Run, tmp_path: Path, faces_dir: Path
) -> None:
    # A resumable import re-run after an erasure enrolled the erased person again
    # (their import record went with them): a nightly sync undid every erasure.
    train = faces_dir / "face_recognition" / "examples" / "knn_examples" / "train"
    people = tmp_path / "people"
    people.mkdir()
    (people / "obama").symlink_to(train / "obama", target_is_directory=True)
    run("init")
    (subject,) = [
        line.split()[1]
        for line in run("subjects", "import", people, "--lawful-basis", "c").stdout.splitlines()
    ]
    run("subjects", "erase", subject, "--yes")

    again = run("subjects", "import", people, "--lawful-basis", "c", ok=False)

    assert again.exit_code == 1 and again.stdout == ""
    assert "obama: this person was erased" in again.stderr and "--allow-erased" in again.stderr
    allowed = run("subjects", "import", people, "--lawful-basis", "c", "--allow-erased")
    assert allowed.stdout.startswith("enrolled sub_") and subject not in allowed.stdout
    assert "import.allow_erased" in run("audit", "list", "--json").stdout


def test_a_csv_photo_behind_a_loop_of_links_skips_its_row_not_the_import(
    run: Run, tmp_path: Path, faces_dir: Path
) -> None:
    # Found by probing: a photo path through a symlink loop (a mistake, or a
    # share someone else controls) raised RuntimeError out of the CSV reader: a
    # traceback, and nobody imported. Now that row is skipped with its reason.
    obama = faces_dir / "face_recognition" / "examples" / "obama.jpg"
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    sheet = tmp_path / "people.csv"
    sheet.write_text(f"full_name,photo\nAlice Loop,loop/alice.jpg\nBarack Obama,{obama}\n")
    run("init")
    imported = run("subjects", "import", "--csv", sheet, "--lawful-basis", "consent", ok=False)
    assert imported.exit_code == 1, imported.output
    assert imported.stdout.startswith("enrolled ") and imported.stdout.count("\n") == 1
    assert "people.csv#2" in imported.stderr and "loop of links" in imported.stderr
    assert "1 enrolled" in imported.stderr and "1 skipped" in imported.stderr


@pytest.mark.parametrize("option", ["--data-dir", "--key-dir"])
def test_a_deployment_folder_behind_a_loop_of_links_is_a_one_line_config_error(
    tmp_path: Path, option: str
) -> None:
    # Found by probing: a data or key directory through a symlink loop (a
    # mount linked back into itself) raised RuntimeError: a traceback, exit 1.
    from click.testing import CliRunner

    from facewarden.cli import cli

    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    where = {"--data-dir": tmp_path / "data", "--key-dir": tmp_path / "keys"}
    where[option] = tmp_path / "loop" / "deployment"
    words = ["subjects", "list"] + [str(w) for pair in where.items() for w in pair]
    result = CliRunner(env={"FACEWARDEN_DATA_DIR": None, "FACEWARDEN_KEY_DIR": None}).invoke(
        cli, words
    )
    assert result.exit_code == 2, (result.output, result.exception)
    assert "Traceback" not in result.output and "loop of symbolic links" in result.output
    assert option.strip("-").replace("-", "_").upper() in result.output


def test_a_destination_the_system_refuses_to_look_at_is_a_one_line_error(
    run: Run, tmp_path: Path, faces_dir: Path
) -> None:
    # Found by probing file arguments: a destination whose name is too long for
    # the file system (or inside a folder the user may not search) raised
    # OSError out of Path.exists(): a traceback. Now one line, exit 1.
    run("init")
    photo = faces_dir / "face_recognition" / "examples" / "obama.jpg"
    added = run("subjects", "add", photo, "--name", "Barack Obama", "--lawful-basis", "test")
    subject = added.stdout.split()[0]
    too_long = tmp_path / ("x" * 300) / "out"
    for command in (["backup"], ["subjects", "export", subject, "-o"]):
        answer = run(*command, too_long, ok=False)
        assert answer.exit_code == 1, (answer.output, answer.exception)
        assert isinstance(answer.exception, SystemExit)
        assert "name too long" in answer.output.lower()


@pytest.mark.parametrize(
    "words",
    [
        ["init", "--data-dir", "{long}/data", "--key-dir", "{tmp}/keys"],
        ["init", "--data-dir", "{tmp}/data", "--key-dir", "{long}/keys"],
        ["restore", "{photo}", "--data-dir", "{tmp}/data", "--key-dir", "{long}/keys"],
        ["detect", "{photo}", "--draw", "{long}/boxes.jpg"],
    ],
    ids=["init", "key-dir", "restore", "detect-draw"],
)
def test_a_path_the_system_refuses_is_one_line_not_a_traceback(
    tmp_path: Path, faces_dir: Path, words: list[str]
) -> None:
    # Found by probing file arguments: a name longer than the file system takes
    # (or a folder on the way that may not be searched) raised OSError out of
    # mkdir, exists or open in a dozen commands: a Python traceback each time.
    from click.testing import CliRunner

    from facewarden.cli import cli

    values = {
        "long": str(tmp_path / ("x" * 300)),
        "tmp": str(tmp_path),
        "photo": str(faces_dir / "face_recognition" / "examples" / "obama.jpg"),
    }
    runner = CliRunner(env={"FACEWARDEN_DATA_DIR": None, "FACEWARDEN_KEY_DIR": None})
    result = runner.invoke(cli, [w.format(**values) for w in words])
    assert result.exit_code == 1, (result.output, result.exception)
    assert isinstance(result.exception, SystemExit), result.exception
    assert "File name too long" in result.output
    assert len(result.output.strip().splitlines()[-1]) < 500  # one line naming the path


def test_a_huge_record_file_is_refused_unread(run: Run, tmp_path: Path) -> None:
    # Found by probing file arguments: --record read its file whole before
    # parsing it (/dev/zero: without end, memory growing until the system
    # stepped in; a video given by mistake: its size). A record is a few KiB.
    run("init")
    huge = tmp_path / "record.json"
    with huge.open("wb") as handle:
        handle.write(b'{"full_name": "')
        handle.truncate(256 * 1024 * 1024)
    answer = run("subjects", "update", "sub_0123456789abcdef", "--record", huge, ok=False)
    assert answer.exit_code == 1 and isinstance(answer.exception, SystemExit), answer.output
    assert "--record: over 1048576 characters" in answer.output


def test_a_listing_of_subjects_is_audited_with_the_purpose_given(run: Run) -> None:
    """docs/data-protection.md: "Give every request's reference as --purpose", and its
    first step finds the person with ``subjects list``, an audited read of names."""
    run("init")
    run("subjects", "list", "--purpose", "request 12")
    run("subjects", "list")
    entries = json.loads(run("audit", "list", "--json").stdout)
    listed = [e["purpose"] for e in entries if e["action"] == "subject.list"]
    assert listed == ["request 12", "subject listing (none given)"]
