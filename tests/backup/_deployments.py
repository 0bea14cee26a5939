"""Deployments for the backup tests: real people enrolled and identified, key directories copied."""

from __future__ import annotations

import os
import secrets
import shutil
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from facewarden.config import Settings
from facewarden.privacy.keys import KeyRing
from facewarden.service import SubjectRecord, Warden
from facewarden.service.backup_format import ArchiveWriter, archive_key
from facewarden.service.opening import database_path
from facewarden.store._pg_admin import table_order
from facewarden.store.base import SubjectRow
from facewarden.types import Face

WATCHLIST = "staff"
MARKER = f"Backupmarker{secrets.token_hex(4)}"

NOTES_CIPHERTEXT_BYTES = 4000 + 28  # the notes limit, plus nonce and tag

Deploy = Callable[[Path], Settings]


def enroll_all(warden: Warden, johns: dict[str, list[list[Face]]]) -> dict[str, str]:
    """Enroll each john from two photos, on the watchlist :data:`WATCHLIST`; their ids."""
    warden.watchlists.create(WATCHLIST, purpose="backup test", lawful_basis="test")
    ids = {}
    for name, faces in johns.items():
        prepared = [warden.registry.prepare_detected(f, source=name) for f in faces[:2]]
        record = SubjectRecord(full_name=f"{MARKER} {name}", lawful_basis="test")
        ids[name] = warden.registry.enroll_prepared(
            record, prepared, watchlists=[WATCHLIST]
        ).subject_id
    return ids


def identify(warden: Warden, johns: dict[str, list[list[Face]]]) -> list[list[tuple[str, float]]]:
    """Candidates (id, similarity) for each john's two other photos."""
    probes = [faces[i][0] for faces in johns.values() for i in (2, 3)]
    result = warden.recognition.identify_faces(probes, WATCHLIST, top_k=5, purpose="backup test")
    return [[(c.subject_id, c.similarity) for c in face.candidates] for face in result.faces]


def fresh(deploy: Deploy, settings: Settings, root: Path) -> Settings:
    """A new deployment whose key directory is restored (copied) from the live one's."""
    target = deploy(root)
    shutil.copytree(settings.resolved_key_dir, target.resolved_key_dir)
    return target


def pad_subjects(warden: Warden, count: int) -> None:
    """``count`` more subjects, as large as a record gets, in one transaction.

    Their ciphertexts are random bytes (as opaque as real ones), their data key a copy
    of the first enrolled subject's.
    """
    now = warden.clock()
    template = next(iter(warden.store.list_subjects(after=None, limit=1)))
    with warden.store.transaction() as tx:
        for _ in range(count):
            fields = {
                "full_name": os.urandom(60),
                "notes": os.urandom(NOTES_CIPHERTEXT_BYTES),
            }
            subject_id = f"sub_{secrets.token_hex(8)}"
            tx.insert_subject(SubjectRow(subject_id, template.wrapped_key, None, fields, now, now))


def _sqlite_entries(settings: Settings, scratch: Path) -> Iterator[tuple[str, Iterable[bytes]]]:
    copy = scratch / "copy.db"
    source, target = sqlite3.connect(database_path(settings)), sqlite3.connect(copy)
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()
    yield "sqlite", [copy.read_bytes()]


def _postgres_entries(url: str) -> Iterator[tuple[str, Iterable[bytes]]]:
    """Every table the database has, parents first, as ``COPY ... (FORMAT binary)`` data."""
    with psycopg.connect(url) as conn:
        for table in table_order():
            present = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (table,)).fetchone()
            if table != "face_vectors" and present and present[0]:
                with conn.cursor().copy(f"COPY {table} TO STDOUT (FORMAT binary)") as out:
                    yield table, [bytes(block) for block in out]


def archive_as_it_stands(settings: Settings, head_seq: int | None, destination: Path) -> Path:
    """An archive of the deployment's (closed) database as it stands, its tokens in it.

    In the backup's frame, numbered ``backup_format.FORMAT`` (patched to 2, it is
    what format-2 backups wrote; today's backup leaves the tokens out).
    """
    keyring = KeyRing.open(settings.resolved_key_dir)
    salt = secrets.token_hex(16)
    postgres = settings.database_url is not None
    header: dict[str, object] = {
        "store": "postgres" if postgres else "sqlite",
        "created_at": datetime.now(UTC).isoformat(),
        "master_key_id": keyring.active_master_id,
        "salt": salt,
        "nonce_prefix": secrets.token_hex(4),
        "audit_head_seq": head_seq,
    }
    key = archive_key(keyring, keyring.active_master_id, bytes.fromhex(salt))
    entries = (
        _postgres_entries(settings.database_url)
        if settings.database_url is not None
        else _sqlite_entries(settings, destination.parent)
    )
    with destination.open("xb") as out:
        writer = ArchiveWriter(out, header, key)
        for name, blocks in entries:
            writer.entry(name, blocks)
        writer.finish()
    return destination
