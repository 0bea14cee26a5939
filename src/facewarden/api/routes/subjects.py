"""Subjects: enroll, list, look up, read, update, export, erase; and their faces.

Every read of a person's data is audited by the service, with the
``purpose`` the caller gives. An investigator may read a subject only with
a purpose (a case reference); the list is paged and capped at 100.
"""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, Response, UploadFile
from fastapi.responses import StreamingResponse

from facewarden.api.auth import allow, require
from facewarden.api.schemas import (
    FaceInfoOut,
    LookupIn,
    RestrictionIn,
    SubjectListOut,
    SubjectOut,
    SubjectPatchIn,
    SubjectSummaryOut,
)
from facewarden.api.schemas_export import ExportOut
from facewarden.api.state import acting_warden, image_work
from facewarden.api.uploads import read_upload
from facewarden.errors import FacewardenError, NotFoundError
from facewarden.service.records import FIELD_NAMES, SubjectRecord, invalid_input
from facewarden.service.roles import Principal
from facewarden.service.warden import Warden

__all__ = ["router"]

router = APIRouter(prefix="/v1/subjects", tags=["subjects"])
_MULTIPART, _JSON = "multipart/form-data", "application/json"
_Warden = Annotated[Warden, Depends(acting_warden)]
_SubjectId = Annotated[str, Path(min_length=1, max_length=64)]
_Purpose = Annotated[str, Query(max_length=128, description="why (a case reference)")]
_FormPurpose = Annotated[str, Form(max_length=128, description="why (a case reference)")]
_MAX_PHOTOS = 10


def _record(text: str) -> SubjectRecord:
    try:
        fields = json.loads(text)
    except (ValueError, RecursionError):  # deep nesting exhausts the parser's stack
        raise invalid_input("record must be a JSON object of the subject's fields") from None
    if not isinstance(fields, dict) or not all(isinstance(v, str | None) for v in fields.values()):
        raise invalid_input(
            f"record must be a JSON object of text fields from: {', '.join(FIELD_NAMES)}"
        )
    return SubjectRecord.from_fields(fields)


@router.post("", status_code=201, response_model=SubjectOut, **allow("operator", media=_MULTIPART))
async def enroll(
    request: Request,
    record: Annotated[str, Form(max_length=8192, description="JSON object of record fields")],
    file: Annotated[list[UploadFile], File(description="one photo per face to enroll")],
    warden: _Warden,
    watchlist: Annotated[list[str] | None, Form(description="watchlist ids or names")] = None,
    face: Annotated[int | None, Form(ge=1, le=100, description="which face (1-based)")] = None,
    force: Annotated[
        bool,
        Form(
            description="accept faces below the quality bar, and photos that do not match "
            "each other (audited as forced)"
        ),
    ] = False,
    purpose: _FormPurpose = "",
) -> SubjectOut:
    """Enroll a person from one or more photos, in one transaction (nothing stored on error)."""
    if len(file) > _MAX_PHOTOS:
        raise invalid_input(f"at most {_MAX_PHOTOS} photos per enrollment")
    cap, subject = warden.settings.max_image_bytes, _record(record)
    images = [await read_upload(f, cap) for f in file]

    def work() -> SubjectOut:
        enrollment = warden.registry.enroll(
            subject,
            images,
            watchlists=watchlist or [],
            face_index=None if face is None else face - 1,
            force=force,
            purpose=purpose,
            read_back=True,
        )
        if enrollment.subject is None:  # read_back=True always sets it
            raise FacewardenError("the enrolled subject was not read back")
        return SubjectOut.from_subject(enrollment.subject)

    return await image_work(request, work)


@router.get("", response_model=SubjectListOut, **allow("operator"))
def list_subjects(
    warden: _Warden,
    after: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    purpose: _Purpose = "",
) -> SubjectListOut:
    """A page of subjects with their names, by id (an audited read of those names)."""
    summaries = warden.registry.subjects(after=after, limit=limit, purpose=purpose)
    return SubjectListOut(
        subjects=[SubjectSummaryOut.from_summary(s) for s in summaries],
        next_after=summaries[-1].subject_id if len(summaries) == limit else None,
    )


@router.post("/lookup", response_model=SubjectOut, **allow("operator", media=_JSON))
def lookup(query: LookupIn, warden: _Warden, purpose: _Purpose = "") -> SubjectOut:
    """The subject enrolled with an ID number (exact, through the blind index)."""
    return SubjectOut.from_subject(
        warden.registry.find_by_id_number(query.id_number, purpose=purpose)
    )


@router.get("/{subject_id}", response_model=SubjectOut, **allow("operator", "investigator"))
def read_subject(
    subject_id: _SubjectId,
    warden: _Warden,
    principal: Annotated[Principal, Depends(require("operator", "investigator"))],
    purpose: _Purpose = "",
) -> SubjectOut:
    """A subject's record, faces and watchlists. An investigator must give a case reference."""
    if principal.role == "investigator" and not purpose.strip():
        raise invalid_input("an investigator reads a subject only with a case reference (purpose)")
    return SubjectOut.from_subject(warden.registry.get(subject_id, purpose=purpose))


@router.patch("/{subject_id}", response_model=SubjectOut, **allow("operator", media=_JSON))
def update_subject(
    subject_id: _SubjectId, changes: SubjectPatchIn, warden: _Warden, purpose: _Purpose = ""
) -> SubjectOut:
    """Change record fields: a null clears an optional field, an absent one is kept."""
    fields = changes.model_dump(exclude_unset=True)
    return SubjectOut.from_subject(warden.registry.update(subject_id, fields, purpose=purpose))


@router.get(
    "/{subject_id}/export",
    response_class=StreamingResponse,
    responses={200: {"model": ExportOut, "description": "the export (docs/subject-export.md)"}},
    **allow("operator"),
)
def export_subject(
    subject_id: _SubjectId, warden: _Warden, purpose: _Purpose = ""
) -> StreamingResponse:
    """Everything held on a subject, decrypted, and every audit entry naming them.

    Read whole into a sealed spool first (the store's snapshot is not held while the
    client downloads), then streamed: a person seen very often is answered in bounded memory.
    """
    body = warden.registry.export_spooled(subject_id, purpose=purpose)  # 404 before any byte
    return StreamingResponse(
        body, media_type="application/json", headers={"Cache-Control": "no-store"}
    )


@router.post(
    "/{subject_id}/restriction",
    status_code=204,
    response_class=Response,
    **allow("operator", media=_JSON),
)
def restrict_subject(
    subject_id: _SubjectId, body: RestrictionIn, warden: _Warden, purpose: _Purpose = ""
) -> Response:
    """Restrict processing (GDPR Art. 18): kept, taken off every watchlist, matched nowhere.

    Audited; 409 when already restricted. Read, export, correction and erasure go on.
    """
    warden.restrictions.restrict(subject_id, reason=body.reason, purpose=purpose)
    return Response(status_code=204)


@router.delete(
    "/{subject_id}/restriction", status_code=204, response_class=Response, **allow("operator")
)
def lift_restriction(subject_id: _SubjectId, warden: _Warden, purpose: _Purpose = "") -> Response:
    """Lift a restriction: back on the watchlists it left that still exist (audited; 409: none)."""
    warden.restrictions.lift(subject_id, purpose=purpose)
    return Response(status_code=204)


@router.delete("/{subject_id}", status_code=204, response_class=Response, **allow("operator"))
def erase_subject(subject_id: _SubjectId, warden: _Warden, purpose: _Purpose = "") -> Response:
    """Erase a subject: record, faces, templates, photos; the audit log keeps a tombstone."""
    warden.registry.erase(subject_id, purpose=purpose)
    return Response(status_code=204)


@router.post(
    "/{subject_id}/faces",
    status_code=201,
    response_model=FaceInfoOut,
    **allow("operator", media=_MULTIPART),
)
async def add_face(
    request: Request,
    subject_id: _SubjectId,
    file: Annotated[UploadFile, File(description="a photo of the subject")],
    warden: _Warden,
    face: Annotated[int | None, Form(ge=1, le=100, description="which face (1-based)")] = None,
    force: Annotated[
        bool,
        Form(
            description="accept a face below the quality bar, or one that does not match "
            "the subject's faces (audited as forced)"
        ),
    ] = False,
    purpose: _FormPurpose = "",
) -> FaceInfoOut:
    """Enroll one more face of a subject."""
    image = await read_upload(file, warden.settings.max_image_bytes)
    face_id = await image_work(
        request,
        lambda: warden.faces.add(
            subject_id,
            image,
            face_index=None if face is None else face - 1,
            force=force,
            purpose=purpose,
        ),
    )
    subject = await image_work(request, lambda: warden.registry.get(subject_id, purpose=purpose))
    for info in subject.faces:
        if info.face_id == face_id:
            return FaceInfoOut.from_info(info)
    raise NotFoundError(f"{face_id} was removed meanwhile")


@router.delete(
    "/{subject_id}/faces/{face_id}",
    status_code=204,
    response_class=Response,
    **allow("operator"),
)
def remove_face(
    subject_id: _SubjectId,
    face_id: Annotated[str, Path(min_length=1, max_length=64)],
    warden: _Warden,
    purpose: _Purpose = "",
) -> Response:
    """Delete one face (the last one cannot be: replace it, or erase the subject)."""
    warden.faces.remove(subject_id, face_id, purpose=purpose)
    return Response(status_code=204)
