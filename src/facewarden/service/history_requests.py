"""Location-history requests: asked, approved or refused, and listed.

A request (asked by :meth:`facewarden.service.sightings.Sightings.history`
when a second person's approval is needed) is *pending* until another
investigator (or an admin) approves or refuses it; the history is then read
by the same person for the same query, once approved. The requester sees
their own requests with their state, so a reload loses nothing; an approver
sees the others' pending requests with who asked, for which subject (by id),
the case reference, the hours and the reason, and approves
(:meth:`HistoryRequests.approve`) or refuses (:meth:`HistoryRequests.refuse`)
from there. Lists reach back 31 days (a request older than that is of no
use: the history it asks for has expired). Reading a list is audited when
it holds anything; a refusal is audited like an approval.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from facewarden.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from facewarden.privacy.crypto import WrappedKey
from facewarden.privacy.retention import HISTORY_REQUEST_RETENTION
from facewarden.service.audit import AuditLog
from facewarden.service.context import Context
from facewarden.service.records import new_id
from facewarden.store.base import HistoryNoteRow, HistoryRequestRow, Reader

__all__ = ["HistoryRequestView", "HistoryRequests", "request_decision"]

_APPROVER_ROLES = frozenset({"admin", "investigator"})
# An admin asks for no histories (only investigators do), so an admin's own list is
# empty rather than refused: one console page serves both.
_REQUESTER_ROLES = frozenset({"admin", "investigator"})
# Listed as long as they are kept: the purge deletes them after that.
_LISTED = HISTORY_REQUEST_RETENTION
_REASON_LIMIT = 500


def request_decision(
    row: HistoryRequestRow, note: HistoryNoteRow | None
) -> tuple[str, str | None, datetime | None]:
    """Where a request stands: ``refused``, ``approved`` or ``pending``, by whom and when.

    A refusal is kept in the request's note (with its reason), an approval on the row.
    """
    if note is not None and note.refused_by is not None:
        return "refused", note.refused_by, note.refused_at
    if row.approved_by is not None:
        return "approved", row.approved_by, row.approved_at
    return "pending", None, None


@dataclass(frozen=True)
class HistoryRequestView:
    """A location-history request as the desk lists it.

    Attributes:
        request_id: the request.
        subject_id: whose history (an id: the name stays behind the case flow).
        hours: how far back.
        case_reference: the case it is for.
        reason: why, as the requester wrote it, or None.
        requested_by: who asked.
        created_at: when.
        status: ``pending``, ``approved`` or ``refused``.
        decided_by: who approved or refused it, or None.
        decided_at: when, or None.
    """

    request_id: str
    subject_id: str
    hours: int
    case_reference: str
    reason: str | None
    requested_by: str
    created_at: datetime
    status: str
    decided_by: str | None
    decided_at: datetime | None


class HistoryRequests:
    """Location-history requests (see the module's docstring)."""

    def __init__(self, ctx: Context, audit: AuditLog) -> None:
        self._ctx = ctx
        self._audit = audit

    def mine(self, *, role: str, limit: int = 50) -> list[HistoryRequestView]:
        """The caller's own requests of the last 31 days, newest first (audited when any).

        Raises:
            PermissionDeniedError: the role asks for no histories.
        """
        if role not in _REQUESTER_ROLES:
            raise PermissionDeniedError(f"role {role!r} requests no location histories")
        return self._listed("mine", requested_by=self._audit.actor, undecided=False, limit=limit)

    def pending(self, *, role: str, limit: int = 50) -> list[HistoryRequestView]:
        """Other people's requests waiting for a decision, newest first (audited when any).

        Raises:
            PermissionDeniedError: the role approves no requests.
        """
        if role not in _APPROVER_ROLES:
            raise PermissionDeniedError("approving a history request needs the investigator role")
        found = self._listed("pending", requested_by=None, undecided=True, limit=limit + 1)
        return [v for v in found if v.requested_by != self._audit.actor][:limit]

    def approve(self, request_id: str, *, role: str) -> None:
        """Approve a pending history request as a second person (audited).

        Raises:
            NotFoundError: no such request.
            PermissionDeniedError: the approver asked for it, has the wrong role,
                or it was already approved.
        """
        with self._ctx.writing() as tx:
            row = tx.get_history_request(request_id)
            if row is None:
                raise NotFoundError(f"no history request {request_id}")
            if role not in _APPROVER_ROLES:
                raise PermissionDeniedError(
                    "approving a history request needs the investigator role"
                )
            if row.requested_by == self._audit.actor:
                raise PermissionDeniedError("a second person must approve; not the one who asked")
            note = tx.history_note(request_id)
            if note is not None and note.refused_by is not None:
                raise PermissionDeniedError(f"history request {request_id} was refused")
            if not tx.approve_history_request(request_id, self._audit.actor, self._ctx.clock()):
                raise PermissionDeniedError(f"history request {request_id} is already approved")
            self._audit.append(
                tx,
                "sightings.history_approve",
                object_type="history_request",
                object_id=request_id,
                purpose=self._case(row),
                details={"subject": row.subject_id},
            )

    def ask(self, subject_id: str, hours: int, case_reference: str, reason: str = "") -> str:
        """A new pending request for the caller (audited); its id.

        Raises:
            InvalidInputError: a reason longer than 500 characters.
            NotFoundError: no such subject.
        """
        if len(reason) > _REASON_LIMIT:
            raise InvalidInputError(f"a reason has at most {_REASON_LIMIT} characters")
        request_id = new_id("req")
        # The case reference is typed text: sealed at rest like a personal field.
        sealed = self._ctx.freetext.seal(
            case_reference, table="history_requests", row=request_id, field="case_reference"
        )
        row = HistoryRequestRow(
            request_id, subject_id, hours, sealed, self._audit.actor, self._ctx.clock()
        )
        with self._ctx.writing() as tx:
            subject = tx.get_subject(subject_id)
            if subject is None:
                raise NotFoundError(f"no subject {subject_id}")
            tx.insert_history_request(row)
            if reason:
                # Free text a person typed: sealed with the subject's data key, so it
                # goes with the subject (promise 17).
                tx.set_history_reason(
                    row.request_id,
                    self._ctx.envelope.encrypt_str(
                        reason,
                        data_key=WrappedKey.from_bytes(subject.wrapped_key),
                        table="history_request_notes",
                        row=row.request_id,
                        field="reason",
                    ),
                )
            self._audit.append(
                tx,
                "sightings.history_request",
                object_type="history_request",
                object_id=row.request_id,
                purpose=case_reference,
                details={"subject": subject_id, "hours": hours},
            )
        return row.request_id

    def check_approved(
        self, request_id: str, subject_id: str, hours: int, case_reference: str
    ) -> HistoryRequestRow:
        """That the caller's request ``request_id`` is for this query and approved; the request.

        Raises:
            PermissionDeniedError: not the caller's, for another query, refused
                or not approved yet.
        """
        row = self._ctx.store.get_history_request(request_id)
        if (
            row is None
            or row.requested_by != self._audit.actor
            or (row.subject_id, row.hours, self._case(row)) != (subject_id, hours, case_reference)
        ):
            raise PermissionDeniedError(f"history request {request_id} is not for this query")
        note = self._ctx.store.history_note(request_id)
        if note is not None and note.refused_by is not None:
            raise PermissionDeniedError(f"history request {request_id} was refused")
        if row.approved_by is None:
            raise PermissionDeniedError(f"history request {request_id} waits for a second approver")
        return row

    def refuse(self, request_id: str, *, role: str) -> None:
        """Refuse another person's pending request (audited).

        Raises:
            NotFoundError: no such request.
            PermissionDeniedError: the role, the requester themself, or a
                request already approved or refused.
        """
        if role not in _APPROVER_ROLES:
            raise PermissionDeniedError("refusing a history request needs the investigator role")
        with self._ctx.writing() as tx:
            row = tx.get_history_request(request_id)
            if row is None:
                raise NotFoundError(f"no history request {request_id}")
            if row.requested_by == self._audit.actor:
                raise PermissionDeniedError("a second person decides; not the one who asked")
            if not tx.refuse_history_request(request_id, self._audit.actor, self._ctx.clock()):
                raise PermissionDeniedError(f"history request {request_id} was already decided")
            self._audit.append(
                tx,
                "sightings.history_refuse",
                object_type="history_request",
                object_id=request_id,
                purpose=self._case(row),
                details={"subject": row.subject_id},
            )

    def _listed(
        self, which: str, *, requested_by: str | None, undecided: bool, limit: int
    ) -> list[HistoryRequestView]:
        self._ctx.ensure_open()
        limit = max(1, min(limit, self._ctx.settings.max_page_size))
        store = self._ctx.store
        ids = store.history_request_ids(
            requested_by=requested_by,
            undecided=undecided,
            since=self._ctx.clock() - _LISTED,
            limit=limit,
        )
        views = [v for v in (self._view(store, i) for i in ids) if v is not None]
        if views:
            self._audit.record(
                "sightings.history_requests",
                object_type="history_request",
                # The people asked about, by id: who accessed a person
                # (`audit list --about`, their export) finds it.
                details={
                    "list": which,
                    "requests": len(views),
                    "subjects": sorted({v.subject_id for v in views}),
                },
            )
        return views

    def _case(self, row: HistoryRequestRow) -> str:
        """The request's case reference, opened (stored sealed: privacy.freetext)."""
        return self._ctx.freetext.open(
            row.case_reference,
            table="history_requests",
            row=row.request_id,
            field="case_reference",
        )

    def _view(self, reader: Reader, request_id: str) -> HistoryRequestView | None:
        row = reader.get_history_request(request_id)
        if row is None:  # erased with its subject meanwhile
            return None
        note = reader.history_note(request_id)
        reason = None
        if note is not None and note.reason is not None:
            subject = reader.get_subject(row.subject_id)
            if subject is not None:
                reason = self._ctx.envelope.decrypt_str(
                    note.reason,
                    data_key=WrappedKey.from_bytes(subject.wrapped_key),
                    table="history_request_notes",
                    row=request_id,
                    field="reason",
                )
        status, by, at = request_decision(row, note)
        return HistoryRequestView(
            row.request_id,
            row.subject_id,
            row.hours,
            self._case(row),
            reason,
            row.requested_by,
            row.created_at,
            status,
            by,
            at,
        )
