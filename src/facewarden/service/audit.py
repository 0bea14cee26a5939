"""The audit service: append entries inside the caller's transaction, list and verify them.

Every read or write of personal data appends an entry in the same
transaction as the change it records, so neither exists without the other.
Entries name pseudonymous ids only.

Besides the chain itself the store keeps an *audit head*: the last entry's
seq and hash, MACed with the audit key, written in the same transaction. And
outside the database, in the key directory, a *signed head*
(:mod:`facewarden.privacy.anchor`) follows each commit, so that a log wiped,
cut short or rolled back to an older copy (head row included) is detected
by :meth:`AuditLog.verify` without any flag. Verification reads that anchor
first and then the head and the entries from one database snapshot, so
requests appending meanwhile never make it cry wolf.

Text a person typed (the purpose, a note) is sealed before it enters an
entry (:mod:`facewarden.privacy.freetext`), so the chain hashes ciphertext:
verification needs no decryption. :meth:`AuditLog.entries` hands entries
out opened; an adapter serving a role that sees no names (the auditor)
passes them through :meth:`AuditLog.redacted`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace

from facewarden.errors import IntegrityError, InvalidInputError
from facewarden.privacy.anchor import Anchor
from facewarden.privacy.audit import MAX_FIELD, AuditEntry, VerifyReport
from facewarden.service.context import Context
from facewarden.service.names import is_typed_text
from facewarden.service.purposes import NONE_GIVEN
from facewarden.service.records import invalid_input
from facewarden.store.base import Transaction

__all__ = [
    "DAMAGED",
    "HEAD_KEY",
    "NOTE",
    "REDACTED",
    "AuditLog",
    "AuditVerification",
    "check_text",
    "readable_entry",
]

HEAD_KEY = "audit_head"
NOTE = "note"
"""The details key of an entry's typed note (stored sealed)."""
NOTE_MAX = 500
"""The longest note, in characters."""
REDACTED = "(typed text: shown to admins only)"
"""What a role that sees no names gets in place of typed text."""
DAMAGED = "(sealed text fails authentication: run audit verify)"
"""What is shown for sealed text that no longer opens (altered in the database)."""
_TABLE = "audit_log"
_HEAD_DOMAIN = b"facewarden/audit-head/v1\x00"


@dataclass(frozen=True)
class AuditVerification:
    """The outcome of :meth:`AuditLog.verify`.

    Attributes:
        report: the chain check; ``report.problem`` names the first bad entry.
        head_seq: the seq of the last entry as recorded by the MACed head.
        head_hash: that entry's hash (the signed head in the key directory
            keeps the same pair, to detect a rollback).
    """

    report: VerifyReport
    head_seq: int | None
    head_hash: str | None

    @property
    def ok(self) -> bool:
        """The whole log verified."""
        return self.report.ok


def check_text(label: str, value: str, limit: int = MAX_FIELD) -> str:
    """A short printable text for an audit field (an actor, a purpose), stripped.

    Raises:
        ConfigError: not printable, or longer than ``limit``.
    """
    value = value.strip()
    if len(value) > limit or not is_typed_text(value):
        raise invalid_input(f"{label} must be printable text of at most {limit} characters")
    return value


class AuditLog:
    """Append, list and verify audit entries for one actor."""

    def __init__(self, ctx: Context, actor: str) -> None:
        self._ctx = ctx
        self._actor = check_text("actor", actor)
        if not self._actor:
            raise invalid_input("an actor is required: who acts, for the audit log")

    @property
    def actor(self) -> str:
        """Who the entries appended through this object name as actor."""
        return self._actor

    def append(
        self,
        tx: Transaction,
        action: str,
        *,
        object_type: str = "",
        object_id: str = "",
        purpose: str = "",
        outcome: str = "ok",
        details: Mapping[str, object] | None = None,
        note: str = "",
    ) -> AuditEntry:
        """Append the next entry inside ``tx`` and move the head to it.

        ``purpose`` and ``note`` are text a person typed: both are stored sealed
        (bound to this entry's seq and field), the note as ``details["note"]``.
        Read them back with :meth:`readable`.

        Raises:
            IntegrityError: the newest stored entry fails its HMAC (run ``audit verify``).
            ValueError: the details look personal (a programming error, never data).
        """
        purpose = check_text("purpose", purpose)
        prev = tx.last_audit()
        seq = 1 if prev is None else prev.seq + 1
        extra = dict(details or {})
        if note:
            extra[NOTE] = self._seal(check_text("note", note, NOTE_MAX), seq, f"details.{NOTE}")
        entry = self._ctx.chain.make_entry(
            prev,
            clock=self._ctx.clock,
            actor=self._actor,
            action=action,
            object_type=object_type,
            object_id=object_id,
            purpose=self._seal(purpose, seq, "purpose"),
            outcome=outcome,
            details=extra,
        )
        tx.append_audit(entry)
        tx.set_meta(HEAD_KEY, self._head(entry.seq, entry.entry_hash))
        self._ctx.audit_appended(entry)
        return entry

    def readable(self, entry: AuditEntry) -> AuditEntry:
        """``entry`` with its typed text opened: see :func:`readable_entry`."""
        return readable_entry(self._ctx, entry)

    @staticmethod
    def redacted(entry: AuditEntry) -> AuditEntry:
        """``entry`` with typed text replaced by a marker: for roles that see no names.

        Pass entries as :meth:`entries` returns them (opened). The marker that
        no purpose was given (:data:`~facewarden.service.purposes.NONE_GIVEN`)
        is facewarden's own text and stays, so an auditor finds every access
        made without a stated purpose.
        """
        details = dict(entry.details)
        if details.get(NOTE):
            details[NOTE] = REDACTED
        purpose = entry.purpose
        if purpose and not purpose.endswith(f"({NONE_GIVEN})"):
            purpose = REDACTED
        return replace(entry, purpose=purpose, details=details)

    def _seal(self, text: str, seq: int, field: str) -> str:
        return self._ctx.freetext.seal(text, table=_TABLE, row=str(seq), field=field)

    def record(self, action: str, **kwargs: object) -> AuditEntry:
        """Append one entry in a transaction of its own (for events that change nothing)."""
        with self._ctx.writing() as tx:
            return self.append(tx, action, **kwargs)  # type: ignore[arg-type]

    def entries(
        self,
        *,
        after_seq: int = 0,
        limit: int = 100,
        object_id: str | None = None,
        about: str | None = None,
    ) -> list[AuditEntry]:
        """Entries by seq, a page at a time (``limit`` is capped by the settings).

        ``object_id``: only entries filed under that object. ``about``: entries
        filed under it *or naming it in their details*: every access to a
        person (an identification that named them is filed under the watchlist
        searched, a history request under the request) for a data-protection
        officer's "who looked this person up?"; for a subject, also those filed
        under their sightings still kept (the desk showing their alert, its
        photos, its decision and notes), as their export gives them.

        Typed text comes opened (see :meth:`readable`); an adapter showing them
        to a role that sees no names passes them through :meth:`redacted`.

        Raises:
            InvalidInputError: both ``object_id`` and ``about`` are given.
        """
        if object_id is not None and about is not None:
            raise InvalidInputError("filter by object_id or by about, not both")
        self._ctx.ensure_open()
        limit = max(1, min(limit, self._ctx.settings.max_page_size))
        store = self._ctx.store
        found = (
            store.list_audit(after_seq=after_seq, limit=limit, object_id=object_id)
            if about is None
            else store.audit_about(about, after_seq=after_seq, limit=limit, with_sightings=True)
        )
        return [self.readable(e) for e in found]

    def about(self, object_id: str) -> list[AuditEntry]:
        """Every entry whose object is ``object_id`` or whose details name it (text opened)."""
        self._ctx.ensure_open()
        return [self.readable(e) for e in self._ctx.store.audit_about(object_id)]

    def verify(self, *, last_seq: int | None = None) -> AuditVerification:
        """Check the chain, the database's head and the signed anchor; name the first bad entry.

        The anchor is read first, then the head and every entry from one
        database snapshot (:meth:`Store.audit_snapshot`): entries appended
        meanwhile are either all in the snapshot or not at all, and the anchor
        never names more than it holds, so concurrent requests cause no alarm.

        Args:
            last_seq: the highest seq known (from elsewhere) to have been written.
        """
        self._ctx.ensure_open()
        anchor, anchor_problem = self._read_anchor()
        with self._ctx.store.audit_snapshot() as snapshot:
            head_seq, head_hash, head_problem = self._read_head(snapshot.get_meta(HEAD_KEY))
            seen: list[int] = []
            anchored: list[str] = []
            broken: list[IntegrityError] = []

            def entries() -> Iterator[AuditEntry]:
                try:
                    for entry in snapshot.iter_audit():
                        seen.append(entry.seq)
                        if anchor is not None and entry.seq == anchor.seq:
                            anchored.append(entry.entry_hash)
                        yield entry
                except IntegrityError as exc:  # a row too damaged to even load
                    broken.append(exc)

            floor = anchor.seq if anchor is not None else 0
            expected = max(s for s in (last_seq, head_seq, floor) if s is not None)
            report = self._ctx.chain.verify(entries(), last_seq=expected or None)
        if broken:
            bad_seq = (seen[-1] + 1) if seen else 1
            if report.ok or (report.first_bad_seq or 0) >= bad_seq:
                report = VerifyReport(
                    False,
                    len(seen),
                    bad_seq,
                    f"tampered: entry {bad_seq} is malformed ({broken[0].message})",
                )
        elif anchor is not None and not seen:
            report = VerifyReport(
                False,
                0,
                1,
                f"wiped: the audit log is empty, but the signed audit head in the key directory "
                f"records {anchor.seq} entries",
            )
        elif anchor is not None and seen[-1] < anchor.seq and _tail_problem(report, seen[-1]):
            report = VerifyReport(
                False,
                report.checked,
                seen[-1] + 1,
                f"deleted: the log ends at entry {seen[-1]}, but the signed audit head in the "
                f"key directory records {anchor.seq} entries (truncated, or rolled back to an "
                "older copy)",
            )
        elif report.ok and anchor is not None and anchored != [anchor.entry_hash]:
            report = VerifyReport(
                False,
                report.checked,
                anchor.seq,
                f"rolled back: entry {anchor.seq} is not the entry the signed audit head in the "
                "key directory records (the log was replaced by an older or rewritten copy)",
            )
        elif report.ok and anchor_problem is not None:
            report = VerifyReport(False, report.checked, None, anchor_problem)
        elif report.ok and head_problem is not None:
            report = VerifyReport(False, report.checked, head_seq, head_problem)
        elif report.ok and head_seq is not None and seen and seen[-1] > head_seq:
            report = VerifyReport(
                False,
                report.checked,
                head_seq + 1,
                f"tampered: entries after {head_seq} were added outside "
                "facewarden (the audit head does not cover them)",
            )
        return AuditVerification(report, head_seq, head_hash)

    def reanchor(self) -> AuditVerification:
        """Accept the log as it is now as the signed head (after a deliberate restore).

        The chain itself must verify (the anchor aside). The anchor is moved to
        its last entry, even backwards, and an entry recording the old and new
        heads is appended. An admin action on the command line: it needs the
        key directory, and the log shows it to everyone.

        Raises:
            IntegrityError: the chain is broken apart from the anchor, or empty.
        """
        self._ctx.ensure_open()
        keeper = self._ctx.anchor
        if keeper is None:
            raise IntegrityError("this deployment keeps no signed audit head")
        try:
            previous = keeper.read()
        except IntegrityError:
            previous = None
        with self._ctx.store.audit_snapshot() as snapshot:
            last: list[AuditEntry] = []

            def entries() -> Iterator[AuditEntry]:
                for entry in snapshot.iter_audit():
                    last[:] = [entry]
                    yield entry

            report = self._ctx.chain.verify(entries())
        if not report.ok or not last:
            problem = report.problem or "the log is empty"
            raise IntegrityError(f"refusing to re-anchor a broken audit log: {problem}")
        keeper.replace(Anchor(last[0].seq, last[0].entry_hash))
        self.record(
            "audit.reanchor",
            details={
                "previous_seq": None if previous is None else previous.seq,
                "log_seq": last[0].seq,
            },
        )
        return self.verify()

    def _read_anchor(self) -> tuple[Anchor | None, str | None]:
        if self._ctx.anchor is None:
            return None, None
        try:
            anchor = self._ctx.anchor.read()
        except IntegrityError as exc:
            return None, f"tampered: {exc.message}"
        if anchor is None:
            return None, (
                f"missing: no signed audit head in the key directory ({self._ctx.anchor.path}); "
                "a wiped or rolled-back log could not be told from an intact one"
            )
        return anchor, None

    def _head(self, seq: int, entry_hash: str) -> str:
        body = f"{seq}:{entry_hash}"
        return f"{body}:{self._mac(body)}"

    def _mac(self, body: str) -> str:
        key = self._ctx.keyring.audit_key
        return hmac.new(key, _HEAD_DOMAIN + body.encode("ascii"), hashlib.sha256).hexdigest()

    def _read_head(self, value: str | None) -> tuple[int | None, str | None, str | None]:
        if value is None:
            return None, None, None
        body, _, mac = value.rpartition(":")
        seq_text, _, entry_hash = body.partition(":")
        if not (seq_text.isdigit() and hmac.compare_digest(self._mac(body), mac)):
            return (
                None,
                None,
                (
                    "tampered: the audit head (the record of the last entry) was altered; "
                    "the newest entries may have been removed"
                ),
            )
        return int(seq_text), entry_hash, None


def _tail_problem(report: VerifyReport, last_seen: int) -> bool:
    """Whether the chain's first problem lies past its last stored entry (a cut-off tail)."""
    return not report.ok and (report.first_bad_seq or 0) > last_seen


def readable_entry(ctx: Context, entry: AuditEntry) -> AuditEntry:
    """``entry`` with its typed text opened: for the roles that may read it.

    The result is for display only: its hash no longer covers it. Sealed text
    that fails to open (altered in the database) is shown as :data:`DAMAGED`,
    so the rest of the log stays readable; ``audit verify`` names that entry,
    since its hash covers the sealed text.
    """
    row = str(entry.seq)

    def opened(value: str, field: str) -> str:
        try:
            return ctx.freetext.open(value, table=_TABLE, row=row, field=field)
        except IntegrityError:
            return DAMAGED

    details = dict(entry.details)
    note = details.get(NOTE)
    if isinstance(note, str):
        details[NOTE] = opened(note, f"details.{NOTE}")
    return replace(entry, purpose=opened(entry.purpose, "purpose"), details=details)
