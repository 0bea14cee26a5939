"""CompreFace's JSON shapes (docs/Rest-API-description.md of exadel-inc/CompreFace).

Only what facewarden can honestly fill is modelled: boxes with a detection
probability, landmarks (the ``landmarks`` plugin: facewarden's 5 points),
similarities, and with ``status=true`` the execution time and the models.
Age, gender and mask plugins are not provided; the ``calculator`` plugin
(raw embeddings) is never served: a face template does not leave facewarden.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from facewarden.service.compreface_match import FoundFace

__all__ = [
    "CfBox",
    "CfDeleted",
    "CfDetectOut",
    "CfError",
    "CfExample",
    "CfExamplesOut",
    "CfFace",
    "CfRecognizeOut",
    "CfSubjectIn",
    "CfSubjectOut",
    "CfSubjectsOut",
    "CfUpdated",
    "CfVerifyImagesOut",
    "CfVerifyOut",
]


class CfError(BaseModel):
    """CompreFace's error body."""

    message: str
    code: int


class CfBox(BaseModel):
    """A face box in integer pixels, with the detection probability."""

    probability: float
    x_min: int
    y_min: int
    x_max: int
    y_max: int


class CfFace(BaseModel):
    """A face as CompreFace returns it (optional parts only when asked for)."""

    box: CfBox
    landmarks: list[list[int]] | None = None
    execution_time: dict[str, float] | None = None

    @classmethod
    def of(cls, found: FoundFace, *, landmarks: bool, elapsed_ms: float | None) -> CfFace:
        """The face's box (and landmarks, and timing) in CompreFace's shape."""
        box = found.face.box
        return cls(
            box=CfBox(
                probability=round(found.probability, 5),
                x_min=round(box.x_min),
                y_min=round(box.y_min),
                x_max=round(box.x_max),
                y_max=round(box.y_max),
            ),
            landmarks=[[round(float(x)), round(float(y))] for x, y in found.face.landmarks]
            if landmarks
            else None,
            execution_time=None if elapsed_ms is None else {"detector": round(elapsed_ms, 1)},
        )


class CfSubjectIn(BaseModel):
    """A subject name."""

    subject: str = Field(min_length=1, max_length=200)


class CfSubjectOut(BaseModel):
    """A subject name, as echoed back."""

    subject: str


class CfSubjectsOut(BaseModel):
    """Subject names."""

    subjects: list[str]


class CfUpdated(BaseModel):
    """Whether a rename happened."""

    updated: bool


class CfDeleted(BaseModel):
    """How many examples were deleted."""

    deleted: int


class CfExample(BaseModel):
    """A stored example: its image id and subject."""

    image_id: str
    subject: str


class CfExamplesOut(BaseModel):
    """A page of examples."""

    faces: list[CfExample]
    page_number: int
    page_size: int
    total_pages: int
    total_elements: int


class CfSimilarSubject(BaseModel):
    """A subject a face matches, with the similarity."""

    subject: str
    similarity: float


class CfRecognizedFace(CfFace):
    """A face with the subjects it matches."""

    subjects: list[CfSimilarSubject]


class CfComparedFace(CfFace):
    """A face with its similarity to the reference."""

    similarity: float


class CfRecognizeOut(BaseModel):
    """The result of recognize."""

    result: list[CfRecognizedFace]
    plugins_versions: dict[str, str] | None = None


class CfVerifyOut(BaseModel):
    """The result of verifying a photo against a stored example."""

    result: list[CfComparedFace]
    plugins_versions: dict[str, str] | None = None


class CfVerifyImagesItem(BaseModel):
    """The source face and the target faces with their similarities."""

    source_image_face: CfFace
    face_matches: list[CfComparedFace]
    plugins_versions: dict[str, str] | None = None


class CfVerifyImagesOut(BaseModel):
    """The result of verifying two photos."""

    result: list[CfVerifyImagesItem]


class CfDetectOut(BaseModel):
    """The result of detect."""

    result: list[CfFace]
    plugins_versions: dict[str, str] | None = None
