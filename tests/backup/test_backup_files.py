"""Archives of format 1 still restore; a failed or killed backup leaves no file behind.

Format 1 archives (the payload's checksum in the header, entries with their
sizes) are written here as the previous version wrote them, from the real
database of a deployment, and must restore to the same identification
results on both stores.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import secrets
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from facewarden.errors import FacewardenError
from facewarden.privacy.keys import KeyRing
from facewarden.service import Warden, backup
from facewarden.service.backup_format import MAGIC, archive_key
from facewarden.types import Face

from ._deployments import Deploy, enroll_all, fresh, identify

FORMAT_1_CHUNK = 4096  # smaller than today's chunks, so even a small database spans several


def _format_1(path: Path, store: str, keyring: KeyRing, entries: list[tuple[str, bytes]]) -> None:
    """An archive laid out as format 1 was, by the version before streaming."""
    payload = b"".join(
        struct.pack(">H", len(name.encode())) + name.encode() + struct.pack(">Q", len(data)) + data
        for name, data in entries
    )
    salt, prefix = secrets.token_bytes(16), secrets.token_bytes(4)
    header = {
        "format": 1,
        "store": store,
        "created_at": "2026-01-01T00:00:00+00:00",
        "master_key_id": keyring.active_master_id,
        "salt": salt.hex(),
        "nonce_prefix": prefix.hex(),
        "payload_bytes": len(payload),
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "audit_head_seq": None,
    }
    raw = json.dumps(header, sort_keys=True).encode()
    digest = hashlib.sha256(raw).digest()
    aead = AESGCM(archive_key(keyring, keyring.active_master_id, salt))
    chunks = [payload[i : i + FORMAT_1_CHUNK] for i in range(0, len(payload), FORMAT_1_CHUNK)]
    out = [MAGIC, struct.pack(">I", len(raw)), raw]
    for index, chunk in enumerate(chunks):
        aad = digest + struct.pack(">QB", index, index == len(chunks) - 1)
        sealed = aead.encrypt(prefix + struct.pack(">Q", index), chunk, aad)
        out += [struct.pack(">I", len(sealed)), sealed]
    path.write_bytes(b"".join(out))


def test_a_format_1_archive_still_restores(
    deploy: Deploy, johns: dict[str, list[list[Face]]], tmp_path: Path
) -> None:
    settings = deploy(tmp_path / "live")
    archive = tmp_path / "old.fwbackup"
    with Warden.open(settings, create=True, actor="test:backup") as warden:
        ids = enroll_all(warden, johns)
        before = identify(warden, johns)
        keyring = KeyRing.open(settings.resolved_key_dir)
        if settings.database_url is None:
            copy = tmp_path / "copy.db"
            warden.backup(copy)
            entries = [("sqlite", copy.read_bytes())]
        else:
            from facewarden.store.pg_archive import dump_tables

            entries = [
                (table, b"".join(bytes(block) for block in blocks))
                for table, blocks in dump_tables(settings.database_url)
            ]
        store = "sqlite" if settings.database_url is None else "postgres"
        _format_1(archive, store, keyring, entries)
    assert archive.stat().st_size > 2 * FORMAT_1_CHUNK
    target = fresh(deploy, settings, tmp_path / "restored")
    report = backup.restore(archive, target)
    assert report.subjects == len(ids)
    with Warden.open(target, actor="test:restored") as warden:
        assert identify(warden, johns) == before
        assert warden.integrity_check() == []


@pytest.fixture
def sqlite_deployment(
    johns: dict[str, list[list[Face]]], tmp_path: Path
) -> Iterator[tuple[Warden, Path]]:
    """A SQLite deployment with the johns enrolled, and its data directory."""
    from facewarden.config import Settings

    settings = Settings(data_dir=tmp_path / "data", key_dir=tmp_path / "keys", enroll_mode="fast")
    with Warden.open(settings, create=True, actor="test:backup") as warden:
        enroll_all(warden, johns)
        yield warden, settings.data_dir


def test_a_backup_that_fails_part_way_leaves_no_file(
    sqlite_deployment: tuple[Warden, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reading the private copy fails after its first piece: no archive, no copy, no scratch."""
    warden, data_dir = sqlite_deployment
    before = sorted(p.name for p in data_dir.iterdir())

    def failing(handle: object) -> Iterator[bytes]:
        yield b"x" * 1000
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(backup, "_pieces", failing)
    destination = tmp_path / "out" / "site.fwbackup"
    destination.parent.mkdir()
    with pytest.raises(FacewardenError, match=r"backup to .* failed: Input/output error"):
        warden.backup_archive(destination)
    assert list(destination.parent.iterdir()) == []
    assert sorted(p.name for p in data_dir.iterdir()) == before


def test_a_scratch_copy_left_by_a_killed_backup_is_removed_by_the_next(
    sqlite_deployment: tuple[Warden, Path], tmp_path: Path
) -> None:
    """A dead process's scratch directory goes; one a live process holds stays."""
    warden, data_dir = sqlite_deployment
    dead = data_dir / ".facewarden-scratch-dead"
    dead.mkdir(mode=0o700)
    (dead / "copy.db").write_bytes(b"plaintext pages of a copy")
    live = data_dir / ".facewarden-scratch-live"
    live.mkdir(mode=0o700)
    holder = os.open(live, os.O_RDONLY)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        warden.backup_archive(tmp_path / "site.fwbackup")
        assert not dead.exists()
        assert live.exists()
    finally:
        os.close(holder)
    scratch = [p.name for p in data_dir.iterdir() if p.name.startswith(".facewarden-scratch-")]
    assert scratch == [".facewarden-scratch-live"]  # and the backup's own is gone
