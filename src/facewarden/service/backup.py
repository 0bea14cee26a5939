"""Encrypted, self-checking backup archives of a deployment's database, and their restore.

An archive holds the database (SQLite: the file, copied with SQLite's backup
API; PostgreSQL: every table, copied from one snapshot) and never a key: it
is encrypted under a key derived from the active master key, so restoring it
needs the key directory, which is backed up apart from it. Format::

    b"FWBACKUP" | u32 header length | header (JSON, authenticated, not secret)
    then chunks: u32 length | AES-256-GCM(chunk), nonce = prefix (4) | counter (8),
                 associated data = SHA-256(header) | counter | final flag

The header names the store, the master key id, the HKDF salt, the nonce
prefix, the payload's length and SHA-256, and the audit head at backup time.
The final flag in the last chunk's associated data makes a truncated archive
fail as surely as a flipped bit; every chunk is checked before anything is
written, so a bad archive changes nothing.

Restore writes into a deployment that holds no database yet, then opens it:
erasures made after the backup come back from the erasure ledger in the key
directory (re-applied at open, see :mod:`facewarden.service.erasure`), the
audit log is re-anchored to the restored chain (a deliberate rollback, recorded
in the log), and a ``restore`` entry records the archive.

Limit: the database is held in memory while an archive is written or read
(fine for the embedded sizes this is tested at; a database of many GB wants
the chunks streamed to and from disk instead).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from facewarden.config import Settings
from facewarden.errors import ConflictError, FacewardenError, IntegrityError, KeyMaterialError
from facewarden.privacy.keys import KeyRing

if TYPE_CHECKING:
    from facewarden.service.warden import Warden

__all__ = ["BackupReport", "RestoreReport", "read_archive", "restore", "write_backup"]

MAGIC = b"FWBACKUP"
FORMAT = 1
CHUNK_BYTES = 1 << 20
_MAX_HEADER = 64 * 1024
_INFO = b"facewarden/backup/v1"
_SQLITE_ENTRY = "sqlite"


@dataclass(frozen=True)
class BackupReport:
    """What :func:`write_backup` wrote."""

    path: str
    store: str
    payload_bytes: int
    master_key_id: str
    audit_head_seq: int | None


@dataclass(frozen=True)
class RestoreReport:
    """What :func:`restore` restored."""

    store: str
    created_at: str
    subjects: int
    erasures_reapplied: int


# ---------------------------------------------------------------- the format


def _archive_key(keyring: KeyRing, master_key_id: str, salt: bytes) -> bytes:
    try:
        master = keyring.master_key(master_key_id)
    except KeyMaterialError:
        raise KeyMaterialError(
            f"the archive is encrypted under master key {master_key_id}, which the key "
            f"directory {keyring.path} does not hold; restore the key directory from its "
            "own backup first"
        ) from None
    return HKDF(hashes.SHA256(), 32, salt, _INFO).derive(master)


def _aad(header_digest: bytes, index: int, final: bool) -> bytes:
    return header_digest + struct.pack(">QB", index, final)


def _entries(payload: Iterator[tuple[str, bytes]]) -> Iterator[bytes]:
    for name, data in payload:
        encoded = name.encode()
        yield struct.pack(">H", len(encoded)) + encoded + struct.pack(">Q", len(data))
        yield data


def _write(out: BinaryIO, header: dict[str, object], key: bytes, payload: bytes) -> None:
    raw = json.dumps(header, sort_keys=True).encode()
    out.write(MAGIC + struct.pack(">I", len(raw)) + raw)
    digest = hashlib.sha256(raw).digest()
    aead, prefix = AESGCM(key), bytes.fromhex(str(header["nonce_prefix"]))
    chunks = [payload[i : i + CHUNK_BYTES] for i in range(0, len(payload), CHUNK_BYTES)] or [b""]
    for index, chunk in enumerate(chunks):
        final = index == len(chunks) - 1
        sealed = aead.encrypt(prefix + struct.pack(">Q", index), chunk, _aad(digest, index, final))
        out.write(struct.pack(">I", len(sealed)) + sealed)


def _read_exact(handle: IO[bytes], count: int, what: str) -> bytes:
    data = handle.read(count)
    if len(data) != count:
        raise IntegrityError(f"the archive is truncated: it ends inside {what}")
    return data


def _header(handle: IO[bytes]) -> tuple[dict[str, Any], bytes]:
    if handle.read(len(MAGIC)) != MAGIC:
        raise IntegrityError("not a facewarden backup archive (wrong magic bytes)")
    (length,) = struct.unpack(">I", _read_exact(handle, 4, "the header length"))
    if length > _MAX_HEADER:
        raise IntegrityError(f"the archive header claims {length} bytes: damaged")
    raw = _read_exact(handle, length, "the header")
    try:
        header = json.loads(raw)
        if header["format"] != FORMAT:
            raise IntegrityError(
                f"archive format {header['format']!r}; this version reads {FORMAT}"
            )
        for name in ("store", "master_key_id", "salt", "nonce_prefix", "payload_sha256"):
            if not isinstance(header[name], str):
                raise TypeError(name)
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"the archive header is damaged ({exc})") from None
    return header, hashlib.sha256(raw).digest()


def read_archive(path: Path, keyring: KeyRing) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Decrypt and check a whole archive; its header and its entries.

    Raises:
        IntegrityError: damaged, tampered with, truncated or extended (which chunk says).
        KeyMaterialError: the key directory lacks the master key it was made under.
    """
    try:
        handle = open(path, "rb")  # noqa: SIM115  (closed below, after the loop)
    except OSError as exc:
        raise FacewardenError(f"cannot read the archive {path}: {exc.strerror}") from None
    with handle:
        header, digest = _header(handle)
        key = _archive_key(keyring, header["master_key_id"], bytes.fromhex(header["salt"]))
        aead, prefix = AESGCM(key), bytes.fromhex(header["nonce_prefix"])
        payload, index, final = io.BytesIO(), 0, False
        while not final:
            size_bytes = handle.read(4)
            if len(size_bytes) < 4:
                raise IntegrityError(
                    f"the archive is truncated: it ends after chunk {index} without its last one"
                )
            (size,) = struct.unpack(">I", size_bytes)
            if size > CHUNK_BYTES + 16:
                raise IntegrityError(f"chunk {index} claims {size} bytes: damaged")
            sealed = _read_exact(handle, size, f"chunk {index}")
            nonce = prefix + struct.pack(">Q", index)
            for final in (False, True):
                try:
                    payload.write(aead.decrypt(nonce, sealed, _aad(digest, index, final)))
                    break
                except InvalidTag:
                    continue
            else:
                raise IntegrityError(
                    f"chunk {index} of the archive fails its authentication: it was altered, "
                    "or the header was"
                )
            index += 1
        if handle.read(1):
            raise IntegrityError("the archive goes on after its last chunk: it was altered")
    data = payload.getvalue()
    if hashlib.sha256(data).hexdigest() != header["payload_sha256"]:
        raise IntegrityError("the archive's contents do not match the checksum in its header")
    return header, _split(data)


def _split(data: bytes) -> dict[str, bytes]:
    entries, pos = {}, 0
    try:
        while pos < len(data):
            (length,) = struct.unpack_from(">H", data, pos)
            name = data[pos + 2 : pos + 2 + length].decode()
            (size,) = struct.unpack_from(">Q", data, pos + 2 + length)
            start = pos + 10 + length
            entries[name] = data[start : start + size]
            pos = start + size
    except (struct.error, UnicodeDecodeError) as exc:
        raise IntegrityError(f"the archive's contents are malformed ({exc})") from None
    return entries


# ---------------------------------------------------------------- backup


def write_backup(warden: Warden, keyring: KeyRing, destination: Path) -> BackupReport:
    """Write an encrypted archive of ``warden``'s database to the new file ``destination``.

    Raises:
        ConflictError: ``destination`` exists.
    """
    from facewarden.store.postgres import PostgresStore

    destination = Path(destination)
    if destination.exists():
        raise ConflictError(f"{destination} exists; back up to a new file")
    store = warden.store
    verification = warden.audit.verify()
    if isinstance(store, PostgresStore):
        from facewarden.store.pg_archive import dump_tables

        kind, payload = "postgres", b"".join(_entries(dump_tables(store.url)))
    else:
        kind = "sqlite"
        with tempfile.TemporaryDirectory(dir=destination.parent) as tmp:
            copy = Path(tmp) / "copy.db"
            store.backup(str(copy))
            payload = b"".join(_entries(iter([(_SQLITE_ENTRY, copy.read_bytes())])))
    master_key_id, salt = keyring.active_master_id, secrets.token_hex(16)
    header: dict[str, object] = {
        "format": FORMAT,
        "store": kind,
        "created_at": warden.clock().isoformat(),
        "master_key_id": master_key_id,
        "salt": salt,
        "nonce_prefix": secrets.token_hex(4),
        "payload_bytes": len(payload),
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "audit_head_seq": verification.head_seq,
    }
    key = _archive_key(keyring, master_key_id, bytes.fromhex(salt))
    partial = destination.with_name(f".{destination.name}.partial")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out:
            _write(out, header, key, payload)
            out.flush()
            os.fsync(out.fileno())
        os.link(partial, destination)  # fails, rather than replaces, if it appeared meanwhile
    except FileExistsError:
        raise ConflictError(f"{destination} exists; back up to a new file") from None
    finally:
        partial.unlink(missing_ok=True)
    warden.audit.record(
        "backup",
        purpose="backup",
        details={"store": kind, "bytes": len(payload), "audit_head_seq": verification.head_seq},
    )
    return BackupReport(str(destination), kind, len(payload), master_key_id, verification.head_seq)


# ---------------------------------------------------------------- restore


def restore(archive: Path, settings: Settings, *, clock: Any = None) -> RestoreReport:
    """Restore ``archive`` into the deployment ``settings`` describe, which holds no database yet.

    Every chunk is checked before anything is written. The key directory must
    be the deployment's (restored from its own backup): it holds the master key
    the archive was made under, and the erasure ledger re-applied at open.

    Raises:
        IntegrityError: the archive is damaged, tampered with or truncated.
        KeyMaterialError: the key directory lacks the archive's master key.
        ConflictError: the target already holds a database, or the archive is of the other store.
    """
    from facewarden.service.opening import database_path
    from facewarden.service.warden import Warden

    keyring = KeyRing.open(settings.resolved_key_dir)
    header, entries = read_archive(Path(archive), keyring)
    postgres = settings.database_url is not None
    if header["store"] != ("postgres" if postgres else "sqlite"):
        raise ConflictError(
            f"the archive holds a {header['store']} database; this deployment uses "
            f"{'PostgreSQL' if postgres else 'SQLite'}"
        )
    if postgres:
        from facewarden.store.pg_archive import load_tables

        assert settings.database_url is not None
        load_tables(settings.database_url, entries)
    else:
        target = database_path(settings)
        if target.exists():
            raise ConflictError(
                f"{target} exists; restore into a new data directory (move the old one away)"
            )
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        partial = target.with_name(f".{target.name}.restoring")
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(entries[_SQLITE_ENTRY])
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, target)
    restored = _count_subjects(settings)
    kwargs = {"clock": clock} if clock is not None else {}
    # Opening applies the erasure ledger's erasures the restored database lacks
    # (where the deployment keeps one); counting before and after says how many.
    warden = Warden.open(settings, actor="cli:restore", **kwargs)
    try:
        if hasattr(warden, "reapply_erasures"):
            warden.reapply_erasures()  # a no-op when the open did it
        # The restored chain is older than the signed head: a deliberate rollback.
        warden.audit.reanchor()
        subjects = warden.store.count_subjects()
        warden.audit.record(
            "restore",
            purpose="restore",
            details={"created_at": header["created_at"], "erasures_reapplied": restored - subjects},
        )
    finally:
        warden.close()
    return RestoreReport(header["store"], header["created_at"], subjects, restored - subjects)


def _count_subjects(settings: Settings) -> int:
    """Subjects in the restored database, read before the deployment is opened."""
    from facewarden.service.opening import database_path
    from facewarden.store import open_sqlite
    from facewarden.store.postgres import open_postgres

    if settings.database_url is not None:
        store: Any = open_postgres(settings.database_url)
    else:
        store = open_sqlite(database_path(settings))
    try:
        return int(store.count_subjects())
    finally:
        store.close()
