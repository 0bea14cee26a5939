"""Per-subject key-encryption keys and the erasure ledger, on disk in the key directory.

Private to :mod:`facewarden.privacy.keys`. Each enrolled subject's data key
is wrapped by a key-encryption key (KEK) of its own that lives here, outside
the database; erasing the subject destroys its KEK, so every copy of its
wrapped data key (dead rows, WAL, an earlier backup) becomes undecryptable.

Layout, inside the key directory::

    subject-keys/<3 hex>.keys   4096 buckets of KEKs, picked by SHA-256 of the key id;
                                each encrypted (AES-256-GCM) under a master key
    erasures.log                the erasure ledger: one line per erasure, or per batch
    erasures.done               how far into the ledger KEKs are known destroyed (bytes)

Bucket file: ``b"FWSK" | 0x01 | len(master id) | master id | nonce (12) |
AES-GCM(master key, entries, aad)`` where the associated data names the
bucket and master id, and the entries are ``len(id) | id | key (32)``. At
2.5 million subjects a bucket holds about 610 KEKs (about 34 KB), so
creating or destroying one rewrites 34 KB, never the whole store.

Every rewrite is atomic (temp file, fsync, rename, directory fsync) under the
key directory's exclusive lock. A destroyed KEK's old file is overwritten in
place after the rename (through a descriptor opened before it), which, like
:func:`~facewarden.privacy._keydir.shred`, defeats casual recovery only.

The ledger is appended with ``O_APPEND`` and fsynced; a line torn by a crash
(no final newline) is cut off by the next append and never read as an id.
A line is the ledger's unit of all-or-nothing: one erased subject's id, or a
batch of several erased in one transaction (a retention purge), written as
``+<checksum> <id> <id> ...``. A batch line is read whole or not at all (a
checksum that does not match, as after a write torn in its middle, drops the
line), so a purge killed while it is recorded erases either none of its
subjects at the next open or every one of them.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import stat
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from functools import lru_cache
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from facewarden.errors import IntegrityError, KeyMaterialError
from facewarden.privacy._keydir import (
    KEY_BYTES,
    TMP_PREFIX,
    append_line,
    check_private,
    locked,
    shred,
    write_atomic,
)

SUBJECT_KEYS = "subject-keys"
LEDGER = "erasures.log"
LEDGER_DONE = "erasures.done"
KEK_PREFIX = "sk-"
_MAGIC = b"FWSK\x01"
_NONCE = 12
_BUCKET_HEX = 3  # 4096 buckets
_AAD = b"facewarden/subject-keys/v1/"
_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,60}$")
_BATCH = b"+"  # starts a batch line; no id starts with it
_BATCH_CHECK_HEX = 16
# How long a bucket read from disk is trusted before its file is checked again
# (a stat per lookup cost about as much as the decryption it guards). Changes
# made by this process drop the cache at once; another process's destruction
# is seen within this time, and that process deleted the subject's rows first.
_RECHECK_SECONDS = 0.5

MasterLookup = Callable[[str], bytes]


def kek_id(subject_id: str) -> str:
    """The id of a subject's key-encryption key (``sk-<subject id>``)."""
    if not _ID_RE.match(subject_id):
        raise ValueError(f"invalid subject id {subject_id!r}")
    return KEK_PREFIX + subject_id


@lru_cache(maxsize=65536)
def bucket_of(key_id: str) -> str:
    """The bucket (three hex digits) a key id falls in."""
    return hashlib.sha256(key_id.encode("ascii")).hexdigest()[:_BUCKET_HEX]


class SubjectKeyStore:
    """The KEK buckets of one key directory, with a cache checked against each file's identity.

    Args:
        directory: the key directory.
        master_key: looks up a master key by id (raises KeyMaterialError when absent).
        active_master: the id of the master key new bucket files are encrypted with.
        reload: re-reads the key directory's master keys (another process rotated).
    """

    def __init__(
        self,
        directory: Path,
        master_key: MasterLookup,
        active_master: Callable[[], str],
        reload: Callable[[], None],
    ) -> None:
        self._dir = directory
        self._buckets = directory / SUBJECT_KEYS
        self._master_key = master_key
        self._active_master = active_master
        self._reload = reload
        self._cache: dict[str, tuple[tuple[int, int, int], str, dict[str, bytes]]] = {}
        self._checked: dict[str, float] = {}
        self._lock = threading.Lock()

    # Reading -----------------------------------------------------------------

    def get(self, key_id: str) -> bytes | None:
        """The KEK ``key_id``, or None when it was never created here or is destroyed."""
        return self._entries(bucket_of(key_id))[1].get(key_id)

    def usage(self) -> Counter[str]:
        """How many KEKs each master key encrypts (its bucket files)."""
        counts: Counter[str] = Counter()
        for bucket in self._bucket_names():
            master, entries = self._entries(bucket)
            if entries:
                counts[master] += len(entries)
        return counts

    def _bucket_names(self) -> list[str]:
        if not self._buckets.is_dir():
            return []
        return sorted(
            n.removesuffix(".keys") for n in os.listdir(self._buckets) if n.endswith(".keys")
        )

    def _entries(self, bucket: str) -> tuple[str, dict[str, bytes]]:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(bucket)
            if cached is not None and now - self._checked.get(bucket, -1e9) < _RECHECK_SECONDS:
                return cached[1], cached[2]
        path = self._buckets / f"{bucket}.keys"
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            with self._lock:
                self._cache.pop(bucket, None)
            return "", {}
        signature = (st.st_ino, st.st_mtime_ns, st.st_size)
        with self._lock:
            cached = self._cache.get(bucket)
            if cached is not None and cached[0] == signature:
                self._checked[bucket] = now
                return cached[1], cached[2]
        if stat.S_ISLNK(st.st_mode):
            raise KeyMaterialError(f"{path} is a symbolic link; put the real file here")
        check_private(path, st)
        master, entries = self._decode(bucket, path.read_bytes())
        with self._lock:
            self._cache[bucket] = (signature, master, entries)
            self._checked[bucket] = now
        return master, entries

    def _decode(self, bucket: str, data: bytes) -> tuple[str, dict[str, bytes]]:
        where = f"subject key bucket {self._buckets / bucket}.keys"
        if not data.startswith(_MAGIC) or len(data) < len(_MAGIC) + 1:
            raise IntegrityError(f"{where} is not a subject key file; restore it from backup")
        at = len(_MAGIC)
        end = at + 1 + data[at]
        master = data[at + 1 : end].decode("ascii", "replace")
        nonce, sealed = data[end : end + _NONCE], data[end + _NONCE :]
        try:
            key = self._master_key(master)
        except KeyMaterialError:
            self._reload()  # another process may have added (and rotated to) it
            key = self._master_key(master)
        try:
            payload = AESGCM(key).decrypt(nonce, sealed, _aad(bucket, master))
        except (InvalidTag, ValueError):
            raise IntegrityError(f"{where} failed authentication; restore it from backup") from None
        entries: dict[str, bytes] = {}
        pos = 0
        while pos < len(payload):
            size = payload[pos]
            key_id = payload[pos + 1 : pos + 1 + size].decode("ascii")
            entries[key_id] = payload[pos + 1 + size : pos + 1 + size + KEY_BYTES]
            pos += 1 + size + KEY_BYTES
        return master, entries

    # Changing (each under the key directory's exclusive lock) -----------------

    def create(self, key_ids: Iterable[str]) -> None:
        """Create a fresh random KEK for each id, durably, before any data depends on it.

        Raises:
            KeyMaterialError: a KEK of that id exists (ids are never reused).
        """
        wanted: dict[str, list[str]] = {}
        for key_id in key_ids:
            wanted.setdefault(bucket_of(key_id), []).append(key_id)
        with locked(self._dir, exclusive=True):
            self._sweep()
            # A long-running process (the server) must seal with the master key
            # active now: another process may have rotated and destroyed the one
            # it loaded. A bucket that exists is read first (its new master makes
            # _decode reload), but a new bucket file is not: sealed with the old
            # key, it would be lost with it.
            self._reload()
            for bucket, ids in wanted.items():
                _, entries = self._fresh(bucket)
                for key_id in ids:
                    if key_id in entries:
                        raise KeyMaterialError(f"subject key {key_id} exists already")
                    entries[key_id] = secrets.token_bytes(KEY_BYTES)
                self._write(bucket, entries, shred_old=False)

    def destroy(self, key_ids: Iterable[str]) -> int:
        """Destroy the KEKs of these ids (absent ones are skipped); returns how many went."""
        doomed: dict[str, set[str]] = {}
        for key_id in key_ids:
            doomed.setdefault(bucket_of(key_id), set()).add(key_id)
        gone = 0
        with locked(self._dir, exclusive=True):
            self._sweep()
            for bucket, ids in sorted(doomed.items()):
                gone += self._destroy_locked(bucket, ids)
        return gone

    def _destroy_locked(self, bucket: str, ids: set[str]) -> int:
        _, entries = self._fresh(bucket)
        present = ids & entries.keys()
        if present:
            for key_id in present:
                del entries[key_id]
            self._write(bucket, entries, shred_old=True)
        return len(present)

    def rewrap_all(self) -> int:
        """Re-encrypt every bucket under the active master key; returns the KEKs moved."""
        moved = 0
        with locked(self._dir, exclusive=True):
            self._sweep()
            self._reload()
            active = self._active_master()
            for bucket in self._bucket_names():
                master, entries = self._fresh(bucket)
                if master != active:
                    self._write(bucket, entries, shred_old=False)
                    moved += len(entries)
        return moved

    def _sweep(self) -> None:
        # Under the exclusive lock no write is under way: a temp file is what a crash
        # left, and may hold a KEK destroyed since. Shredded, not only unlinked.
        if self._buckets.is_dir():
            for name in os.listdir(self._buckets):
                if name.startswith(TMP_PREFIX):
                    shred(self._buckets / name)

    def _fresh(self, bucket: str) -> tuple[str, dict[str, bytes]]:
        # Under the exclusive lock: always check the file, another process may
        # have changed it within the recheck time.
        with self._lock:
            self._checked.pop(bucket, None)
        master, entries = self._entries(bucket)
        return master, dict(entries)

    def _write(self, bucket: str, entries: dict[str, bytes], *, shred_old: bool) -> None:
        self._buckets.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self._buckets, 0o700)
        master = self._active_master()
        payload = b"".join(
            bytes([len(k)]) + k.encode("ascii") + v for k, v in sorted(entries.items())
        )
        nonce = os.urandom(_NONCE)
        sealed = AESGCM(self._master_key(master)).encrypt(nonce, payload, _aad(bucket, master))
        data = _MAGIC + bytes([len(master)]) + master.encode("ascii") + nonce + sealed
        name = f"{bucket}.keys"
        old_fd = None
        if shred_old:
            with suppress(FileNotFoundError):
                old_fd = os.open(self._buckets / name, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            write_atomic(self._buckets, name, data)
            if old_fd is not None:
                # The replaced file still holds the destroyed KEK (encrypted under the
                # master key): overwrite its blocks through the descriptor kept open.
                size = os.fstat(old_fd).st_size
                os.pwrite(old_fd, secrets.token_bytes(max(size, 1)), 0)
                os.fsync(old_fd)
        finally:
            if old_fd is not None:
                os.close(old_fd)
        with self._lock:
            self._cache.pop(bucket, None)


class ErasureLedger:
    """The ids of erased subjects, in the order they were erased, and how far KEKs are gone."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory
        self._path = directory / LEDGER
        self._done = directory / LEDGER_DONE

    def end(self) -> int:
        """The ledger's length in bytes (what a database records as applied)."""
        try:
            return os.stat(self._path).st_size
        except FileNotFoundError:
            return 0

    def append(self, subject_ids: Sequence[str]) -> int:
        """Record erasures durably, as one line; returns the ledger's new end (call under the lock).

        Several ids make one batch line: read whole or not at all.
        """
        if not subject_ids:
            raise ValueError("no subject to record")
        for subject_id in subject_ids:
            if not _ID_RE.match(subject_id):
                raise ValueError(f"invalid subject id {subject_id!r}")
        line = _line(subject_ids)
        return append_line(self._path, lambda _fd: line)

    def since(self, offset: int) -> tuple[list[str], int]:
        """The ids recorded from byte ``offset`` on, and the end they were read to."""
        try:
            with open(self._path, "rb") as handle:
                handle.seek(offset)
                data = handle.read()
        except FileNotFoundError:
            return [], 0
        usable = data[: data.rfind(b"\n") + 1]
        ids = [subject_id for line in usable.split(b"\n") for subject_id in _ids_of(line)]
        return ids, offset + len(usable)

    def done(self) -> int:
        """The ledger offset up to which every KEK is known destroyed."""
        try:
            return int(self._done.read_text(encoding="ascii").strip() or 0)
        except (FileNotFoundError, ValueError):
            return 0

    def set_done(self, offset: int) -> None:
        """Record that KEKs are destroyed up to ``offset`` (call under the lock)."""
        write_atomic(self._dir, LEDGER_DONE, f"{offset}\n".encode("ascii"))


def _line(subject_ids: Sequence[str]) -> bytes:
    if len(subject_ids) == 1:
        return subject_ids[0].encode("ascii") + b"\n"
    body = b" ".join(subject_id.encode("ascii") for subject_id in subject_ids)
    return _BATCH + _batch_check(body) + b" " + body + b"\n"


def _batch_check(body: bytes) -> bytes:
    return hashlib.sha256(body).hexdigest()[:_BATCH_CHECK_HEX].encode("ascii")


def _ids_of(line: bytes) -> list[str]:
    """The ids one ledger line records: none for an empty, damaged or unknown line."""
    if line.startswith(_BATCH):
        check, _, body = line[len(_BATCH) :].partition(b" ")
        if not body or not hmac.compare_digest(check, _batch_check(body)):
            return []
        words = [word.decode("ascii", "replace") for word in body.split(b" ")]
        return words if all(_ID_RE.match(word) for word in words) else []
    word = line.decode("ascii", "replace")
    return [word] if line and _ID_RE.match(word) else []


def _aad(bucket: str, master: str) -> bytes:
    return _AAD + bucket.encode("ascii") + b"/" + master.encode("ascii")
