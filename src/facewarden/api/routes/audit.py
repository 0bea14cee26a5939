"""The audit log for auditors (and admins): a page of entries, and the chain's verification."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query

from facewarden.api.auth import allow, require
from facewarden.api.schemas_admin import AuditEntryOut, AuditListOut, AuditVerifyOut
from facewarden.api.state import acting_warden
from facewarden.service.roles import Principal
from facewarden.service.warden import Warden

__all__ = ["router"]

router = APIRouter(prefix="/v1/audit", tags=["audit"])
_Warden = Annotated[Warden, Depends(acting_warden)]


@router.get("", response_model=AuditListOut, **allow("auditor"))
def list_entries(
    warden: _Warden,
    principal: Annotated[Principal, Depends(require("auditor"))],
    after: Annotated[int, Query(ge=0, le=2**62)] = 0,
    before: Annotated[int | None, Query(ge=1, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    object_id: Annotated[str | None, Query(max_length=128)] = None,
    about: Annotated[
        str | None, Query(max_length=128, description="filed under this id or naming it")
    ] = None,
) -> AuditListOut:
    """Entries by sequence number after ``after``, or (with ``before``) the page before it.

    Typed text (purposes, case references, notes) is shown to admins; to
    auditors only as a marker that it is there.

    ``before`` pages backwards through sequence numbers ``before - limit`` to
    ``before - 1`` (sequence numbers have no gaps in an intact chain); with
    ``object_id`` only that object's entries among them are listed; with
    ``about`` (not with ``object_id``) those filed under it or naming it in their
    details: every access to a person, such as an identification that named them.
    """
    if before is None:
        entries = warden.audit.entries(
            after_seq=after, limit=limit, object_id=object_id, about=about
        )
        older = None
    else:
        start = max(0, before - limit - 1)
        entries = [
            e
            for e in warden.audit.entries(
                after_seq=start, limit=limit, object_id=object_id, about=about
            )
            if e.seq < before
        ]
        older = start + 1 if start > 0 else None
    # Typed text (purposes, case references, notes) may name people: an admin
    # reads it opened; an auditor, who sees no names, sees that it is there.
    if principal.role != "admin":
        entries = [warden.audit.redacted(e) for e in entries]
    return AuditListOut(
        entries=[AuditEntryOut.from_entry(e) for e in entries],
        next_after=entries[-1].seq if len(entries) == limit else None,
        next_before=older,
    )


@router.get("/verify", response_model=AuditVerifyOut, **allow("auditor"))
def verify_chain(warden: _Warden) -> AuditVerifyOut:
    """Check the whole hash chain; ``first_bad_seq`` names the first bad entry."""
    report = warden.audit.verify().report
    return AuditVerifyOut(
        ok=report.ok,
        checked=report.checked,
        first_bad_seq=report.first_bad_seq,
        problem=report.problem,
    )
