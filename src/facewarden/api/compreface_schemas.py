"""CompreFace's JSON shapes (docs/Rest-API-description.md of exadel-inc/CompreFace).

Only what facewarden can honestly fill is modelled: boxes with a detection
probability, and per face plugin: ``landmarks`` (CompreFace's 5 points),
``calculator`` (``embedding``: the model's own output, never a stored
template) and ``pose`` (estimated from the landmarks); similarities; and
with ``status=true`` the execution time and the models. Optional parts are
left out of the JSON when not asked for (routes serialise without None
values), as CompreFace leaves them out.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from facewarden.service.compreface_faces import FoundFace, Plugins

__all__ = [
    "CfBox",
    "CfComparedFace",
    "CfDeleted",
    "CfDetectOut",
    "CfEmbeddingSimilarity",
    "CfEmbeddingsCompareIn",
    "CfEmbeddingsIn",
    "CfEmbeddingsRecognizeOut",
    "CfEmbeddingsVerifyOut",
    "CfError",
    "CfExample",
    "CfExamplesOut",
    "CfFace",
    "CfPose",
    "CfRecognizeOut",
    "CfRecognizedFace",
    "CfSimilarSubject",
    "CfSubjectIn",
    "CfSubjectOut",
    "CfSubjectsOut",
    "CfUpdated",
    "CfVerifiedFace",
    "CfVerifyImagesItem",
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


class CfPose(BaseModel):
    """The ``pose`` plugin: head angles in degrees."""

    pitch: float
    roll: float
    yaw: float


class CfFace(BaseModel):
    """A face as CompreFace returns it (plugin parts only when asked for)."""

    box: CfBox
    landmarks: list[list[int]] | None = None
    embedding: list[float] | None = None
    pose: CfPose | None = None
    execution_time: dict[str, float] | None = None

    @classmethod
    def of(cls, found: FoundFace, plugins: Plugins, *, status: bool) -> CfFace:
        """The face's box, with what ``plugins`` ask for (and, with ``status``, the time
        each plugin took) in CompreFace's shape.

        ``execution_time`` is CompreFace's: whole milliseconds by plugin slug
        (its embedding-calculator truncates each to an int; Java then serves a
        double), of the plugins that ran on the face.
        """
        face, box = found.face, found.face.box
        pose = found.pose if plugins.pose else None
        return cls(
            box=CfBox(
                probability=round(found.probability, 5),
                x_min=round(box.x_min),
                y_min=round(box.y_min),
                x_max=round(box.x_max),
                y_max=round(box.y_max),
            ),
            landmarks=[[round(x), round(y)] for x, y in found.points]
            if plugins.landmarks and found.points is not None
            else None,
            embedding=[float(v) for v in face.embedding]
            if plugins.calculator and face.embedding is not None
            else None,
            pose=None if pose is None else CfPose(pitch=pose.pitch, roll=pose.roll, yaw=pose.yaw),
            execution_time={slug: float(int(ms)) for slug, ms in found.execution_time.items()}
            if status
            else None,
        )


class CfSubjectIn(BaseModel):
    """A subject name (other fields, such as the Python SDK's ``api_endpoint``, are ignored).

    A missing name is the service's "Subject name is empty" (code 26), as an
    empty one is: CompreFace answers both so.
    """

    subject: str | None = Field(default=None, max_length=200)


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
    """How many examples (or subjects) were deleted."""

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
    """A subject with its (calibrated) similarity."""

    subject: str
    similarity: float


class CfRecognizedFace(CfFace):
    """A face with its most similar subjects."""

    subjects: list[CfSimilarSubject]


class CfComparedFace(CfFace):
    """A face with its similarity to the reference."""

    similarity: float


class CfVerifiedFace(CfComparedFace):
    """A face with its similarity to a stored example, and that example's subject."""

    subject: str


class CfRecognizeOut(BaseModel):
    """The result of recognize."""

    result: list[CfRecognizedFace]
    plugins_versions: dict[str, str] | None = None


class CfVerifyOut(BaseModel):
    """The result of verifying a photo against a stored example."""

    result: list[CfVerifiedFace]
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


class CfEmbeddingsIn(BaseModel):
    """Embeddings as the ``calculator`` plugin returns them."""

    embeddings: list[list[float]] = Field(min_length=1, max_length=100)


class CfEmbeddingsCompareIn(BaseModel):
    """A source embedding and target embeddings."""

    source: list[float] = Field(min_length=1, max_length=4096)
    targets: list[list[float]] = Field(min_length=1, max_length=100)


class CfEmbeddingSubjects(BaseModel):
    """One embedding (echoed) with its most similar subjects."""

    embedding: list[float]
    similarities: list[CfSimilarSubject]


class CfEmbeddingsRecognizeOut(BaseModel):
    """The result of recognizing embeddings."""

    result: list[CfEmbeddingSubjects]


class CfEmbeddingSimilarity(BaseModel):
    """One embedding (echoed) with its similarity."""

    embedding: list[float]
    similarity: float


class CfEmbeddingsVerifyOut(BaseModel):
    """The result of verifying embeddings."""

    result: list[CfEmbeddingSimilarity]
