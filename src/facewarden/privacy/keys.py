"""The key ring: every secret facewarden holds, kept outside the database.

A :class:`KeyRing` is loaded from a private key directory (format and file
mechanics in :mod:`facewarden.privacy._keydir`): master keys for envelope
encryption (several during rotation), the blind-index HMAC key, the audit
HMAC key and the template-transform seed; plus one key-encryption key (KEK)
per enrolled subject and the erasure ledger (:mod:`facewarden.privacy._subjectkeys`);
and the revocation ledger (:mod:`facewarden.privacy.revocations`).

Erasure is cryptographic: a subject's data key is wrapped by its own KEK
(id ``sk-<subject id>``), which lives only here, encrypted under the master
key. Destroying the KEK (:meth:`KeyRing.destroy_erased_keys`) leaves every
copy of the subject's wrapped data key, in dead rows, WAL or an earlier
backup, undecryptable with whatever keys remain. The ledger records each
erased subject's pseudonymous id first, so that an interrupted erasure is
completed and a database restored from a backup has the erasures made
since re-applied (:mod:`facewarden.service.erasure`). The server refuses to start when
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
from collections.abc import Iterator, Sequence
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
from facewarden.privacy._nocore import forbid_core_dumps
from facewarden.privacy._subjectkeys import (
    KEK_PREFIX,
    ErasureLedger,
    SubjectKeyStore,
    kek_id,
)
from facewarden.privacy.revocations import RevocationLedger
from facewarden.privacy.suppressions import ImportSuppressions

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
        self._subject_keys = SubjectKeyStore(
            path, self._master_only, lambda: self.active_master_id, self._reload_unlocked
        )
        self._ledger = ErasureLedger(path)
        self._revocations = RevocationLedger(path, state.audit)
        self._suppressions = ImportSuppressions(path)

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, create: bool = False) -> KeyRing:
        """Load the key directory at ``path``, creating it first if asked.

        Args:
            path: the key directory; keep it outside the database and the repository.
            create: create and initialise the directory (mode 0700, fresh random
                keys) when it does not exist or is empty; an initialised
                directory is opened as it is.

        From then on the process writes no core dump (its memory would hold
        the keys; see :mod:`facewarden.privacy._nocore`).

        Raises:
            KeyMaterialError: the directory is missing (and ``create`` is false),
                it or a file in it is accessible by group or others (the message
                names the ``chmod`` that fixes it), or a key file is corrupt.
        """
        forbid_core_dumps()  # before any key is read into memory
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

    def _reload_unlocked(self) -> None:
        # For the subject key store, which may already hold the directory's lock:
        # flock(2) locks taken twice by one process through two descriptors block
        # each other. Files are replaced atomically and the manifest last, so an
        # unlocked read sees a whole old or new state.
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
        """The 32 bytes of wrapping key ``key_id``: a master key, or a subject's KEK (``sk-``).

        Raises:
            KeyMaterialError: no such key (never created, or destroyed: for a
                subject's KEK, the subject was erased).
        """
        if key_id.startswith(KEK_PREFIX):
            kek = self._subject_keys.get(key_id)
            if kek is None:
                raise KeyMaterialError(
                    f"subject key {key_id!r} is not in {self._path}: the subject was erased "
                    "(its key destroyed), or it was never created here"
                )
            return kek
        return self._master_only(key_id)

    def _master_only(self, key_id: str) -> bytes:
        key = self._state.masters.get(key_id)
        if key is None:
            # Another process (`keys rotate` next to a server) may have added it
            # and re-wrapped data keys with it. Read without the directory's lock
            # (the subject key store may hold it): files are replaced atomically.
            self._reload_unlocked()
            key = self._state.masters.get(key_id)
        if key is not None:
            return key
        raise KeyMaterialError(
            f"master key {key_id!r} is not in {self._path} (destroyed, or never created "
            "here); data keys wrapped with it can no longer be unwrapped"
        )

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

    def new_subject_keys(self, subject_ids: list[str]) -> list[str]:
        """Create (durably, before any data depends on them) a KEK per subject; their ids.

        Raises:
            KeyMaterialError: a subject already has one (subject ids are never reused).
        """
        ids = [kek_id(s) for s in subject_ids]
        self._subject_keys.create(ids)
        return ids

    @staticmethod
    def subject_key_id(subject_id: str) -> str:
        """The id of a subject's KEK (``sk-<subject id>``), as wrapped data keys name it."""
        return kek_id(subject_id)

    def has_subject_key(self, subject_id: str) -> bool:
        """Whether the subject's KEK is here (False: never made, or destroyed by erasure)."""
        return self._subject_keys.get(kek_id(subject_id)) is not None

    def destroy_subject_keys(self, subject_ids: list[str]) -> int:
        """Destroy the KEKs of these subjects (absent ones skipped); returns how many went."""
        return self._subject_keys.destroy(kek_id(s) for s in subject_ids)

    def subject_key_usage(self) -> dict[str, int]:
        """How many subject KEKs each master key encrypts."""
        return dict(self._subject_keys.usage())

    def rewrap_subject_keys(self) -> int:
        """Re-encrypt every subject KEK under the active master key; returns how many moved."""
        return self._subject_keys.rewrap_all()

    def record_erasure(self, subject_id: str) -> int:
        """Append a subject's id to the erasure ledger (fsynced); returns the ledger's end.

        Call it inside the database transaction that deletes the subject,
        before it commits: a crash after this line and before the commit is
        completed at the next open (the subject is erased then).
        """
        return self.record_erasures([subject_id])

    def record_erasures(self, subject_ids: Sequence[str]) -> int:
        """Append subjects erased in one transaction as one ledger record; returns its end.

        The record is whole or absent after any crash: the next open erases
        all of them or none. Call it last before the transaction commits.
        """
        with locked(self._path, exclusive=True):
            return self._ledger.append(subject_ids)

    @property
    def revocations(self) -> RevocationLedger:
        """The revocation ledger: access withdrawn, re-applied to a restored database."""
        return self._revocations

    @property
    def import_suppressions(self) -> ImportSuppressions:
        """Tokens of erased people's import sources: a re-run import skips them."""
        return self._suppressions

    @property
    def erasure_ledger_end(self) -> int:
        """The erasure ledger's length in bytes."""
        return self._ledger.end()

    def erasures_since(self, offset: int) -> tuple[list[str], int]:
        """Subject ids the ledger records from byte ``offset`` on, and the offset read to.

        An offset past the end (a ledger older than the database) reads it all.
        """
        if offset > self._ledger.end():
            offset = 0
        return self._ledger.since(offset)

    def destroy_erased_keys(self) -> int:
        """Destroy the KEK of every subject in the ledger whose KEK may remain; idempotent.

        Returns how many KEKs were destroyed (0 when every erasure was complete).
        """
        done = self._ledger.done()
        if done > self._ledger.end():
            done = 0
        ids, end = self._ledger.since(done)
        if not ids:
            return 0
        gone = self.destroy_subject_keys(ids)
        with locked(self._path, exclusive=True):
            if self._ledger.done() < end:
                self._ledger.set_done(end)
        return gone

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
