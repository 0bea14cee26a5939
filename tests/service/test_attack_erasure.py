"""Issue 13 finding 1, as the attack: carve an erased person back out of the files.

The red team erased subjects over the API, ran ``facewarden purge``, then
carved the wrapped data keys and ciphertexts left in PostgreSQL's table
files and ``pg_wal`` (and, on SQLite, in a backup taken before the erasure)
and decrypted them with the key directory. Here the same carving runs with
the *whole* key directory as it is after the erasure: every byte sequence
shaped like a wrapped data key, in every file, is unwrapped with the key its
id names. Others' data keys come back (backups stay restorable), the erased
person's never does, so none of their ciphertexts found on disk decrypts;
and a restored backup has the erasure re-applied.

A crash at either side of the erasure's commit (SIGKILL in a real process)
leaves a state the next open completes: the KEK destroyed and the rows gone.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path

import psycopg
import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from psycopg.conninfo import conninfo_to_dict

from facewarden.errors import KeyMaterialError, NotFoundError
from facewarden.match.ann import HnswIndex
from facewarden.privacy import KeyRing, ManualClock
from facewarden.privacy.crypto import WrappedKey
from facewarden.service import SubjectRecord, Warden, database_path
from facewarden.store._pg_embedded import EmbeddedPostgres

from ._data import KNN
from .conftest import make_settings

pytestmark = pytest.mark.slow

OBAMA = sorted((KNN / "train" / "obama").iterdir())
BIDEN = sorted((KNN / "train" / "biden").iterdir())
ROSE = sorted((KNN / "train" / "rose_leslie").iterdir())

# version 1 | len(id) | id (a master key or a subject's KEK) | nonce (12) | sealed key (48)
_WRAPPED = re.compile(rb"\x01([\x0b\x17])(mk-[0-9a-f]{8}|sk-sub_[0-9a-f]{16})")


def carve_wrapped_keys(blob: bytes) -> set[WrappedKey]:
    """Every byte sequence in ``blob`` shaped like a serialised wrapped data key."""
    found = set()
    for match in _WRAPPED.finditer(blob):
        key_id = match.group(2)
        if match.group(1)[0] != len(key_id):
            continue
        rest = blob[match.end() : match.end() + 60]
        if len(rest) == 60:
            found.add(WrappedKey(key_id.decode("ascii"), rest[:12], rest[12:]))
    return found


def unwrap(keyring: KeyRing, wrapped: WrappedKey) -> bytes | None:
    """The attacker's unwrap with the whole key directory: the data key, or None."""
    try:
        key = keyring.master_key(wrapped.master_key_id)
    except KeyMaterialError:
        return None
    aad = b"facewarden/dek/" + wrapped.master_key_id.encode("ascii")
    try:
        return AESGCM(key).decrypt(wrapped.nonce, wrapped.ciphertext, aad)
    except InvalidTag:
        return None


def _files(paths: Iterable[Path]) -> bytes:
    chunks = []
    for root in paths:
        for path in [root] if root.is_file() else sorted(root.rglob("*")):
            if path.is_file():
                # A file the running server removed while we walked (a relation
                # cache, a recycled WAL segment) holds nothing any more.
                with suppress(FileNotFoundError):
                    chunks.append(path.read_bytes())
    return b"\x00".join(chunks)


def _aad(table: str, row: str, field: str) -> bytes:
    parts = [b"facewarden/field/v1"]
    for part in (table, row, field):
        encoded = part.encode("utf-8")
        parts.append(len(encoded).to_bytes(4, "big") + encoded)
    return b"".join(parts)


def _opens(data_key: bytes, ciphertext: bytes, aad: bytes) -> bool:
    try:
        AESGCM(data_key).decrypt(ciphertext[1:13], ciphertext[13:], aad)
    except InvalidTag:
        return False
    return True


def _person(warden: Warden, name: str, photos: list[Path], **fields: str) -> str:
    record = SubjectRecord(full_name=name, lawful_basis="consent form 9", **fields)
    return warden.registry.enroll(record, photos[-1:], watchlists=["staff"]).subject_id


def _secrets_of(warden: Warden, subject_id: str) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The subject's data key and its (ciphertext, associated data) pairs, read before erasure."""
    row = warden.store.get_subject(subject_id)
    assert row is not None
    data_key = unwrap(KeyRing.open(warden.key_dir), WrappedKey.from_bytes(row.wrapped_key))
    assert data_key is not None
    sealed = [(c, _aad("subjects", subject_id, f)) for f, c in row.fields.items()]
    sealed += [
        (f.template, _aad("faces", f.face_id, "template"))
        for f in warden.store.faces_of(subject_id)
    ]
    sealed += [
        (p.ciphertext, _aad("photos", p.face_id, "jpeg"))
        for p in warden.store.photos_of(subject_id)
    ]
    return data_key, sealed


def _assert_nothing_of_them_decrypts(
    disk: bytes, keyring: KeyRing, erased: str, data_key: bytes, sealed: list[tuple[bytes, bytes]]
) -> set[bytes]:
    carved = carve_wrapped_keys(disk)
    theirs = [w for w in carved if w.master_key_id == keyring.subject_key_id(erased)]
    assert theirs, "the carving found no remnant of the erased subject's wrapped key"
    recovered = {k for w in carved if (k := unwrap(keyring, w)) is not None}
    assert data_key not in recovered, "the erased subject's data key was carved back"
    on_disk = [(c, aad) for c, aad in sealed if c[:48] in disk]
    assert on_disk, "none of the erased subject's ciphertexts was left on disk to try"
    opened = [c for c, aad in on_disk for key in recovered if _opens(key, c, aad)]
    assert opened == [], f"{len(opened)} ciphertext(s) of the erased subject decrypted"
    return recovered


def test_sqlite_an_earlier_backup_and_the_current_keys_give_the_erased_person_nothing(
    tmp_path: Path, clock: ManualClock, faces_dir: object
) -> None:
    settings = make_settings(tmp_path / "site", keep_enrollment_photos=True)
    with Warden.open(settings, clock=clock, create=True) as warden:
        warden.watchlists.create("staff", purpose="test", lawful_basis="test")
        obama = _person(warden, "Barack Obama", OBAMA, id_number="US-44", address="Kalorama")
        biden = _person(warden, "Joseph Biden", BIDEN, id_number="US-46", address="Scranton")
        rose = _person(warden, "Rose Leslie", ROSE, id_number="UK-77")
        data_key, sealed = _secrets_of(warden, biden)
        others = {s: _secrets_of(warden, s)[0] for s in (obama, rose)}
        warden.store.checkpoint()
        backup = tmp_path / "before-erasure.db"
        warden.backup(backup)
        raw_copy = tmp_path / "raw-copy"
        shutil.copytree(settings.data_dir, raw_copy)

        warden.registry.erase(biden, purpose="art. 17 request")
        warden.purge()

    keyring = KeyRing.open(settings.resolved_key_dir)
    disk = _files([backup, raw_copy, settings.data_dir])
    recovered = _assert_nothing_of_them_decrypts(disk, keyring, biden, data_key, sealed)
    assert set(others.values()) <= recovered  # the backup stays readable for everyone else

    # Restoring the backup re-applies the erasure; everyone else reads as before.
    restored = make_settings(tmp_path / "restored").model_copy(
        update={"key_dir": settings.resolved_key_dir}
    )
    restored.data_dir.mkdir(parents=True)
    shutil.copy(backup, database_path(restored))
    with Warden.open(restored, clock=clock) as warden:
        with pytest.raises(NotFoundError):
            warden.registry.get(biden)
        assert warden.registry.get(obama).record.id_number == "US-44"
        assert warden.registry.get(rose).record.full_name == "Rose Leslie"
        tombstones = [e for e in warden.audit.entries(limit=100) if e.action == "subject.erase"]
        assert [e.object_id for e in tombstones] == [biden]
    with sqlite3.connect(database_path(restored)) as db:
        assert db.execute(
            "SELECT COUNT(*) FROM subjects WHERE subject_id = ?", (biden,)
        ).fetchone() == (0,)


def test_postgres_files_and_wal_after_erase_and_purge_give_the_erased_person_nothing(
    pg_server: EmbeddedPostgres, tmp_path: Path, clock: ManualClock, faces_dir: object
) -> None:
    url = pg_server.create_database(f"e_{secrets.token_hex(6)}")
    backup_url = pg_server.url(f"eb_{secrets.token_hex(6)}")
    settings = make_settings(tmp_path, database_url=url, keep_enrollment_photos=True)
    with Warden.open(settings, clock=clock, create=True) as warden:
        warden.watchlists.create("staff", purpose="test", lawful_basis="test")
        obama = _person(warden, "Barack Obama", OBAMA, id_number="US-44", address="Kalorama")
        biden = _person(warden, "Joseph Biden", BIDEN, id_number="US-46", address="Scranton")
        data_key, sealed = _secrets_of(warden, biden)
        obama_key = _secrets_of(warden, obama)[0]
        warden.store.checkpoint()
        warden.backup(backup_url)  # a backup taken before the erasure

        warden.registry.erase(biden, purpose="art. 17 request")
        warden.purge()
        warden.store.checkpoint()

    with psycopg.connect(url) as conn:
        oids = [
            str(row[0])
            for row in conn.execute(
                "SELECT oid FROM pg_database WHERE datname = ANY(%s)",
                ([conninfo_to_dict(u)["dbname"] for u in (url, backup_url)],),
            )
        ]
    assert len(oids) == 2
    keyring = KeyRing.open(settings.resolved_key_dir)
    disk = _files([*(pg_server.data / "base" / oid for oid in oids), pg_server.data / "pg_wal"])
    recovered = _assert_nothing_of_them_decrypts(disk, keyring, biden, data_key, sealed)
    assert obama_key in recovered

    restored = make_settings(tmp_path / "restored", database_url=backup_url)
    restored = restored.model_copy(update={"key_dir": settings.resolved_key_dir})
    with Warden.open(restored, clock=clock) as warden:
        with pytest.raises(NotFoundError):
            warden.registry.get(biden)
        assert warden.registry.get(obama).record.address == "Kalorama"


_CRASH = textwrap.dedent(
    """
    import os, signal, sys
    from facewarden.config import Settings
    from facewarden.privacy.keys import KeyRing
    from facewarden.service import Warden

    where, subject = sys.argv[1], sys.argv[2]
    die = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
    with Warden.open(Settings.load(), actor="test:crash") as warden:
        if where == "before-commit":
            original = KeyRing.record_erasure
            def record_then_die(self, subject_id):
                original(self, subject_id)
                die()
            KeyRing.record_erasure = record_then_die
        else:
            KeyRing.destroy_erased_keys = die
        warden.registry.erase(subject, purpose="crash test")
    """
)


@pytest.mark.parametrize("where", ["before-commit", "after-commit"])
def test_a_sigkill_either_side_of_the_commit_is_completed_at_the_next_open(
    tmp_path: Path, clock: ManualClock, faces_dir: object, where: str
) -> None:
    settings = make_settings(tmp_path)
    with Warden.open(settings, clock=clock, create=True) as warden:
        warden.watchlists.create("staff", purpose="test", lawful_basis="test")
        biden = _person(warden, "Joseph Biden", BIDEN)
        obama = _person(warden, "Barack Obama", OBAMA)
    env = dict(
        os.environ,
        FACEWARDEN_DATA_DIR=str(settings.data_dir),
        FACEWARDEN_KEY_DIR=str(settings.resolved_key_dir),
    )
    done = subprocess.run(
        [sys.executable, "-c", _CRASH, where, biden],
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()
    keyring = KeyRing.open(settings.resolved_key_dir)
    assert keyring.has_subject_key(biden)  # the process died before destroying it
    with sqlite3.connect(database_path(settings)) as db:
        left = db.execute("SELECT COUNT(*) FROM subjects WHERE subject_id = ?", (biden,)).fetchone()
    assert left == ((1,) if where == "before-commit" else (0,))

    with Warden.open(settings, clock=clock) as warden:  # what a restarted server does
        assert not KeyRing.open(settings.resolved_key_dir).has_subject_key(biden)
        with pytest.raises(NotFoundError):
            warden.registry.get(biden)
        assert warden.registry.get(obama).record.full_name == "Barack Obama"
        assert warden.integrity_check() == []


def test_subjects_of_an_older_deployment_get_their_own_key_at_open(
    tmp_path: Path, clock: ManualClock, faces_dir: object
) -> None:
    settings = make_settings(tmp_path)
    with Warden.open(settings, clock=clock, create=True) as warden:
        warden.watchlists.create("staff", purpose="test", lawful_basis="test")
        obama = _person(warden, "Barack Obama", OBAMA, id_number="US-44")
        # Make it what an earlier version stored: the data key wrapped by the master key.
        keyring = KeyRing.open(warden.key_dir)
        row = warden.store.get_subject(obama)
        assert row is not None
        raw = unwrap(keyring, WrappedKey.from_bytes(row.wrapped_key))
        assert raw is not None
        legacy = warden._ctx.envelope._wrap(raw)
        with warden.store.transaction() as tx:
            tx.set_wrapped_key(obama, legacy.to_bytes())
            tx.set_meta("subject_keys", "0")
        keyring.destroy_subject_keys([obama])
    with Warden.open(settings, clock=clock) as warden:
        row = warden.store.get_subject(obama)
        assert row is not None
        assert WrappedKey.from_bytes(row.wrapped_key).master_key_id == f"sk-{obama}"
        assert warden.registry.get(obama).record.id_number == "US-44"
        warden.registry.erase(obama)
    # A copy made before the migration still holds the master-wrapped key: only a
    # master-key rotation that destroys the old key closes those (service/erasure.py).
    assert unwrap(KeyRing.open(settings.resolved_key_dir), legacy) is not None


def test_a_saved_index_copied_before_an_erasure_no_longer_decrypts(
    tmp_path: Path, clock: ManualClock, faces_dir: object
) -> None:
    settings = make_settings(tmp_path, gallery_index="ann")
    with Warden.open(settings, clock=clock, create=True) as warden:
        warden.watchlists.create("staff", purpose="test", lawful_basis="test")
        biden = _person(warden, "Joseph Biden", BIDEN)
        _person(warden, "Barack Obama", OBAMA)
        warden.warm_up()  # builds the HNSW index and saves it, encrypted
        [saved] = list((settings.data_dir / "index").glob("*.ann"))
        stolen = tmp_path / "copy.ann"
        shutil.copy(saved, stolen)  # a backup of the data directory, before the erasure
        key_id = HnswIndex.saved_key_id(stolen)
        assert key_id is not None
        keyring = KeyRing.open(warden.key_dir)
        keyring.master_key(key_id)  # readable now

        warden.registry.erase(biden, purpose="art. 17 request")
        assert not saved.exists()
    keyring = KeyRing.open(settings.resolved_key_dir)
    with pytest.raises(KeyMaterialError):
        keyring.master_key(key_id)  # its key went with the erasure: the copy is noise
