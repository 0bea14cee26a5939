"""CompreFace-compatible recognize, verify, detect and the embedding routes (CompreFace 1.2).

Served under ``/api/v1`` beside :mod:`facewarden.api.compreface`, as a router
of its own that the app includes directly: a router nested in another one is
one opaque route to the auth middleware's table, which then cannot check the
role before the body is read, nor name the allowed methods in a 405.
Similarities are facewarden's calibrated ones
(:mod:`facewarden.service.compreface_match`).
"""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import Request

from facewarden.api.compreface_http import (
    FaceOptions,
    PredictionCount,
    Predictions,
    Routes,
    call,
    images,
    operation,
)
from facewarden.api.compreface_schemas import (
    CfComparedFace,
    CfDetectOut,
    CfEmbeddingsCompareIn,
    CfEmbeddingSimilarity,
    CfEmbeddingsIn,
    CfEmbeddingsRecognizeOut,
    CfEmbeddingSubjects,
    CfEmbeddingsVerifyOut,
    CfFace,
    CfRecognizedFace,
    CfRecognizeOut,
    CfSimilarSubject,
    CfVerifiedFace,
    CfVerifyImagesItem,
    CfVerifyImagesOut,
    CfVerifyOut,
)
from facewarden.api.state import acting_warden
from facewarden.service.compreface_faces import FoundFace, Plugins
from facewarden.service.compreface_match import ComparedFace
from facewarden.service.warden import Warden

__all__ = ["router"]

_route = Routes(prefix="/api/v1", tags=["compreface"])
router = _route.router


def _versions(
    warden: Warden, status: bool, plugins: Plugins, *, matched: bool
) -> dict[str, str] | None:
    """``plugins_versions``: the detector and the plugins that ran, as CompreFace lists them.

    The calculator runs on every face to be ``matched`` (recognize, verify), else
    only when asked for; ``landmarks`` is never listed (CompreFace's detector gives
    them, and its answer has no such entry).
    """
    if not status:
        return None
    pipeline = warden.pipeline
    detector = str(getattr(pipeline.detector, "name", "facewarden"))
    calculator = str(getattr(pipeline.embedder, "name", "facewarden"))
    versions = {"detector": f"facewarden.{detector}"}
    if matched or plugins.calculator:
        versions["calculator"] = f"facewarden.{calculator}"
    if plugins.pose:
        versions["pose"] = "facewarden.pose_from_landmarks"
    return versions


def _compared(
    faces: Sequence[ComparedFace], plugins: Plugins, status: bool
) -> list[CfComparedFace]:
    return [
        CfComparedFace(**CfFace.of(f, plugins, status=status).model_dump(), similarity=f.similarity)
        for f in faces
    ]


# -- recognition, verification, detection --------------------------------------


@_route("POST", "/recognition/recognize", response_model=CfRecognizeOut, **operation("file"))
async def recognize(
    request: Request, query: FaceOptions, prediction_count: PredictionCount
) -> CfRecognizeOut:
    """Each face of a photo with its most similar subjects (calibrated similarity)."""
    [image] = await images(request, "file")
    plugins = Plugins.parse(query.face_plugins)
    faces = await call(
        request,
        lambda w: w.compreface_match.recognize(
            image,
            limit=query.limit,
            prediction_count=prediction_count,
            min_probability=query.det_prob_threshold,
            detect_faces=query.detect_faces,
            landmarks=plugins.landmarks,
            pose=plugins.pose,
        ),
    )
    return CfRecognizeOut(
        result=[
            CfRecognizedFace(
                **CfFace.of(f, plugins, status=query.status).model_dump(),
                subjects=[CfSimilarSubject(subject=n, similarity=s) for n, s in f.subjects],
            )
            for f in faces
        ],
        plugins_versions=_versions(acting_warden(request), query.status, plugins, matched=True),
    )


@_route(
    "POST", "/recognition/faces/{image_id}/verify", response_model=CfVerifyOut, **operation("file")
)
async def verify_example(
    image_id: str,
    request: Request,
    query: FaceOptions,
) -> CfVerifyOut:
    """The faces of a photo, each with its similarity to a stored example and its subject."""
    [image] = await images(request, "file")
    plugins = Plugins.parse(query.face_plugins)
    subject, faces = await call(
        request,
        lambda w: w.compreface_match.verify(
            image_id,
            image,
            limit=query.limit,
            min_probability=query.det_prob_threshold,
            detect_faces=query.detect_faces,
            landmarks=plugins.landmarks,
            pose=plugins.pose,
        ),
    )
    return CfVerifyOut(
        result=[
            CfVerifiedFace(**face.model_dump(), subject=subject)
            for face in _compared(faces, plugins, query.status)
        ],
        plugins_versions=_versions(acting_warden(request), query.status, plugins, matched=True),
    )


@_route(
    "POST",
    "/verification/verify",
    response_model=CfVerifyImagesOut,
    **operation("source_image", "target_image"),
)
async def verify_images(
    request: Request,
    query: FaceOptions,
) -> CfVerifyImagesOut:
    """The one face of the source photo against each face of the target photo."""
    source, target = await images(request, "source_image", "target_image")
    plugins = Plugins.parse(query.face_plugins)
    main, matches = await call(
        request,
        lambda w: w.compreface_match.verify_images(
            source,
            target,
            limit=query.limit,
            min_probability=query.det_prob_threshold,
            detect_faces=query.detect_faces,
            landmarks=plugins.landmarks,
            pose=plugins.pose,
        ),
    )
    item = CfVerifyImagesItem(
        source_image_face=CfFace.of(main, plugins, status=query.status),
        face_matches=_compared(matches, plugins, query.status),
        plugins_versions=_versions(acting_warden(request), query.status, plugins, matched=True),
    )
    return CfVerifyImagesOut(result=[item])


@_route("POST", "/detection/detect", response_model=CfDetectOut, **operation("file"))
async def detect(
    request: Request,
    query: FaceOptions,
) -> CfDetectOut:
    """The faces of a photo."""
    [image] = await images(request, "file")
    plugins = Plugins.parse(query.face_plugins)
    faces: list[FoundFace] = await call(
        request,
        lambda w: w.compreface_match.detect(
            image,
            limit=query.limit,
            min_probability=query.det_prob_threshold,
            detect_faces=query.detect_faces,
            embed=plugins.calculator,
            landmarks=plugins.landmarks,
            pose=plugins.pose,
        ),
    )
    return CfDetectOut(
        result=[CfFace.of(f, plugins, status=query.status) for f in faces],
        plugins_versions=_versions(acting_warden(request), query.status, plugins, matched=False),
    )


# -- embeddings (CompreFace 1.2) -----------------------------------------------


@_route(
    "POST",
    "/recognition/embeddings/recognize",
    response_model=CfEmbeddingsRecognizeOut,
    **operation(),
)
def recognize_embeddings(
    body: CfEmbeddingsIn, request: Request, prediction_count: Predictions = 1
) -> CfEmbeddingsRecognizeOut:
    """The most similar subjects of each embedding (as the calculator plugin returns them)."""
    answers = acting_warden(request).compreface_match.recognize_embeddings(
        body.embeddings, prediction_count=prediction_count
    )
    return CfEmbeddingsRecognizeOut(
        result=[
            CfEmbeddingSubjects(
                embedding=e,
                similarities=[CfSimilarSubject(subject=n, similarity=s) for n, s in a.subjects],
            )
            for e, a in zip(body.embeddings, answers, strict=True)
        ]
    )


@_route(
    "POST",
    "/recognition/embeddings/faces/{image_id}/verify",
    response_model=CfEmbeddingsVerifyOut,
    **operation(),
)
def verify_embeddings(
    image_id: str, body: CfEmbeddingsIn, request: Request
) -> CfEmbeddingsVerifyOut:
    """The similarity of each embedding to a stored example, the most similar first."""
    similarities = acting_warden(request).compreface_match.verify_embeddings(
        image_id, body.embeddings
    )
    return _best_first(body.embeddings, similarities)


@_route(
    "POST",
    "/verification/embeddings/verify",
    response_model=CfEmbeddingsVerifyOut,
    **operation(),
)
def compare_embeddings(body: CfEmbeddingsCompareIn, request: Request) -> CfEmbeddingsVerifyOut:
    """The similarity of each target embedding to the source embedding, the most similar first."""
    similarities = acting_warden(request).compreface_match.compare_embeddings(
        body.source, body.targets
    )
    return _best_first(body.targets, similarities)


def _best_first(
    embeddings: Sequence[list[float]], similarities: Sequence[float]
) -> CfEmbeddingsVerifyOut:
    """Each embedding with its similarity, the most similar first (as CompreFace sorts them)."""
    pairs = sorted(zip(embeddings, similarities, strict=True), key=lambda p: -p[1])
    return CfEmbeddingsVerifyOut(
        result=[CfEmbeddingSimilarity(embedding=e, similarity=s) for e, s in pairs]
    )
