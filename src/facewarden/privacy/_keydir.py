"""The key directory on disk: its layout, private modes, atomic writes, locks.

Private to :mod:`facewarden.privacy.keys`, which holds the rules (what may be
rotated or destroyed, and when); this module holds the format and the POSIX
mechanics behind them. Layout (one flat directory, mode 0700; files 0600)::

    manifest.json     which master key and template seed are active / staged
    mk-<8 hex>.key    master keys, 32 raw bytes each; several during rotation
    tk-<8 hex>.key    template-transform seeds, 32 raw bytes each
    blind-index.key   HMAC key of the blind index (exact ID-number lookup)
    audit.key         HMAC key of the audit hash chain
    .lock             flock(2) target that serialises changes between processes

Every write goes to a ``.tmp-*`` file created with ``O_CREAT | O_EXCL`` and
mode 0600 (key bytes are never world-readable, not even for a moment), is
fsynced, renamed over its final name with :func:`os.replace`, and the
directory is fsynced. The manifest is always written *last*, so a crash
leaves the old state or the new one, plus at most an unreferenced file that
:func:`sweep` removes during the next change.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import secrets
import shlex
import stat
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from facewarden.errors import KeyMaterialError

KEY_BYTES = 32
MANIFEST = "manifest.json"
_FORMAT = 1
_BLIND_INDEX = "blind-index.key"
_AUDIT = "audit.key"
_MASTER_RE = re.compile(r"^mk-[0-9a-f]{8}$")
_TEMPLATE_RE = re.compile(r"^tk-[0-9a-f]{8}$")
_KEY_FILE_RE = re.compile(r"^(mk|tk)-[0-9a-f]{8}\.key$")
TMP_PREFIX = ".tmp-"
LOCK_NAME = ".lock"


@dataclass(frozen=True)
class Manifest:
    """What ``manifest.json`` says: which keys are active or staged."""

    active_master: str
    template_key: str
    staged_template: str | None = None


@dataclass(frozen=True)
class State:
    """Everything loaded from the directory at one moment."""

    manifest: Manifest
    masters: dict[str, bytes]
    templates: dict[str, bytes]
    blind_index: bytes
    audit: bytes


def check_private(path: Path, st: os.stat_result) -> None:
    """Refuse ``path`` if group or others have any access to it."""
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        wanted = "700" if stat.S_ISDIR(st.st_mode) else "600"
        raise KeyMaterialError(
            f"{path} is accessible by group or others (mode {mode:04o}); refusing to use "
            f"key material others could read or replace. Fix it with "
            f"`chmod {wanted} {shlex.quote(str(path))}`"
        )


def read_key(path: Path, size: int) -> bytes:
    """Read a key file that must hold exactly ``size`` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        raise KeyMaterialError(f"key file {path} is missing; restore it from backup") from None
    try:
        data = os.read(fd, size + 1)  # one byte more tells "too long" from "exact"
    finally:
        os.close(fd)
    if len(data) != size:
        held = f"{size}+" if len(data) > size else str(len(data))
        raise KeyMaterialError(
            f"key file {path} is corrupt: it holds {held} bytes, a key is exactly {size}; "
            "restore it from backup"
        )
    return data


def write_atomic(directory: Path, name: str, data: bytes) -> None:
    """Write ``directory/name`` so that a crash leaves the old file or the new one.

    The temp file is created with ``O_EXCL`` and mode 0600 from its first
    moment, fsynced, renamed into place, and the directory is fsynced so the
    rename itself survives a power cut.
    """
    tmp = directory / f"{TMP_PREFIX}{secrets.token_hex(8)}"
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(tmp, flags, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)  # the umask can only have narrowed it; make it exact
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, directory / name)
    except BaseException:
        with suppress(OSError):
            os.unlink(tmp)
        raise
    fsync_dir(directory)


def shred(path: Path) -> None:
    """Overwrite a key file with random bytes, fsync, then unlink it.

    This defeats casual recovery only: SSDs and copy-on-write filesystems may
    keep old blocks, and backups keep their own copies.
    """
    fd = os.open(path, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    try:
        size = os.fstat(fd).st_size
        os.write(fd, secrets.token_bytes(max(size, 1)))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.unlink(path)
    fsync_dir(path.parent)


def fsync_dir(directory: Path) -> None:
    """Make renames and unlinks in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_TAIL_CHUNK = 64 * 1024


def append_line(path: Path, line_after: Callable[[int], bytes]) -> int:
    """Append one line to a private append-only ledger durably; returns its new end.

    A last line torn by a crash is cut off first, so ``line_after`` (given the
    open descriptor, to read what is there when the line depends on it, such as
    a chained MAC) sees whole lines only. The line is written in full (a short
    write is finished, not left torn) and fsynced; a new file's directory too.
    The caller holds whatever lock serialises writers.
    """
    flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_NOFOLLOW | os.O_CLOEXEC
    created = not path.exists()
    fd = os.open(path, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            os.ftruncate(fd, _whole_lines_end(fd, size))
        line = line_after(fd)
        written = 0
        while written < len(line):
            written += os.write(fd, line[written:])
        os.fsync(fd)
        end = os.fstat(fd).st_size
    finally:
        os.close(fd)
    if created:
        fsync_dir(path.parent)
    return end


def _whole_lines_end(fd: int, size: int) -> int:
    """Where the last whole line ends (a line may be longer than one read)."""
    end = size
    while end > 0:
        start = max(0, end - _TAIL_CHUNK)
        cut = os.pread(fd, end - start, start).rfind(b"\n")
        if cut >= 0:
            return start + cut + 1
        end = start
    return 0


@contextmanager
def locked(directory: Path, *, exclusive: bool) -> Iterator[None]:
    """Hold ``flock(2)`` on the directory's lock file: shared to read, exclusive to change."""
    flags = os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(directory / LOCK_NAME, flags, 0o600)
    except OSError as exc:
        if exclusive:
            raise KeyMaterialError(
                f"cannot lock {directory} to change it: {exc.strerror}"
            ) from None
        yield  # a read-only mount: nobody can change it under us either
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def initialise(directory: Path) -> None:
    """Fill an empty directory with fresh random keys; the manifest comes last."""
    entries = [name for name in os.listdir(directory) if name != LOCK_NAME]
    ours = {_BLIND_INDEX, _AUDIT}
    if any(not (_KEY_FILE_RE.match(n) or n in ours or n.startswith(TMP_PREFIX)) for n in entries):
        raise KeyMaterialError(
            f"{directory} is not empty and holds no {MANIFEST}; refusing to initialise "
            "over unknown files (use an empty directory)"
        )
    # Only our own names are left: an earlier init crashed before its manifest
    # was written, so no data can have been protected with these keys.
    for name in entries:
        os.unlink(directory / name)
    master, template = fresh_id(directory, "mk"), fresh_id(directory, "tk")
    for name in (f"{master}.key", f"{template}.key", _BLIND_INDEX, _AUDIT):
        write_atomic(directory, name, secrets.token_bytes(KEY_BYTES))
    write_manifest(directory, Manifest(master, template))


def load(directory: Path) -> State:
    """Check every mode and read every key the manifest names (plus all master keys)."""
    check_private(directory, os.stat(directory))
    masters: dict[str, bytes] = {}
    for name in sorted(os.listdir(directory)):
        path = directory / name
        st = os.lstat(path)
        if stat.S_ISLNK(st.st_mode):
            # A link could point anywhere, around the mode checks made here.
            raise KeyMaterialError(f"{path} is a symbolic link; put the real file here")
        check_private(path, st)
        if name.startswith("mk-") and _KEY_FILE_RE.match(name):
            masters[name.removesuffix(".key")] = read_key(path, KEY_BYTES)
    manifest_path = directory / MANIFEST
    try:
        raw = json.loads(manifest_path.read_bytes())
        fmt, active, template = raw["format"], raw["active_master_key"], raw["template_key"]
        staged = raw["staged_template_key"]
    except (OSError, ValueError, TypeError, KeyError) as exc:
        raise KeyMaterialError(f"{manifest_path} is unreadable or corrupt ({exc!r})") from None
    if fmt != _FORMAT:
        raise KeyMaterialError(f"{manifest_path} has format {fmt!r}; this version reads {_FORMAT}")
    if not (isinstance(active, str) and _MASTER_RE.match(active)) or active not in masters:
        raise KeyMaterialError(
            f"{manifest_path} names active master key {active!r}, which is missing"
        )
    templates: dict[str, bytes] = {}
    for key_id in (template,) if staged is None else (template, staged):
        if not (isinstance(key_id, str) and _TEMPLATE_RE.match(key_id)):
            raise KeyMaterialError(f"{manifest_path} names an invalid template key {key_id!r}")
        templates[key_id] = read_key(directory / f"{key_id}.key", KEY_BYTES)
    return State(
        manifest=Manifest(active, template, staged),
        masters=masters,
        templates=templates,
        blind_index=read_key(directory / _BLIND_INDEX, KEY_BYTES),
        audit=read_key(directory / _AUDIT, KEY_BYTES),
    )


def write_manifest(directory: Path, manifest: Manifest) -> None:
    """Atomically replace ``manifest.json``: the commit point of every change."""
    raw = {
        "format": _FORMAT,
        "active_master_key": manifest.active_master,
        "template_key": manifest.template_key,
        "staged_template_key": manifest.staged_template,
    }
    write_atomic(directory, MANIFEST, json.dumps(raw, indent=2).encode() + b"\n")


def sweep(directory: Path, state: State) -> None:
    """Remove what interrupted changes left behind (call under the exclusive lock)."""
    # Leftovers of interrupted changes: temp files and seeds the manifest no
    # longer (or never) named. Master keys are kept: an unreferenced one is
    # still a valid key, and destroying keys is only done on request.
    referenced = {f"{state.manifest.template_key}.key", f"{state.manifest.staged_template}.key"}
    for name in os.listdir(directory):
        if name.startswith(TMP_PREFIX):
            os.unlink(directory / name)
        elif name.startswith("tk-") and _KEY_FILE_RE.match(name) and name not in referenced:
            shred(directory / name)


def new_key_file(directory: Path, prefix: str) -> str:
    """Write a fresh random key under an unused ``<prefix>-<8 hex>`` id and return the id."""
    key_id = fresh_id(directory, prefix)
    write_atomic(directory, f"{key_id}.key", secrets.token_bytes(KEY_BYTES))
    return key_id


def fresh_id(directory: Path, prefix: str) -> str:
    """An id of the form ``<prefix>-<8 hex>`` not used in ``directory``."""
    while True:
        key_id = f"{prefix}-{secrets.token_hex(4)}"
        if not (directory / f"{key_id}.key").exists():
            return key_id
