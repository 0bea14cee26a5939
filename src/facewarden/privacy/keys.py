"""The key ring: every secret facewarden holds, kept outside the database.

A :class:`KeyRing` is loaded from a private key directory (format and file
mechanics in :mod:`facewarden.privacy._keydir`): master keys for envelope
encryption (several during rotation), the blind-index HMAC key, the audit
HMAC key and the template-transform seed. The server refuses to start when
any of it is readable by group or others. Nothing here logs key bytes, and
``repr`` shows ids only.

Template seed rotation is two-phase because the templates live in a database
that cannot share a transaction with this directory:

1. :meth:`KeyRing.new_template_seed` writes a new seed and records it in the
   manifest as *staged*; the active seed is untouched.
2. The caller re-protects every stored template in one database transaction
   and records the new ``template_key_id`` next to them.
3. :meth:`KeyRing.commit_template_seed` makes the staged seed active and
   destroys the old one (or :meth:`KeyRing.discard_template_seed` drops it).

After a crash between 2 and 3 the staged seed is still on disk: on start the
caller compares the key id stored with its templates with
:attr:`KeyRing.template_key_id` and :attr:`KeyRing.staged_template_key_id`
and commits or discards accordingly. No state in between is unusable.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

from facewarden.errors import KeyMaterialError
from facewarden.privacy._keydir import (
    KEY_BYTES,
    MANIFEST,
    Manifest,
    State,
    check_private,
    initialise,
    load,
    locked,
    new_key_file,
    shred,
    sweep,
    write_manifest,
)

__all__ = ["KEY_BYTES", "KeyRing"]

_INIT_HINT = "initialise it with `facewarden keys init` (KeyRing.open(path, create=True))"


class KeyRing:
    """The keys of one deployment, loaded from a private directory.

    Build it with :meth:`open`. Long-running processes see changes made by
    another process (a CLI rotation, say) only after :meth:`reload`.
    """

    def __init__(self, path: Path, state: State) -> None:
        self._path = path
        self._state = state

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, create: bool = False) -> KeyRing:
        """Load the key directory at ``path``, creating it first if asked.

        Args:
            path: the key directory; keep it outside the database and the repository.
            create: create and initialise the directory (mode 0700, fresh random
                keys) when it does not exist or is empty; an initialised
                directory is opened as it is.

        Raises:
            KeyMaterialError: the directory is missing (and ``create`` is false),
                it or a file in it is accessible by group or others (the message
                names the ``chmod`` that fixes it), or a key file is corrupt.
        """
        directory = Path(path)
        if not directory.exists():
            if not create:
                raise KeyMaterialError(f"key directory {directory} does not exist; {_INIT_HINT}")
            directory.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            os.mkdir(directory, 0o700)
            os.chmod(directory, 0o700)  # mkdir's mode is filtered by the umask
        st = os.stat(directory)
        if not stat.S_ISDIR(st.st_mode):
            raise KeyMaterialError(
                f"{directory} is not a directory; point the key directory elsewhere"
            )
        check_private(directory, st)
        if not (directory / MANIFEST).exists():
            if not create:
                raise KeyMaterialError(f"{directory} holds no {MANIFEST}; {_INIT_HINT}")
            with locked(directory, exclusive=True):
                if not (directory / MANIFEST).exists():
                    initialise(directory)
        with locked(directory, exclusive=False):
            return cls(directory, load(directory))

    def reload(self) -> None:
        """Re-read the directory, picking up changes made by other processes."""
        with locked(self._path, exclusive=False):
            self._state = load(self._path)

    def __repr__(self) -> str:
        return (
            f"KeyRing({str(self._path)!r}, active_master_id={self.active_master_id!r}, "
            f"masters={len(self._state.masters)})"
        )

    @property
    def path(self) -> Path:
        """The key directory."""
        return self._path

    @property
    def active_master_id(self) -> str:
        """Id (``mk-<8 hex>``) of the master key that wraps new data keys."""
        return self._state.manifest.active_master

    @property
    def master_key_ids(self) -> tuple[str, ...]:
        """Ids of every master key present, sorted; more than one during rotation."""
        return tuple(sorted(self._state.masters))

    def master_key(self, key_id: str) -> bytes:
        """The 32 bytes of master key ``key_id``.

        Raises:
            KeyMaterialError: no such key (never created, or destroyed).
        """
        try:
            return self._state.masters[key_id]
        except KeyError:
            raise KeyMaterialError(
                f"master key {key_id!r} is not in {self._path} (destroyed, or never created "
                "here); data keys wrapped with it can no longer be unwrapped"
            ) from None

    @property
    def blind_index_key(self) -> bytes:
        """HMAC key of the blind index."""
        return self._state.blind_index

    @property
    def audit_key(self) -> bytes:
        """HMAC key of the audit chain; without it nobody can re-forge the chain."""
        return self._state.audit

    @property
    def template_key_id(self) -> str:
        """Id (``tk-<8 hex>``) of the active template-transform seed."""
        return self._state.manifest.template_key

    @property
    def template_seed(self) -> bytes:
        """The active template-transform seed."""
        return self._state.templates[self.template_key_id]

    @property
    def staged_template_key_id(self) -> str | None:
        """Id of the seed staged by :meth:`new_template_seed`, or ``None``."""
        return self._state.manifest.staged_template

    @property
    def staged_template_seed(self) -> bytes | None:
        """The staged seed, or ``None`` when nothing is staged."""
        staged = self.staged_template_key_id
        return None if staged is None else self._state.templates[staged]

    def add_master_key(self) -> str:
        """Create a new master key, make it active and return its id.

        Older master keys stay until :meth:`destroy_master_key`, so data keys
        they wrap remain readable until they are re-wrapped.
        """
        with self._change() as state:
            key_id = new_key_file(self._path, "mk")
            write_manifest(self._path, replace(state.manifest, active_master=key_id))
        return key_id

    def destroy_master_key(self, key_id: str) -> None:
        """Overwrite and delete master key ``key_id``.

        Overwriting defeats casual recovery only: on SSDs and copy-on-write
        filesystems old blocks may survive, and backups keep their copies.

        Raises:
            KeyMaterialError: ``key_id`` is the active key, or does not exist.
        """
        with self._change() as state:
            if key_id == state.manifest.active_master:
                raise KeyMaterialError(
                    f"refusing to destroy {key_id}: it is the active master key; "
                    "add a new one and re-wrap data keys first"
                )
            if key_id not in state.masters:
                raise KeyMaterialError(f"master key {key_id!r} is not in {self._path}")
            shred(self._path / f"{key_id}.key")

    def new_template_seed(self) -> str:
        """Stage a new template-transform seed and return its id.

        The active seed stays active until :meth:`commit_template_seed`.

        Raises:
            KeyMaterialError: a seed is already staged (commit or discard it first).
        """
        with self._change() as state:
            if state.manifest.staged_template is not None:
                raise KeyMaterialError(
                    f"template seed {state.manifest.staged_template} is already staged; "
                    "commit or discard it first"
                )
            key_id = new_key_file(self._path, "tk")
            write_manifest(self._path, replace(state.manifest, staged_template=key_id))
        return key_id

    def commit_template_seed(self, key_id: str | None = None) -> None:
        """Make the staged seed active and destroy the old one.

        Call it only after every stored template was re-protected with the
        staged seed.

        Args:
            key_id: if given, the id the caller expects to be staged; guards a
                crash-recovery path against committing the wrong seed.

        Raises:
            KeyMaterialError: nothing is staged, or a different seed is staged.
        """
        with self._change() as state:
            staged = state.manifest.staged_template
            if staged is None or (key_id is not None and key_id != staged):
                raise KeyMaterialError(
                    f"cannot commit template seed {key_id or '(staged)'}: staged is {staged}"
                )
            old = state.manifest.template_key
            write_manifest(self._path, Manifest(state.manifest.active_master, staged))
            shred(self._path / f"{old}.key")

    def discard_template_seed(self) -> None:
        """Drop the staged seed, if any; the active seed stays. Idempotent."""
        with self._change() as state:
            staged = state.manifest.staged_template
            if staged is not None:
                write_manifest(self._path, replace(state.manifest, staged_template=None))
                shred(self._path / f"{staged}.key")

    @contextmanager
    def _change(self) -> Iterator[State]:
        # Re-read under the exclusive lock so a change made meanwhile by another
        # process is built upon, not overwritten.
        with locked(self._path, exclusive=True):
            state = load(self._path)
            sweep(self._path, state)
            yield state
            self._state = load(self._path)
