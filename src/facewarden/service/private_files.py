"""Private files that appear only once complete, and scratch directories that do not linger.

Backups and restores write files that must never be seen half written, and
plaintext copies that must not be left behind: :func:`created_whole` writes a
new file (0600) that takes its name only once the block ends without error
(on Linux an unnamed ``O_TMPFILE``, so even a kill leaves nothing; elsewhere a
hidden name removed on every error path), and :func:`scratch_dir` makes a
private (0700) directory that is removed on every path. One a kill left
behind is removed by :func:`sweep_scratch`: at the next call of
:func:`scratch_dir` in the same place, and whenever a deployment is opened,
backed up or purged (:class:`~facewarden.service.warden.Warden`). Such a
leftover is a copy of the database as it was, which may hold rows deleted
since (expired sightings, erased subjects' pseudonymous ids): its files are
overwritten before they are unlinked.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from facewarden.errors import ConflictError, FacewardenError

__all__ = ["created_whole", "is_taken", "scratch_dir", "sweep_scratch"]

_SCRATCH_PREFIX = ".facewarden-scratch-"
_PROC_FD = Path("/proc/self/fd")
_SCRATCH_TRIES = 8
_ZEROS = bytes(1 << 20)


@contextlib.contextmanager
def created_whole(target: Path, *, exists_hint: str) -> Iterator[BinaryIO]:
    """A private file to write, linked in as ``target`` (never replacing one) once the block ends.

    The file is fsynced before it takes its name and the directory after.
    On an error nothing is left: no ``target``, no partial file.
    ``exists_hint`` ends the message of the error raised when ``target`` exists.

    Raises:
        ConflictError: ``target`` exists (before or after the block).
        FacewardenError: the file cannot be created.
    """
    directory = target.parent
    if is_taken(target):
        raise ConflictError(f"{target} exists; {exists_hint}")
    fd, partial = _open_unnamed(directory)
    if fd < 0:
        partial = directory / f".{target.name}.partial"
        try:
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise ConflictError(
                f"{partial} exists: another process writes {target.name}, or one was killed "
                "(then remove it)"
            ) from None
        except OSError as exc:
            raise FacewardenError(f"cannot create a file in {directory}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
            try:
                if partial is None:
                    _link_unnamed(out.fileno(), target)
                else:
                    os.link(partial, target)
            except FileExistsError:
                raise ConflictError(f"{target} exists; {exists_hint}") from None
            except OSError as exc:
                raise FacewardenError(f"cannot write {target}: {exc.strerror or exc}") from None
    finally:
        if partial is not None:
            partial.unlink(missing_ok=True)
    _fsync_dir(directory)


def is_taken(target: Path) -> bool:
    """Whether ``target`` exists (a dangling link too).

    Raises:
        FacewardenError: the system will not say (a name too long, a folder on
            the way that may not be searched), with its reason.
    """
    try:
        return target.exists() or target.is_symlink()
    except OSError as exc:
        raise FacewardenError(f"cannot write {target}: {exc.strerror or exc}") from None


def _open_unnamed(directory: Path) -> tuple[int, Path | None]:
    """An ``O_TMPFILE`` descriptor in ``directory``, and None; ``(-1, None)`` where unsupported."""
    flag = getattr(os, "O_TMPFILE", 0)
    if not flag or not _PROC_FD.is_dir():
        return -1, None
    try:
        return os.open(directory, flag | os.O_WRONLY, 0o600), None
    except OSError as exc:
        if exc.errno in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
            return -1, None  # the file system has no unnamed files
        raise FacewardenError(f"cannot create a file in {directory}: {exc.strerror}") from None


def _link_unnamed(fd: int, target: Path) -> None:
    """Give the ``O_TMPFILE`` file ``fd`` the name ``target`` (``linkat`` following the link).

    A ``src_dir_fd`` makes Python call ``linkat`` (plain ``link`` would not
    follow ``/proc/self/fd/N`` to the file).
    """
    proc = os.open(_PROC_FD, os.O_RDONLY)
    try:
        os.link(str(fd), target, src_dir_fd=proc, follow_symlinks=True)
    finally:
        os.close(proc)


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def scratch_dir(parent: Path) -> Iterator[Path]:
    """A new private directory in ``parent``, removed with what it holds when the block ends.

    Each one is locked by its process (``flock``) while in use; a directory
    whose lock is free belonged to a killed process and is removed first.
    """
    sweep_scratch(parent)
    path, fd = _new_locked_dir(parent)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        os.close(fd)


def _new_locked_dir(parent: Path) -> tuple[Path, int]:
    """A new private directory in ``parent``, and a descriptor that holds its lock.

    Between its creation and its lock a directory's lock is free, so another
    process's sweep may take it for a killed one's and remove it: the lock is
    taken first, then the directory checked to be still there, or another made.

    Raises:
        FacewardenError: every directory made was taken by a sweep.
        OSError: none can be made (the caller reports it).
    """
    for _ in range(_SCRATCH_TRIES):
        path = Path(tempfile.mkdtemp(prefix=_SCRATCH_PREFIX, dir=parent))  # 0700
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            continue  # swept already
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                return path, fd
        except (BlockingIOError, FileNotFoundError):
            pass  # a sweep holds it, or removed it: it goes
        os.close(fd)
    raise FacewardenError(
        f"cannot keep a private directory in {parent}: other processes keep removing them"
    )


def sweep_scratch(parent: Path) -> int:
    """Remove the scratch directories in ``parent`` that killed processes left; how many went.

    A directory whose lock a live process holds is in use and stays. The
    files of one that goes are overwritten with zeros first (like the
    database's ``secure_delete``, this defeats reading the file system's
    freed blocks, not an SSD's remapped ones).
    """
    removed = 0
    for left in parent.glob(f"{_SCRATCH_PREFIX}*"):
        try:
            fd = os.open(left, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # in use by a live process
        else:
            _overwrite_files(left)
            shutil.rmtree(left, ignore_errors=True)
            removed += 1
        finally:
            os.close(fd)
    return removed


def _overwrite_files(directory: Path) -> None:
    for root, _, names in os.walk(directory):
        for name in names:
            try:
                fd = os.open(Path(root) / name, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except OSError:
                continue  # a link or a file gone: rmtree unlinks what is left
            try:
                size = os.fstat(fd).st_size
                for offset in range(0, size, len(_ZEROS)):
                    os.pwrite(fd, _ZEROS[: size - offset], offset)
                os.fsync(fd)
            except OSError:
                pass  # a full or failing disk: the file is unlinked all the same
            finally:
                os.close(fd)
