"""The hash-chained audit log: entries, the chain rule and its verification.

Storage-agnostic: a store persists :class:`AuditEntry` values (e.g. via
:meth:`AuditEntry.to_record`) in ``seq`` order; this module makes and checks them.

Each entry carries the hash of the one before it (``prev_hash``; the first
links to :data:`GENESIS_HASH`) and its own ``entry_hash``, so removing,
altering or reordering an entry breaks the chain at that point. The hash is
an **HMAC-SHA256 keyed with the key directory's audit key**, not a plain
SHA-256: with a plain hash, anyone able to write to the database could edit
an entry and recompute every hash after it, and the chain would verify.
With the key held outside the database, that rewrite needs the key too.

Honest limits: deleting the *newest* entries (truncating the tail) leaves a
valid shorter chain; pass ``last_seq`` (a high-water mark kept elsewhere:
in metrics, a second store, a printed report) to :meth:`AuditChain.verify`
to catch it. A holder of the audit key can forge anything.

Entries carry no biometric or personal values: object ids are pseudonymous,
and :func:`check_details` refuses detail values that look like personal data
or embeddings.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from facewarden.errors import IntegrityError
from facewarden.privacy._details import DetailValue, check_details
from facewarden.privacy.clock import Clock
from facewarden.privacy.freetext import SEALED_MAX, is_sealed
from facewarden.privacy.keys import KEY_BYTES, KeyRing

__all__ = [
    "GENESIS_HASH",
    "AuditChain",
    "AuditEntry",
    "DetailValue",
    "VerifyReport",
    "canonical_bytes",
    "check_details",
]

GENESIS_HASH = "0" * 64
"""The ``prev_hash`` of the first entry."""

MAX_FIELD = 128
_DOMAIN = b"facewarden/audit/v1\x00"
_TS_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"
_TS_RE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$")
_HASH_RE = re.compile(r"^[0-9a-f]{64}$")
_NO_JOINERS = str.maketrans("", "", "\u200c\u200d")
"""Drops the zero-width (non-)joiners: format characters, yet part of words typed in
Persian or Indic scripts, which an opened purpose may hold (where they may stand is
:func:`facewarden.service.names.is_typed_text`'s policy, applied when an entry is made)."""

_Problem = tuple[int, str]
"""The seq of the first bad entry and what is wrong with it."""


@dataclass(frozen=True)
class AuditEntry:
    """One audit record. Build new ones with :meth:`AuditChain.make_entry`.

    Attributes:
        seq: position in the log, from 1, without gaps.
        ts: UTC time, ISO-8601 with microseconds and ``Z``
            (``2024-05-01T12:00:00.000000Z``); never earlier than the entry before.
        actor: who acted (user or API-key id, or ``system:<job>``).
        action: what was done (``subject.read``, ``identify``, ``sightings.query``).
        object_type: kind of object acted on (``subject``, ``watchlist``); may be empty.
        object_id: pseudonymous id of that object; never a name or ID number.
        purpose: why (a case reference, a watchlist purpose); may be empty. Typed
            text, so stored sealed (:mod:`facewarden.privacy.freetext`, bound to
            this seq); the hash covers the sealed value.
        outcome: ``ok``, ``denied``, ``error`` or similar.
        details: non-personal extras: counts, watchlist id, result subject ids.
        prev_hash: ``entry_hash`` of the entry before (:data:`GENESIS_HASH` for seq 1).
        entry_hash: HMAC-SHA256 of :func:`canonical_bytes` under the audit key, hex.
    """

    seq: int
    ts: str
    actor: str
    action: str
    object_type: str
    object_id: str
    purpose: str
    outcome: str
    details: Mapping[str, DetailValue] = field(hash=False)
    prev_hash: str
    entry_hash: str

    def __post_init__(self) -> None:
        # Structure only; the content policy (check_details) is applied when an
        # entry is made, so a tampered stored entry still loads and fails verify.
        if type(self.seq) is not int or self.seq < 1:
            raise ValueError(f"seq must be an int >= 1, got {self.seq!r}")
        if not isinstance(self.ts, str) or not _TS_RE.match(self.ts):
            raise ValueError(f"ts must look like 2024-05-01T12:00:00.000000Z, got {self.ts!r}")
        for name in ("actor", "action", "object_type", "object_id", "purpose", "outcome"):
            value = getattr(self, name)
            # A sealed purpose (privacy.freetext) is longer than the text it holds.
            sealed = name == "purpose" and isinstance(value, str) and is_sealed(value)
            limit = SEALED_MAX if sealed else MAX_FIELD
            if (
                not isinstance(value, str)
                or len(value) > limit
                or not value.translate(_NO_JOINERS).isprintable()
            ):
                raise ValueError(f"{name} must be printable text of at most {MAX_FIELD} chars")
        for name in ("prev_hash", "entry_hash"):
            if not isinstance(getattr(self, name), str) or not _HASH_RE.match(getattr(self, name)):
                raise ValueError(f"{name} must be 64 lower-case hex characters")
        if not isinstance(self.details, Mapping):
            raise ValueError(f"details must be a mapping, got {type(self.details).__name__}")
        frozen = {k: tuple(v) if isinstance(v, list) else v for k, v in self.details.items()}
        object.__setattr__(self, "details", MappingProxyType(frozen))

    @property
    def time(self) -> datetime:
        """:attr:`ts` as an aware UTC datetime."""
        return datetime.strptime(self.ts, _TS_FORMAT).replace(tzinfo=UTC)

    def to_record(self) -> dict[str, Any]:
        """A JSON-ready dict of every field (details' tuples become lists)."""
        record = {f.name: getattr(self, f.name) for f in fields(self)}
        details = self.details.items()
        record["details"] = {k: list(v) if isinstance(v, tuple) else v for k, v in details}
        return record

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> AuditEntry:
        """Rebuild an entry from :meth:`to_record` output (e.g. read back from a store).

        Raises:
            IntegrityError: the record is missing fields or has malformed ones.
        """
        try:
            return cls(**dict(record))
        except (TypeError, ValueError) as exc:
            raise IntegrityError(
                f"audit entry seq {record.get('seq')!r} is malformed: {exc}"
            ) from None


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """The outcome of :meth:`AuditChain.verify`.

    Attributes:
        ok: the whole chain checked out.
        checked: how many entries verified before the first problem (all, if ok).
        first_bad_seq: the lowest seq that is tampered, missing or out of place.
        problem: what is wrong there, starting with ``tampered``, ``deleted`` or
            ``reordered``.
    """

    ok: bool
    checked: int
    first_bad_seq: int | None
    problem: str | None


def canonical_bytes(entry: AuditEntry) -> bytes:
    """The bytes the entry hash covers: every field but ``entry_hash`` as compact JSON.

    Keys sorted, no spaces, ASCII only, so any store that keeps the values
    (and their JSON types) reproduces the same bytes.
    """
    record = entry.to_record()
    del record["entry_hash"]
    text = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return text.encode("ascii")


class AuditChain:
    """Makes and verifies entries with the deployment's audit key.

    Args:
        key: the HMAC key (32 bytes), usually ``KeyRing.audit_key``.
    """

    def __init__(self, key: bytes) -> None:
        if len(key) < KEY_BYTES:
            raise ValueError(f"the audit key needs at least {KEY_BYTES} bytes")
        self._key = key

    @classmethod
    def from_keyring(cls, keyring: KeyRing) -> AuditChain:
        """The chain keyed with ``keyring.audit_key``."""
        return cls(keyring.audit_key)

    def __repr__(self) -> str:
        return "AuditChain(key=<hidden>)"

    def hash_of(self, entry: AuditEntry) -> str:
        """The ``entry_hash`` that ``entry`` should carry (hex HMAC-SHA256)."""
        return hmac.new(self._key, _DOMAIN + canonical_bytes(entry), hashlib.sha256).hexdigest()

    def make_entry(
        self,
        prev: AuditEntry | None,
        *,
        clock: Clock,
        actor: str,
        action: str,
        object_type: str = "",
        object_id: str = "",
        purpose: str = "",
        outcome: str = "ok",
        details: Mapping[str, object] | None = None,
    ) -> AuditEntry:
        """Make the entry that follows ``prev`` (``None`` for the first one).

        If the clock reads earlier than ``prev.ts`` (an NTP step back), the entry
        takes ``prev.ts``: the log's time never runs backwards, so a backwards
        step in a stored log means reordering, not a clock.

        Raises:
            ValueError: details look personal (see :func:`check_details`), a text
                field is too long, or the clock returned a naive datetime.
            IntegrityError: ``prev`` fails its own hash: verify the log first.
        """
        if prev is not None and not hmac.compare_digest(self.hash_of(prev), prev.entry_hash):
            raise IntegrityError(
                f"audit entry {prev.seq} fails its HMAC; refusing to extend a tampered log "
                "(run audit verify)"
            )
        now = clock()
        if now.tzinfo is None or now.utcoffset() is None:
            raise ValueError("the audit clock returned a naive datetime; it must be UTC-aware")
        ts = now.astimezone(UTC).strftime(_TS_FORMAT)
        if prev is not None:
            ts = max(ts, prev.ts)  # the fixed-width format sorts as text
        unsigned = AuditEntry(
            seq=1 if prev is None else prev.seq + 1,
            ts=ts,
            actor=actor,
            action=action,
            object_type=object_type,
            object_id=object_id,
            purpose=purpose,
            outcome=outcome,
            details=check_details(details or {}),
            prev_hash=GENESIS_HASH if prev is None else prev.entry_hash,
            entry_hash=GENESIS_HASH,
        )
        return replace(unsigned, entry_hash=self.hash_of(unsigned))

    def verify(
        self,
        entries: Iterable[AuditEntry],
        *,
        after: AuditEntry | None = None,
        last_seq: int | None = None,
    ) -> VerifyReport:
        """Check a log in stored order and name the first entry that is wrong.

        Streams: memory use does not grow with the log.

        Args:
            entries: the entries in the order the store keeps them.
            after: an already-verified entry the given ones continue from
                (incremental checks); ``None`` means ``entries`` start at seq 1.
            last_seq: the highest seq known to have been written, to detect a
                truncated tail.

        Returns:
            a :class:`VerifyReport`; ``first_bad_seq`` is the lowest seq that is
            tampered (hash mismatch), deleted (seq gap, or a ``prev_hash`` that
            does not link) or reordered (seq or time going backwards).
        """
        it = iter(entries)
        prev = after
        expected = 1 if after is None else after.seq + 1
        checked = 0
        for entry in it:
            found = _sequence_problem(entry, expected, it) or self._link_problem(prev, entry)
            if found is not None:
                return VerifyReport(False, checked, *found)
            prev, expected, checked = entry, expected + 1, checked + 1
        if last_seq is not None and expected <= last_seq:
            problem = (
                f"deleted: the log ends at entry {expected - 1} but {last_seq} were written "
                "(the tail was truncated)"
            )
            return VerifyReport(False, checked, expected, problem)
        return VerifyReport(ok=True, checked=checked, first_bad_seq=None, problem=None)

    def _link_problem(self, prev: AuditEntry | None, entry: AuditEntry) -> _Problem | None:
        if not hmac.compare_digest(self.hash_of(entry), entry.entry_hash):
            return entry.seq, (
                f"tampered: entry {entry.seq} does not match its HMAC (a field was changed, "
                "or its hash was recomputed without the audit key)"
            )
        if entry.prev_hash != (GENESIS_HASH if prev is None else prev.entry_hash):
            before = "the start of the log" if prev is None else f"entry {prev.seq}"
            return entry.seq, (
                f"deleted: entry {entry.seq} does not link to {before} (prev_hash mismatch): "
                "entries were removed and the chain re-linked"
            )
        if prev is not None and entry.ts < prev.ts:
            return entry.seq, (
                f"reordered: entry {entry.seq} ({entry.ts}) is older than entry {prev.seq} "
                f"({prev.ts})"
            )
        return None


def _sequence_problem(
    entry: AuditEntry, expected: int, rest: Iterator[AuditEntry]
) -> _Problem | None:
    """Classify a seq that is not the expected next one; ``rest`` may be consumed."""
    if entry.seq < expected:
        return entry.seq, f"reordered: entry {entry.seq} is stored after entry {expected - 1}"
    if entry.seq > expected:
        if any(later.seq == expected for later in rest):
            return expected, f"reordered: entry {expected} is stored after entry {entry.seq}"
        gap = str(expected) if entry.seq == expected + 1 else f"{expected}..{entry.seq - 1}"
        return expected, f"deleted: entry {gap} is missing before entry {entry.seq}"
    return None
