"""The native API's bodies for errors, faces, recognition and subjects (docs/http-api.md).

Response models make the OpenAPI document precise (schemathesis checks
every response against it) and keep the routes from leaking a field by
accident: only what a model names is ever serialised. Each ``from_*``
classmethod maps a service-layer value; routes do nothing else with them.
Watchlists, audit, sessions, users and keys: :mod:`facewarden.api.schemas_admin`;
a subject's export: :mod:`facewarden.api.schemas_export`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from facewarden.service.recognition_results import Identification, ProbeFace
from facewarden.service.registry import FaceInfo, Subject, SubjectSummary
from facewarden.types import Face

__all__ = [
    "DetectOut",
    "ErrorOut",
    "FaceInfoOut",
    "FaceOut",
    "HealthOut",
    "IdentifyOut",
    "LookupIn",
    "RestrictionIn",
    "SubjectListOut",
    "SubjectOut",
    "SubjectPatchIn",
    "VerifyImagesOut",
    "VerifyOut",
]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ErrorBody(BaseModel):
    """What went wrong: the error class and a message for a person."""

    type: str
    message: str


class ErrorOut(BaseModel):
    """Every error response: ``{"error": {"type", "message"}}``."""

    error: ErrorBody


class HealthOut(BaseModel):
    """The health check."""

    status: Literal["ok"]


# -- faces -----------------------------------------------------------------


class QualityOut(BaseModel):
    """The quality verdict of a face, with the reasons when it is not usable."""

    face_px: float
    sharpness: float
    brightness: float
    yaw_degrees: float
    usable: bool
    reasons: list[str]


class FaceOut(BaseModel):
    """One face found in an image: box ``xyxy`` in pixels, 5 landmarks, detector, quality."""

    box_xyxy: list[float] = Field(min_length=4, max_length=4)
    landmarks: list[list[float]] = Field(min_length=5, max_length=5)
    detector: str
    detector_score: float
    quality: QualityOut | None = None

    @classmethod
    def from_face(cls, face: Face) -> FaceOut:
        """The face's plain data (never its embedding)."""
        return cls.model_validate(face.to_dict())


class DetectOut(BaseModel):
    """The faces of an image and the image's size in pixels (as decoded, EXIF-rotated)."""

    width: int
    height: int
    faces: list[FaceOut]


class CandidateOut(BaseModel):
    """A subject similar to a probe face; its name only when it is a match."""

    subject_id: str
    full_name: str | None
    similarity: float
    is_match: bool


class ProbeFaceOut(BaseModel):
    """A face of the probe image with its candidates (none when it is not usable)."""

    face: FaceOut
    usable: bool
    reasons: list[str]
    candidates: list[CandidateOut]

    @classmethod
    def from_probe(cls, probe: ProbeFace) -> ProbeFaceOut:
        """Map a service probe face."""
        return cls(
            face=FaceOut.from_face(probe.face),
            usable=probe.usable,
            reasons=list(probe.reasons),
            candidates=[
                CandidateOut(
                    subject_id=c.subject_id,
                    full_name=c.display_name if c.is_match else None,
                    similarity=round(c.similarity, 4),
                    is_match=c.is_match,
                )
                for c in probe.candidates
            ],
        )


class IdentifyOut(BaseModel):
    """The outcome of a 1:N search of a watchlist."""

    watchlist: str
    watchlist_id: str
    threshold: float
    faces: list[ProbeFaceOut]

    @classmethod
    def from_identification(cls, result: Identification) -> IdentifyOut:
        """Map a service identification."""
        return cls(
            watchlist=result.watchlist_name,
            watchlist_id=result.watchlist_id,
            threshold=round(result.threshold, 4),
            faces=[ProbeFaceOut.from_probe(f) for f in result.faces],
        )


class VerifyOut(BaseModel):
    """Is the photo's main face the enrolled subject?"""

    subject_id: str
    similarity: float
    threshold: float
    fmr: float
    is_match: bool
    face: FaceOut | None
    warnings: list[str] = []
    """What a person should know about the decision: several faces (the central one was
    compared)."""


class VerifyImagesOut(BaseModel):
    """Are the main faces of two photos the same person?"""

    similarity: float
    threshold: float
    fmr: float
    is_match: bool
    face_a: FaceOut | None
    face_b: FaceOut | None
    warnings: list[str] = []
    """As for :class:`VerifyOut`, each naming its photo's field (``image_a``, ``image_b``)."""


# -- subjects --------------------------------------------------------------


class SubjectSummaryOut(BaseModel):
    """A line of the subject list: id, name, and how many faces and watchlists."""

    subject_id: str
    full_name: str
    faces: int
    watchlists: int

    @classmethod
    def from_summary(cls, summary: SubjectSummary) -> SubjectSummaryOut:
        """Map a service summary."""
        return cls(
            subject_id=summary.subject_id,
            full_name=summary.full_name,
            faces=summary.faces,
            watchlists=summary.watchlists,
        )


class SubjectListOut(BaseModel):
    """A page of subjects; pass ``next_after`` as ``after`` for the next (null: the last)."""

    subjects: list[SubjectSummaryOut]
    next_after: str | None


class RecordOut(BaseModel):
    """A subject's identity record, decrypted."""

    full_name: str | None
    lawful_basis: str | None
    id_number: str | None
    date_of_birth: str | None
    sex: str | None
    nationality: str | None
    address: str | None
    employer: str | None
    notes: str | None


class FaceInfoOut(BaseModel):
    """An enrolled face, without its template."""

    face_id: str
    model: str
    created_at: datetime
    has_photo: bool

    @classmethod
    def from_info(cls, info: FaceInfo) -> FaceInfoOut:
        """Map a service face."""
        return cls(
            face_id=info.face_id,
            model=info.model,
            created_at=info.created_at,
            has_photo=info.has_photo,
        )


class SubjectOut(BaseModel):
    """A subject: record, faces, watchlist ids, times."""

    subject_id: str
    record: RecordOut
    faces: list[FaceInfoOut]
    watchlists: list[str]
    created_at: datetime
    updated_at: datetime
    restricted: bool = Field(
        description="processing restricted (GDPR Art. 18): kept, on no watchlist, matched nowhere"
    )

    @classmethod
    def from_subject(cls, subject: Subject) -> SubjectOut:
        """Map a service subject."""
        return cls(
            subject_id=subject.subject_id,
            record=RecordOut.model_validate(subject.record.to_dict()),
            faces=[FaceInfoOut.from_info(f) for f in subject.faces],
            watchlists=list(subject.watchlists),
            created_at=subject.created_at,
            updated_at=subject.updated_at,
            restricted=subject.restricted,
        )


class LookupIn(_In):
    """An exact lookup by ID number (in the body, so it never lands in a URL or a log)."""

    id_number: str = Field(min_length=1, max_length=200)


class RestrictionIn(_In):
    """Why a subject's processing is restricted (GDPR Art. 18), as the request says."""

    reason: str = Field(min_length=1, max_length=500)


class SubjectPatchIn(_In):
    """Record fields to change; a null clears an optional field, an absent one is kept."""

    full_name: str | None = Field(default=None, max_length=200)
    lawful_basis: str | None = Field(default=None, max_length=200)
    id_number: str | None = Field(default=None, max_length=200)
    date_of_birth: str | None = Field(default=None, max_length=10)
    sex: str | None = Field(default=None, max_length=32)
    nationality: str | None = Field(default=None, max_length=200)
    address: str | None = Field(default=None, max_length=500)
    employer: str | None = Field(default=None, max_length=200)
    notes: str | None = Field(default=None, max_length=4000)
