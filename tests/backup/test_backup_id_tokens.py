"""An archive taken before an erasure does not name the erased person (promise 15).

A subject's ID-number token (``subjects.id_index``) is an HMAC of the number
under the key directory's blind-index key; national ID numbers are a small
space, so whoever holds an archive and the key directory could brute-force an
erased person's number back from a token the archive kept. The attack, on
SQLite and on PostgreSQL: people enrolled with ID numbers, an archive taken,
one of them erased; the thief decrypts the archive with the key directory and
searches every entry for the tokens (as text and as bytes): none is there.
An archive in the format before (format 2, tokens in it) is searched the same
way and they are found, so the search would see them. Both archives restore:
every person not erased is found again by ID number (the tokens rebuilt from
their sealed numbers), the erased one is not. A raw copy (``backup --raw``)
is searched and opened the same way.
"""

from __future__ import annotations

import contextlib
import secrets
import sqlite3
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from psycopg.conninfo import conninfo_to_dict

from facewarden.cli import cli
from facewarden.config import Settings
from facewarden.errors import NotFoundError
from facewarden.privacy.keys import KeyRing
from facewarden.service import SubjectRecord, Warden, backup_format
from facewarden.service.backup import restore, verify_archive
from facewarden.service.backup_format import ArchiveReader
from facewarden.service.id_reindex import TOKENS_LEFT_OUT
from facewarden.store import DB_NAME
from facewarden.types import Face

from ._deployments import Deploy, archive_as_it_stands, fresh

ERASED = "John_Salley"


def _enroll_with_numbers(
    warden: Warden, johns: dict[str, list[list[Face]]], numbers: dict[str, str]
) -> dict[str, str]:
    ids = {}
    for name, faces in johns.items():
        prepared = [warden.registry.prepare_detected(f, source=name) for f in faces[:2]]
        record = SubjectRecord(full_name=name, lawful_basis="test", id_number=numbers[name])
        ids[name] = warden.registry.enroll_prepared(record, prepared).subject_id
    return ids


def _decrypted(archive: Path, keyring: KeyRing) -> bytes:
    """Every entry of the archive, decrypted: what a thief with the key directory reads."""
    with archive.open("rb") as handle:
        reader = ArchiveReader(handle, keyring)
        return b"".join(piece for _, pieces in reader.entries() for piece in pieces)


def test_an_archive_taken_before_an_erasure_holds_no_token_and_restores_every_lookup(
    deploy: Deploy,
    johns: dict[str, list[list[Face]]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert ERASED in johns
    # Numbers of a guessable format: 6 digits after a fixed prefix.
    numbers = {name: f"AB{i}{secrets.randbelow(10**5):05d}" for i, name in enumerate(johns)}
    settings = deploy(tmp_path / "live")
    with Warden.open(settings, create=True, actor="test:backup") as warden:
        ids = _enroll_with_numbers(warden, johns, numbers)
        tokens = {}
        for name, subject_id in ids.items():
            row = warden.store.get_subject(subject_id)
            assert row is not None and row.id_index is not None
            tokens[name] = row.id_index
        archive = tmp_path / "today.fwbackup"
        warden.backup_archive(archive)
    with monkeypatch.context() as patched:
        patched.setattr(backup_format, "FORMAT", 2)
        old = archive_as_it_stands(settings, None, tmp_path / "format2.fwbackup")
    with Warden.open(settings, actor="test:backup") as warden:
        warden.registry.erase(ids[ERASED], purpose="request of the person")

    # The thief: both archives and the key directory, taken after the erasure.
    keyring = KeyRing.open(settings.resolved_key_dir)
    today, before = _decrypted(archive, keyring), _decrypted(old, keyring)
    for name, token in tokens.items():
        assert token.encode() in before, f"the search misses {name}'s token in format 2"
        assert token.encode() not in today, f"{name}'s token is in the archive"
        assert bytes.fromhex(token) not in today
    assert verify_archive(archive, keyring).header["format"] == backup_format.FORMAT == 3
    assert verify_archive(old, keyring).header["format"] == 2

    for label, path in (("today", archive), ("format2", old)):
        target = fresh(deploy, settings, tmp_path / label)
        report = restore(path, target)
        assert report.erasures_reapplied == 1 and report.subjects == len(ids) - 1
        assert report.archive_holds_id_tokens == (label == "format2")
        with Warden.open(target, actor="test:restored") as warden:
            for name, subject_id in ids.items():
                if name == ERASED:
                    with pytest.raises(NotFoundError):
                        warden.registry.find_by_id_number(numbers[name], purpose="test")
                    continue
                found = warden.registry.find_by_id_number(numbers[name], purpose="test")
                assert found.subject_id == subject_id, label
                row = warden.store.get_subject(subject_id)
                assert row is not None and row.id_index == tokens[name], label
            assert warden.store.get_meta(TOKENS_LEFT_OUT) == ("0" if label == "today" else None)
            assert warden.integrity_check() == []


def _raw_destination(settings: Settings, root: Path) -> str:
    """Where a raw copy of ``settings``' store goes: a new file, or a new database beside it."""
    if settings.database_url is None:
        return str(root / "raw-copy.db")
    name = str(conninfo_to_dict(settings.database_url)["dbname"])
    return settings.database_url.replace(f"/{name}?", f"/{name}_raw?", 1)


def _tokens_in_copy(destination: str) -> tuple[bytes, list[str | None], str | None]:
    """The thief's view of a raw copy: its bytes (SQLite), every stored token, the rebuild flag."""
    if destination.startswith("postgresql://"):
        with psycopg.connect(destination) as conn:
            tokens = [r[0] for r in conn.execute("SELECT id_index FROM subjects")]
            flag = conn.execute("SELECT value FROM meta WHERE key = %s", (TOKENS_LEFT_OUT,))
            row = flag.fetchone()
        return b"", tokens, None if row is None else str(row[0])
    with contextlib.closing(sqlite3.connect(destination)) as db:
        tokens = [r[0] for r in db.execute("SELECT id_index FROM subjects")]
        row = db.execute("SELECT value FROM meta WHERE key = ?", (TOKENS_LEFT_OUT,)).fetchone()
    return Path(destination).read_bytes(), tokens, None if row is None else str(row[0])


def test_a_raw_copy_taken_before_an_erasure_holds_no_token_and_opens_with_every_lookup(
    deploy: Deploy, johns: dict[str, list[list[Face]]], tmp_path: Path
) -> None:
    """``backup --raw`` (a SQLite file, or a new PostgreSQL database) leaves the tokens out too.

    It kept every subject's token: with the key directory, a person erased
    after the copy was taken was named by ID number from it. Now the copy
    holds none, flags their rebuild, and opened as a deployment (the way a
    raw copy is restored) finds everyone by ID number again but the person
    erased since.
    """
    numbers = {name: f"CD{i}{secrets.randbelow(10**5):05d}" for i, name in enumerate(johns)}
    settings = deploy(tmp_path / "live")
    destination = _raw_destination(settings, tmp_path)
    with Warden.open(settings, create=True, actor="test:backup") as warden:
        ids = _enroll_with_numbers(warden, johns, numbers)
        tokens = {}
        for name, subject_id in ids.items():
            row = warden.store.get_subject(subject_id)
            assert row is not None and row.id_index is not None
            tokens[name] = row.id_index
        warden.backup(destination)
        warden.registry.erase(ids[ERASED], purpose="request of the person")

    blob, stored, flag = _tokens_in_copy(destination)
    assert len(stored) == len(ids) and set(stored) == {None} and flag == "1"
    for name, token in tokens.items():
        assert token.encode() not in blob and bytes.fromhex(token) not in blob, name

    opened = fresh(deploy, settings, tmp_path / "opened")
    if settings.database_url is None:
        opened.data_dir.mkdir(parents=True)
        Path(destination).rename(opened.data_dir / DB_NAME)
    else:
        opened = opened.model_copy(update={"database_url": destination})
    with Warden.open(opened, actor="test:opened") as warden:
        for name, subject_id in ids.items():
            if name == ERASED:
                with pytest.raises(NotFoundError):
                    warden.registry.find_by_id_number(numbers[name], purpose="test")
                continue
            found = warden.registry.find_by_id_number(numbers[name], purpose="test")
            assert found.subject_id == subject_id
        assert warden.store.get_meta(TOKENS_LEFT_OUT) == "0"


def test_a_raw_copy_says_it_leaves_the_tokens_out(tmp_path: Path) -> None:
    """``backup --raw`` says what the copy holds, and is no longer a weaker backup."""
    live = Settings(data_dir=tmp_path / "live", key_dir=tmp_path / "keys")
    Warden.open(live, create=True, actor="test:cli").close()
    copy = tmp_path / "copy.db"
    env = {"FACEWARDEN_DATA_DIR": str(live.data_dir), "FACEWARDEN_KEY_DIR": str(tmp_path / "keys")}
    made = CliRunner().invoke(cli, ["backup", "--raw", str(copy)], env=env, catch_exceptions=False)
    assert made.exit_code == 0 and copy.is_file()
    assert "backed up to" in made.stdout and "ID-number tokens left out" in made.stdout
    assert "warning" not in made.stderr


def test_restoring_an_archive_that_holds_the_tokens_says_to_replace_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An archive of format 1 or 2 holds every token it was taken with: the restore says so.

    Nothing can take them out of a file already written; what can be done is
    to replace it, and the operator restoring it is the one to be told.
    """
    live = Settings(data_dir=tmp_path / "live", key_dir=tmp_path / "keys")
    Warden.open(live, create=True, actor="test:cli").close()
    with monkeypatch.context() as patched:
        patched.setattr(backup_format, "FORMAT", 2)
        old = archive_as_it_stands(live, None, tmp_path / "format2.fwbackup")
    runner = CliRunner()
    env = {"FACEWARDEN_KEY_DIR": str(tmp_path / "keys")}
    today = tmp_path / "today.fwbackup"
    made = runner.invoke(
        cli, ["backup", str(today)], env={**env, "FACEWARDEN_DATA_DIR": str(live.data_dir)}
    )
    assert made.exit_code == 0, made.output
    for name, archive in (("old", old), ("new", today)):
        target = {**env, "FACEWARDEN_DATA_DIR": str(tmp_path / name)}
        restored = runner.invoke(cli, ["restore", str(archive)], env=target)
        assert restored.exit_code == 0, restored.output
        warned = "ID-number token" in restored.stderr and "take a new backup" in restored.stderr
        assert warned == (name == "old"), restored.stderr
