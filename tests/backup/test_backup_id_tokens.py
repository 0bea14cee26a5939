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
their sealed numbers), the erased one is not.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest
from click.testing import CliRunner

from facewarden.cli import cli
from facewarden.config import Settings
from facewarden.errors import NotFoundError
from facewarden.privacy.keys import KeyRing
from facewarden.service import SubjectRecord, Warden, backup_format
from facewarden.service.backup import restore, verify_archive
from facewarden.service.backup_format import ArchiveReader
from facewarden.service.id_reindex import TOKENS_LEFT_OUT
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


def test_a_raw_copy_is_still_made_and_says_it_keeps_the_tokens(tmp_path: Path) -> None:
    """``backup --raw`` is the database itself, tokens included: made as before, with a warning."""
    live = Settings(data_dir=tmp_path / "live", key_dir=tmp_path / "keys")
    Warden.open(live, create=True, actor="test:cli").close()
    copy = tmp_path / "copy.db"
    env = {"FACEWARDEN_DATA_DIR": str(live.data_dir), "FACEWARDEN_KEY_DIR": str(tmp_path / "keys")}
    made = CliRunner().invoke(cli, ["backup", "--raw", str(copy)], env=env, catch_exceptions=False)
    assert made.exit_code == 0 and copy.is_file()
    assert "backed up to" in made.stdout
    assert "ID-number token" in made.stderr and "without --raw" in made.stderr
