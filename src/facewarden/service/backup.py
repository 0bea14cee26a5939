"""Encrypted, self-checking backup archives of a deployment's database, and their restore.

An archive holds the database (SQLite: the file, copied with SQLite's backup
API; PostgreSQL: every table, copied from one snapshot) and never a key: it
is encrypted under a key derived from the active master key, so restoring it
needs the key directory, which is backed up apart from it. The format (header,
then AES-256-GCM chunks of 1 MiB, the last one flagged final and carrying the
payload's length and SHA-256) is described in
:mod:`facewarden.service.backup_format`; archives of formats 1 and 2 are still read.

No subject's ID-number token (its blind index, an HMAC of a guessable number)
is in an archive: a thief with an archive taken before an erasure and the key
directory could otherwise brute-force the erased person's number back from
it. The copy's ``subjects.id_index`` is NULL and its meta table carries
:data:`~facewarden.service.id_reindex.TOKENS_LEFT_OUT`; the restored
deployment, once it has re-applied the erasures made since the backup,
recomputes each remaining subject's token from its ID number, sealed under
its own data key (:func:`~facewarden.service.id_reindex.rebuild_id_tokens`).
An erased subject's data key is gone, so nothing of its number is left to
find; it is deleted at open, as before. Archives of formats 1 and 2 hold the
tokens and restore as they are. A raw copy (:func:`write_raw_copy`,
``backup --raw``) leaves them out the same way, and the deployment that
opens it rebuilds them the same way.

Memory stays bounded by a few chunks, whatever the database's size: the
payload streams from its source into the archive, and from the archive into
the deployment.

- Backup, PostgreSQL: each table's ``COPY ... TO STDOUT (FORMAT binary)`` rows
  stream from one ``REPEATABLE READ`` snapshot into the archive (``subjects``
  with NULL tokens); nothing touches the disk but the archive.
- Backup, SQLite: the backup API copies the database, consistently, into a
  private scratch directory (0700, in the data directory, so it is as
  protected as the database and on its file system); the copy is opened and
  its name removed at once, then read chunk by chunk into the archive; the
  directory goes on every path, and one a kill during the copy leaves is
  overwritten and removed at the next open, backup or purge
  (:func:`~facewarden.service.private_files.sweep_scratch`). The tokens are
  cleared in the copy, which is then written compacted (``VACUUM INTO``, live
  rows only) beside it, in the same folder, and that is what is read (so the
  folder needs twice the database's size, for a moment). The first copy
  (until then)
  holds what the database held when it was made, no more: personal
  fields, photos, thumbnails and templates only as ciphertext, but in clear the
  pseudonymous subject ids, the blind-index tokens, wrapped keys, watchlists
  and memberships, sightings (which subject id was at which camera, when),
  camera names (their places are sealed), user names with password hashes, API-key and
  session-token hashes, and the audit log's structure (actors, actions,
  object ids, times; its free text is encrypted).
- The archive itself is written as an unnamed file (``O_TMPFILE``) that takes
  its name only when complete, never replacing a file: a kill leaves nothing.

Restore believes nothing of the header (not even which store the archive
holds) before the first chunk, whose associated data binds the header's
digest, has authenticated it: a header altered to name the other store is
tampering, refused as such. Every chunk is checked before anything reaches
the deployment, so a truncated, altered or foreign archive changes nothing.
SQLite: the database is
decrypted into an unnamed private file in the data directory, linked in as the
database only after the last chunk and the payload's checksum have checked
out (a kill leaves nothing). PostgreSQL: a first pass authenticates the whole
archive without writing; a second pass loads the tables in one transaction,
authenticating each chunk again (the file could change between the passes)
and committing only after the last one. Then the deployment is opened:
erasures made after the backup come back from the erasure ledger in the key
directory (re-applied at open, see :mod:`facewarden.service.erasure`), and so
do API keys revoked, users disabled and passwords changed after it, from the
revocation ledger beside it (:mod:`facewarden.service.revocation`); the
audit log is re-anchored to the restored chain (a deliberate rollback, recorded
in the log), every session the archive brought back is ended (one ended since
must not revive: everyone signs in again), and a ``restore`` entry records the
archive.

An archive keeps the schema version it was taken at: PostgreSQL's tables are
loaded into the schema of that version, a SQLite file is restored as it is,
and opening then migrates either forward. One newer than this code is refused
(:class:`~facewarden.errors.ConfigError`): PostgreSQL's load rolls back, and
SQLite's file is removed right after it takes its name.
"""

from __future__ import annotations

import contextlib
import secrets
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from facewarden.config import Settings
from facewarden.errors import (
    ConfigError,
    ConflictError,
    FacewardenError,
    IntegrityError,
    KeyMaterialError,
)
from facewarden.privacy.keys import KeyRing
from facewarden.service.backup_format import (
    CHUNK_BYTES,
    ArchiveReader,
    ArchiveWriter,
    archive_key,
)
from facewarden.service.id_reindex import TOKENS_LEFT_OUT
from facewarden.service.private_files import created_whole, is_taken, scratch_dir
from facewarden.service.revocation import RevocationReport
from facewarden.store import migrations
from facewarden.store._dialect import SQLITE

if TYPE_CHECKING:
    from facewarden.service.warden import Warden
    from facewarden.store.base import Store
    from facewarden.store.sqlite import SqliteStore

__all__ = [
    "ArchiveSummary",
    "BackupReport",
    "RestoreReport",
    "restore",
    "verify_archive",
    "write_backup",
    "write_raw_copy",
]

_SQLITE_ENTRY = "sqlite"
_TOKENS_LEFT_OUT_FORMAT = 3  # the first archive format without ID-number tokens


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
    """What :func:`restore` restored.

    ``archive_holds_id_tokens``: the archive is of a format written before
    the tokens were left out (1 or 2): the file itself still holds every
    subject's ID-number token as it was, erased people's included, and
    should be replaced by a new backup.
    """

    store: str
    created_at: str
    subjects: int
    erasures_reapplied: int
    revocations_reapplied: RevocationReport = field(default_factory=RevocationReport)
    archive_holds_id_tokens: bool = False


@dataclass(frozen=True)
class ArchiveSummary:
    """A checked archive: its header and the plaintext bytes of each entry."""

    header: dict[str, Any]
    entry_bytes: dict[str, int]


# ---------------------------------------------------------------- reading


@contextlib.contextmanager
def _reading(path: Path) -> Iterator[IO[bytes]]:
    """The archive open for reading; an I/O error anywhere in the block (its header's
    read included) becomes a typed error. A PostgreSQL load it interrupts rolls back."""
    try:
        with open(path, "rb") as handle:
            yield handle
    except OSError as exc:
        raise FacewardenError(f"cannot read the archive {path}: {exc.strerror or exc}") from None


def verify_archive(path: Path, keyring: KeyRing) -> ArchiveSummary:
    """Authenticate a whole archive, chunk by chunk, writing nothing.

    Raises:
        IntegrityError: damaged, tampered with, truncated or extended (which chunk says).
        KeyMaterialError: the key directory lacks the master key it was made under.
    """
    with _reading(path) as handle:
        reader = ArchiveReader(handle, keyring)
        sizes = {}
        for name, pieces in reader.entries():
            sizes[name] = sum(len(piece) for piece in pieces)
    return ArchiveSummary(reader.header, sizes)


# ---------------------------------------------------------------- backup


def write_backup(warden: Warden, keyring: KeyRing, destination: Path) -> BackupReport:
    """Write an encrypted archive of ``warden``'s database to the new file ``destination``.

    Raises:
        ConflictError: ``destination`` exists.
    """
    from facewarden.store.postgres import PostgresStore
    from facewarden.store.sqlite import SqliteStore

    destination = Path(destination)
    if is_taken(destination):
        raise ConflictError(f"{destination} exists; back up to a new file")
    store = warden.store
    verification = warden.audit.verify()
    kind = "postgres" if isinstance(store, PostgresStore) else "sqlite"
    master_key_id, salt = keyring.active_master_id, secrets.token_hex(16)
    header: dict[str, object] = {
        "store": kind,
        "created_at": warden.clock().isoformat(),
        "master_key_id": master_key_id,
        "salt": salt,
        "nonce_prefix": secrets.token_hex(4),
        "audit_head_seq": verification.head_seq,
    }
    key = archive_key(keyring, master_key_id, bytes.fromhex(salt))
    try:
        with created_whole(destination, exists_hint="back up to a new file") as out:
            writer = ArchiveWriter(out, header, key)
            if isinstance(store, PostgresStore):
                from facewarden.store.pg_archive import dump_tables

                for table, blocks in dump_tables(store.url, tokens_left_out=TOKENS_LEFT_OUT):
                    writer.entry(table, blocks)
            elif isinstance(store, SqliteStore):
                with (
                    scratch_dir(store.path.parent) as scratch,
                    _sqlite_copy(store, scratch) as copy,
                ):
                    writer.entry(_SQLITE_ENTRY, _pieces(copy))
            else:
                raise FacewardenError(f"cannot archive a {type(store).__name__}")
            writer.finish()
    except OSError as exc:  # a full disk, an I/O error: nothing is left behind
        raise FacewardenError(
            f"the backup to {destination} failed: {exc.strerror or exc}"
        ) from None
    warden.audit.record(
        "backup",
        purpose="backup",
        details={
            "store": kind,
            "bytes": writer.payload_bytes,
            "audit_head_seq": verification.head_seq,
        },
    )
    return BackupReport(
        str(destination), kind, writer.payload_bytes, master_key_id, verification.head_seq
    )


def write_raw_copy(store: Store, destination: str) -> None:
    """Write a plain copy of ``store``'s database, ID-number tokens left out, to ``destination``.

    SQLite: a new file, private (0600), whole or absent; PostgreSQL: a new
    database, given by its URL. The copy is the database as it stands
    (personal fields still sealed, no key) with every subject's
    ``id_index`` NULL and :data:`~facewarden.service.id_reindex.TOKENS_LEFT_OUT`
    set: opened as a deployment, it recomputes the tokens of the subjects
    still there after the erasure ledger is re-applied, so a person erased
    after the copy was taken cannot be named from it by ID number, as from
    an archive.

    Raises:
        ConflictError: ``destination`` exists.
        ConfigError: a PostgreSQL store given a destination that is no PostgreSQL URL.
    """
    from facewarden.store.postgres import PostgresStore
    from facewarden.store.sqlite import SqliteStore

    if isinstance(store, PostgresStore):
        from facewarden.store.pg_archive import copy_database

        copy_database(store.url, destination, tokens_left_out=TOKENS_LEFT_OUT)
        return
    if not isinstance(store, SqliteStore):
        raise FacewardenError(f"cannot copy a {type(store).__name__}")
    target = Path(destination)
    try:
        with (
            created_whole(target, exists_hint="back up to a new file") as out,
            scratch_dir(store.path.parent) as scratch,
            _sqlite_copy(store, scratch) as copy,
        ):
            shutil.copyfileobj(copy, out, CHUNK_BYTES)
    except OSError as exc:  # a full disk, an I/O error: nothing is left behind
        raise FacewardenError(f"the backup to {target} failed: {exc.strerror or exc}") from None


def _sqlite_copy(store: SqliteStore, scratch: Path) -> IO[bytes]:
    """The database copied with SQLite's backup API, its ID-number tokens left out, open for
    reading, its name already gone."""
    copy, archived = scratch / "copy.db", scratch / "archived.db"
    store.backup(str(copy))
    try:
        _leave_id_tokens_out(copy, archived)
    finally:
        copy.unlink()
    try:
        return open(archived, "rb")
    finally:
        archived.unlink()


def _leave_id_tokens_out(copy: Path, archived: Path) -> None:
    """Clear every subject's ID-number token in ``copy``, flag it for their rebuild, and write
    it compacted to ``archived``.

    ``VACUUM INTO`` builds ``archived`` from the live rows alone, so no token
    is left in a freed page; it writes there directly, where ``VACUUM`` would
    first copy the whole database into a temporary file outside the data
    directory. Both files stay in the private scratch folder.
    """
    try:
        with contextlib.closing(sqlite3.connect(copy, isolation_level=None)) as db:
            db.execute("BEGIN IMMEDIATE")
            db.execute("UPDATE subjects SET id_index = NULL WHERE id_index IS NOT NULL")
            db.execute(
                "INSERT INTO meta (key, value) VALUES (?, '1') "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (TOKENS_LEFT_OUT,),
            )
            db.execute("COMMIT")
            db.execute("VACUUM INTO ?", (str(archived),))
    except sqlite3.Error as exc:
        raise FacewardenError(f"the backup's copy of the database failed: {exc}") from None


def _pieces(handle: IO[bytes]) -> Iterator[bytes]:
    while piece := handle.read(CHUNK_BYTES):
        yield piece


# ---------------------------------------------------------------- restore


def restore(archive: Path, settings: Settings, *, clock: Any = None) -> RestoreReport:
    """Restore ``archive`` into the deployment ``settings`` describe, which holds no database yet.

    Every chunk is checked before anything reaches the deployment. The key
    directory must be the deployment's (restored from its own backup): it holds
    the master key the archive was made under, and the erasure ledger
    re-applied at open.

    Raises:
        IntegrityError: the archive is damaged, tampered with or truncated.
        KeyMaterialError: the key directory is missing or lacks the archive's master key.
        ConflictError: the target already holds a database, or the archive is of the other store.
        ConfigError: the archive is at a schema version newer than this code's
            (an older one restores, and opening migrates it forward).
    """
    from facewarden.service.warden import Warden

    key_dir = settings.resolved_key_dir
    if not key_dir.exists():
        # KeyRing.open's own advice (create fresh keys) is wrong here: new keys
        # can never read an archive, the deployment's own keys must come back.
        raise KeyMaterialError(
            f"key directory {key_dir} does not exist; restore this deployment's key "
            "directory there from its own backup (or name it with --key-dir, "
            "FACEWARDEN_KEY_DIR): new keys cannot read the archive"
        )
    keyring = KeyRing.open(key_dir)
    archive = Path(archive)
    if settings.database_url is not None:
        header = _restore_postgres(archive, keyring, settings.database_url)
    else:
        header = _restore_sqlite(archive, keyring, settings)
    restored = _count_subjects(settings)
    kwargs = {"clock": clock} if clock is not None else {}
    # Opening applies the erasure ledger's erasures the restored database lacks;
    # counting before and after says how many.
    warden = Warden.open(settings, actor="cli:restore", **kwargs)
    try:
        # The restored chain is older than the signed head: a deliberate rollback.
        warden.audit.reanchor()
        subjects = warden.store.count_subjects()
        revoked = warden.revocations_reapplied
        sessions = warden.access.end_every_session() + revoked.sessions_ended
        warden.audit.record(
            "restore",
            purpose="restore",
            details={
                "created_at": header["created_at"],
                "erasures_reapplied": restored - subjects,
                "keys_revoked": revoked.keys_revoked,
                "users_disabled": revoked.users_disabled,
                "passwords_reset": revoked.passwords_reset,
                "subjects_restricted": revoked.subjects_restricted,
                "subjects_rectified": revoked.subjects_rectified,
                "faces_removed": revoked.faces_removed,
                "memberships_removed": revoked.memberships_removed,
                "sessions_ended": sessions,
            },
        )
    finally:
        warden.close()
    return RestoreReport(
        header["store"],
        header["created_at"],
        subjects,
        restored - subjects,
        revoked,
        archive_holds_id_tokens=int(header["format"]) < _TOKENS_LEFT_OUT_FORMAT,
    )


def _check_store(header: dict[str, Any], postgres: bool) -> None:
    if header["store"] != ("postgres" if postgres else "sqlite"):
        raise ConflictError(
            f"the archive holds a {header['store']} database; this deployment uses "
            f"{'PostgreSQL' if postgres else 'SQLite'}"
        )


def _restore_sqlite(archive: Path, keyring: KeyRing, settings: Settings) -> dict[str, Any]:
    """Decrypt into an unnamed private file that becomes the database after the last check."""
    from facewarden.service.opening import database_path

    target = database_path(settings)
    for taken in (target, target.with_name(target.name + "-wal")):
        if taken.exists():
            raise ConflictError(
                f"{taken} exists; restore into a new data directory (move the old one away)"
            )
    with _reading(archive) as handle:
        reader = ArchiveReader(handle, keyring)
        # Authenticated first: a tampered header is tampering, not the other store.
        _check_store(reader.authenticate_header(), postgres=False)
        entries = reader.entries()
        hint = "restore into a new data directory (move the old one away)"
        try:
            target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with created_whole(target, exists_hint=hint) as out:
                names = []
                for name, pieces in entries:
                    names.append(name)
                    if names != [_SQLITE_ENTRY]:
                        raise IntegrityError(f"the archive holds an unexpected entry {name!r}")
                    for piece in pieces:
                        out.write(piece)
                if not names:
                    raise IntegrityError("the archive holds no database")
        except OSError as exc:  # a full disk, an I/O error: nothing is left behind
            raise FacewardenError(
                f"the restore into {target} failed: {exc.strerror or exc}"
            ) from None
    _refuse_a_newer_schema(target)
    return reader.header


def _refuse_a_newer_schema(target: Path) -> None:
    """Remove the restored database ``target`` if no migration of ours can open it.

    An older one is fine: opening migrates it forward. SQLite cannot open the
    unnamed file while it is written (it resolves ``/proc/self/fd`` to a
    deleted name), so this runs just after it takes its name; a kill in
    between leaves a database that opening refuses with the same message.
    """
    uri = f"file:{target}?mode=ro&immutable=1"
    try:
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            version = migrations.version_of(db, SQLITE)
    except sqlite3.Error as exc:
        target.unlink()
        raise IntegrityError(f"the archive's database cannot be read: {exc}") from None
    try:
        migrations.refuse_newer(version, "the archive", "restore it with a newer facewarden")
    except ConfigError:
        target.unlink()
        raise


def _restore_postgres(archive: Path, keyring: KeyRing, url: str) -> dict[str, Any]:
    """Authenticate the whole archive, then load it in one transaction, checking it again."""
    from facewarden.store.pg_archive import load_tables

    header = verify_archive(archive, keyring).header
    _check_store(header, postgres=True)
    with _reading(archive) as handle:
        reader = ArchiveReader(handle, keyring)
        if reader.header != header:
            raise IntegrityError("the archive changed while it was being restored")
        load_tables(url, reader.entries())
    return header


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
