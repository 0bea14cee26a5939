"""The audit log's signed head, kept in the key directory: wipe, truncation and rollback show.

The hash chain (:mod:`facewarden.privacy.audit`) proves that stored entries
were not altered, removed from the middle or reordered; but the newest
entries, or all of them, can be cut off and the shorter log still links,
and a database restored from an older backup is a valid older log. So the
head of the chain, ``(seq, entry_hash)`` of an entry known to have been
committed, is also written *outside the database*, into the key directory
(``audit-anchor.json``), MACed with the audit key (its own domain), and
moved forward after every commit that appended entries. Verification then
asks: does the log still hold entry ``seq`` with exactly that hash?

* wiped: the log is empty, the anchor names entry ``seq`` > 0;
* truncated: the log ends before ``seq``;
* rolled back or rewritten: entry ``seq`` exists but has another hash.

Ordering makes it sound without locking the database: the anchor is
written only *after* the commit (a rolled-back transaction never moves it)
and only forward (never to a lower seq), and a verifier reads the anchor
*before* it takes its database snapshot, so the snapshot always holds at
least what the anchor names: no false alarm under concurrent appends.

Cost and lag: writing the anchor is one small atomic file write (temp file,
fsync, rename, fsync of the directory) after each committing request.
Threads of one process that commit meanwhile are folded into one write
(group commit: whoever writes takes the newest head known). The anchor may
lag the log only by commits still in flight, or by those of a process that
crashed between its commit and its anchor write; entries beyond the anchor
are accepted, the anchor being a lower bound. A truncation that removes only
such entries is not seen by this check (the database's own MACed head still
sees a plain truncation).

Several processes sharing one key directory (a CLI beside the server)
serialise anchor writes with ``flock(2)`` on ``audit-anchor.lock``. Several
hosts sharing one PostgreSQL each keep their own key directory and so their
own anchor: each detects a rollback below the newest head *it* committed.
Honest limits: whoever holds the audit key can forge an anchor; whoever can
replace the key directory with an older copy of it, together with the
database, rolls both back undetected; a key directory on a network
filesystem whose ``flock`` is not honoured may lose an anchor update (never
gain a wrong one: each write is still atomic and MACed).
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import logging
import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from facewarden.errors import IntegrityError
from facewarden.privacy._keydir import write_atomic

__all__ = ["ANCHOR_NAME", "Anchor", "HeadAnchor"]

logger = logging.getLogger(__name__)

ANCHOR_NAME = "audit-anchor.json"
_LOCK_NAME = "audit-anchor.lock"
_FORMAT = 1
_DOMAIN = b"facewarden/audit-anchor/v1\x00"
_HASH_RE = re.compile(r"^[0-9a-f]{64}$")
_SLOT = 256  # bytes per slot; two slots, written alternately


@dataclass(frozen=True, slots=True)
class Anchor:
    """A committed head of the audit chain: entry ``seq`` had hash ``entry_hash``."""

    seq: int
    entry_hash: str


class HeadAnchor:
    """Reads and advances the signed head in one directory (the key directory).

    Thread-safe. :meth:`note` records a head once its transaction committed;
    :meth:`flush` writes the newest noted head, if newer than the file's.

    Args:
        directory: where ``audit-anchor.json`` lives (the key directory).
        key: the MAC key (the audit key; a separate domain keeps it apart
            from the chain's own hashes).
    """

    def __init__(self, directory: Path, key: bytes) -> None:
        self._dir = directory
        self._key = key
        self._write_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._noted: Anchor | None = None
        self._written = 0

    def __repr__(self) -> str:
        return f"HeadAnchor({str(self._dir / ANCHOR_NAME)!r})"

    @property
    def path(self) -> Path:
        """The anchor file."""
        return self._dir / ANCHOR_NAME

    def read(self) -> Anchor | None:
        """The anchor on disk (the newer valid slot), or None when there is none yet.

        Raises:
            IntegrityError: the file is unreadable, or no slot holds a valid,
                MACed head (altered, or replaced by someone without the key).
        """
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise IntegrityError(
                f"the signed audit head {self.path} is unreadable: {exc.strerror}"
            ) from None
        try:
            raw = os.pread(fd, 2 * _SLOT, 0)
        finally:
            os.close(fd)
        slots = [self._parse(raw[i * _SLOT : (i + 1) * _SLOT]) for i in range(2)]
        valid = [a for a in slots if a is not None]
        if not valid:
            raise IntegrityError(
                f"the signed audit head {self.path} fails its MAC: it was altered or "
                "replaced by someone without the audit key"
            )
        return max(valid, key=lambda a: a.seq)

    def _parse(self, slot: bytes) -> Anchor | None:
        try:
            data = json.loads(slot.rstrip(b"\0 \n"))
            fmt, seq, entry_hash, mac = data["format"], data["seq"], data["entry_hash"], data["mac"]
        except (ValueError, TypeError, KeyError):
            return None  # empty, torn by a crash mid-write, or garbage
        valid = (
            fmt == _FORMAT
            and type(seq) is int
            and seq >= 1
            and isinstance(entry_hash, str)
            and _HASH_RE.match(entry_hash)
            and isinstance(mac, str)
            and hmac.compare_digest(self._mac(seq, entry_hash), mac)
        )
        return Anchor(seq, entry_hash) if valid else None

    def note(self, seq: int, entry_hash: str) -> None:
        """Record that entry ``seq`` (hash ``entry_hash``) is committed; call after the commit."""
        with self._state_lock:
            if self._noted is None or seq > self._noted.seq:
                self._noted = Anchor(seq, entry_hash)

    def flush(self, confirm: Callable[[Anchor], bool]) -> bool:
        """Write the newest noted head, unless the file already holds it or a newer one.

        Args:
            confirm: asked, before the anchor moves past the one on disk, whether
                the log still holds that anchor's entry with its hash; if not
                (a rollback or rewrite), the file is left as evidence.

        Returns:
            whether the file was written.
        """
        with self._write_lock:
            with self._state_lock:
                target = self._noted
            if target is None or target.seq <= self._written:
                return False
            with self._locked():
                try:
                    current = self.read()
                except IntegrityError as exc:
                    logger.error("not moving the signed audit head: %s", exc.message)
                    return False
                if current is not None and current.seq >= target.seq:
                    self._written = current.seq
                    return False
                if current is not None and not confirm(current):
                    logger.error(
                        "not moving the signed audit head past entry %d: the log no longer "
                        "holds that entry as signed (rolled back or rewritten); run "
                        "`facewarden audit verify`",
                        current.seq,
                    )
                    return False
                return self._write(target)

    def replace(self, anchor: Anchor) -> bool:
        """Write ``anchor`` even below the file's (re-anchoring after a deliberate restore)."""
        with self._write_lock, self._locked():
            with self._state_lock:
                self._noted = anchor
            self._written = 0
            return self._write(anchor)

    def _write(self, target: Anchor) -> bool:
        body = {
            "format": _FORMAT,
            "seq": target.seq,
            "entry_hash": target.entry_hash,
            "mac": self._mac(target.seq, target.entry_hash),
        }
        slot = json.dumps(body).encode("ascii").ljust(_SLOT - 1) + b"\n"
        try:
            self._create()
            fd = os.open(self.path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
            try:
                # Overwrite the older (or invalid) slot: a crash that tears this
                # write leaves the other slot, the previous anchor, intact.
                raw = os.pread(fd, 2 * _SLOT, 0)
                held = [self._parse(raw[i * _SLOT : (i + 1) * _SLOT]) for i in range(2)]
                seqs = [0 if a is None else a.seq for a in held]
                older = seqs.index(min(seqs))
                if target.seq < max(seqs):
                    # Re-anchoring backwards: both slots must name the new head.
                    os.pwrite(fd, slot, (1 - older) * _SLOT)
                os.pwrite(fd, slot, older * _SLOT)
                os.fdatasync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            # The commit stands; the anchor lags until a later write succeeds.
            logger.error("cannot write the signed audit head %s: %s", self.path, exc.strerror)
            return False
        self._written = target.seq
        return True

    def _create(self) -> None:
        if self.path.exists():
            return
        # Made complete (two empty slots, fsynced, renamed in) before any slot is
        # written, so a crash never leaves a short file.
        write_atomic(self._dir, ANCHOR_NAME, b"\0" * (2 * _SLOT))

    def _mac(self, seq: int, entry_hash: str) -> str:
        message = _DOMAIN + f"{seq}:{entry_hash}".encode("ascii")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    @contextmanager
    def _locked(self) -> Iterator[None]:
        # Its own lock file: anchor writes (after every commit) must not contend
        # with the key ring's lock, which key rotation holds.
        flags = os.O_RDONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(self._dir / _LOCK_NAME, flags, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)
