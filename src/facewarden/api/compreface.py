"""CompreFace-compatible routes under ``/api/v1/``: its SDKs and integrations work unchanged.

Same paths, parameters, JSON shapes, status codes and error codes as
CompreFace's REST API (recognition subjects and faces, recognize, verify,
detect, image downloads, and the embedding routes of CompreFace 1.2), with
images as multipart file fields or base64 in JSON, and the ``x-api-key``
header, which here is a facewarden API key of the operator (or admin) role.
Every path also answers with a trailing slash (CompreFace's documentation
writes some that way), without a redirect. What differs, on purpose, is
listed in docs/http-api.md ("CompreFace compatibility"): enrollment needs a
configured lawful basis, photos are served only when kept (encrypted), and
similarities are facewarden's calibrated ones.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile

from facewarden.api.auth import allow, public
from facewarden.api.compreface_schemas import (
    CfComparedFace,
    CfDeleted,
    CfDetectOut,
    CfEmbeddingsCompareIn,
    CfEmbeddingSimilarity,
    CfEmbeddingsIn,
    CfEmbeddingsRecognizeOut,
    CfEmbeddingSubjects,
    CfEmbeddingsVerifyOut,
    CfError,
    CfExample,
    CfExamplesOut,
    CfFace,
    CfRecognizedFace,
    CfRecognizeOut,
    CfSimilarSubject,
    CfSubjectIn,
    CfSubjectOut,
    CfSubjectsOut,
    CfUpdated,
    CfVerifyImagesItem,
    CfVerifyImagesOut,
    CfVerifyOut,
)
from facewarden.api.errors import UnsupportedMediaError
from facewarden.api.state import acting_warden, image_work, server
from facewarden.api.uploads import decode_base64_image
from facewarden.errors import FacewardenError, ImageTooLargeError, PermissionDeniedError
from facewarden.service.access import expand_roles
from facewarden.service.compreface_faces import AVAILABLE_PLUGINS, FoundFace, Plugins
from facewarden.service.compreface_match import ComparedFace
from facewarden.service.warden import Warden

__all__ = ["MissingPartError", "router"]

router = APIRouter(prefix="/api/v1", tags=["compreface"])
T = TypeVar("T")
_ROLES = ("operator",)

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": CfError} for code in (400, 401, 403, 404, 413, 415, 429)
}
_Limit = Annotated[int, Query(ge=0, le=1000, description="faces to use, biggest first; 0: all")]
_Threshold = Annotated[
    float | None, Query(ge=0.0, le=1.0, description="min. box.probability of a face")
]
_Plugins = Annotated[
    str,
    Query(max_length=200, description="comma-separated: calculator, landmarks, pose"),
]
_Status = Annotated[bool, Query(description="add execution_time and plugins_versions")]
_Detect = Annotated[bool, Query(description="false: the image is one cropped face")]
_Predictions = Annotated[int, Query(ge=1, le=1000, description="subjects per face (capped)")]


class MissingPartError(FacewardenError):
    """A required image field is missing from the request."""

    http_status = 400
    compreface_code = 33


def _image_body(*fields: str) -> dict[str, Any]:
    binary = {name: {"type": "string", "format": "binary"} for name in fields}
    encoded = {name: {"type": "string", "description": "base64"} for name in fields}
    return {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {"type": "object", "properties": binary, "required": list(fields)}
            },
            "application/json": {
                "schema": {"type": "object", "properties": encoded, "required": list(fields)}
            },
        },
    }


def _operation(*image_fields: str) -> dict[str, Any]:
    kwargs = allow(*_ROLES)
    if image_fields:
        kwargs["openapi_extra"] = kwargs["openapi_extra"] | {
            "requestBody": _image_body(*image_fields)
        }
    return kwargs | {"responses": _ERRORS, "response_model_exclude_none": True}


def _route(method: str, path: str, **kwargs: Any) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Register ``path`` and, hidden from the OpenAPI document, ``path/`` (no redirect)."""

    def decorate(function: Callable[..., T]) -> Callable[..., T]:
        router.add_api_route(path, function, methods=[method], **kwargs)
        hidden = kwargs | {"include_in_schema": False}
        router.add_api_route(path + "/", function, methods=[method], **hidden)
        return function

    return decorate


async def _images(request: Request, *fields: str) -> list[bytes]:
    """The images in ``fields`` of a multipart or JSON (base64) body, each capped."""
    cap = acting_warden(request).settings.max_image_bytes
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media == "multipart/form-data":
        async with request.form(max_files=len(fields), max_fields=16) as form:
            parts = [form.get(name) for name in fields]
            images = []
            for name, part in zip(fields, parts, strict=True):
                if not isinstance(part, UploadFile):
                    raise MissingPartError(f"Required request part '{name}' is not present")
                data = await part.read(cap + 1)
                if len(data) > cap:
                    raise ImageTooLargeError(f"{name}: the image is larger than {cap} bytes")
                images.append(data)
            return images
    if media == "application/json":
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise MissingPartError("the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise MissingPartError("the body must be a JSON object")
        images = []
        for name in fields:
            value = body.get(name)
            if not isinstance(value, str):
                raise MissingPartError(f"Required request part '{name}' is not present")
            images.append(decode_base64_image(value, cap, field=name))
        return images
    raise UnsupportedMediaError("multipart/form-data or application/json", media)


async def _call(request: Request, work: Callable[[Warden], T]) -> T:
    """Run the (CPU-heavy) service call in the image thread pool, as the request's caller."""
    warden = acting_warden(request)
    return await image_work(request, lambda: work(warden))


def _versions(warden: Warden, status: bool) -> dict[str, str] | None:
    """``plugins_versions``: the detector and every plugin this deployment runs."""
    if not status:
        return None
    pipeline = warden.pipeline
    detector = str(getattr(pipeline.detector, "name", "facewarden"))
    calculator = str(getattr(pipeline.embedder, "name", "facewarden"))
    names = {
        "calculator": f"facewarden.{calculator}",
        "landmarks": "dlib.shape_predictor_5_face_landmarks",
        "pose": "facewarden.pose_from_landmarks",
    }
    return {"detector": f"facewarden.{detector}"} | {p: names[p] for p in AVAILABLE_PLUGINS}


def _elapsed(started: float, status: bool) -> float | None:
    return (time.perf_counter() - started) * 1000 if status else None


def _compared(
    faces: Sequence[ComparedFace], plugins: Plugins, elapsed: float | None
) -> list[CfComparedFace]:
    return [
        CfComparedFace(
            **CfFace.of(f, plugins, elapsed_ms=elapsed).model_dump(), similarity=f.similarity
        )
        for f in faces
    ]


# -- subjects ----------------------------------------------------------------


@_route(
    "POST", "/recognition/subjects", status_code=201, response_model=CfSubjectOut, **_operation()
)
def add_subject(body: CfSubjectIn, request: Request) -> CfSubjectOut:
    """Add a subject without examples (400, code 43, if it exists, ignoring case)."""
    return CfSubjectOut(subject=acting_warden(request).compreface.add_subject(body.subject))


@_route("GET", "/recognition/subjects", response_model=CfSubjectsOut, **_operation())
def list_subjects(request: Request) -> CfSubjectsOut:
    """Every subject's name."""
    return CfSubjectsOut(subjects=acting_warden(request).compreface.subjects())


@_route("DELETE", "/recognition/subjects", response_model=CfDeleted, **_operation())
def delete_all_subjects(request: Request) -> CfDeleted:
    """Erase every subject with its examples: ``{"deleted": <subjects>}``."""
    subjects, _ = acting_warden(request).compreface.delete_all_subjects()
    return CfDeleted(deleted=subjects)


@_route("PUT", "/recognition/subjects/{subject}", response_model=CfUpdated, **_operation())
def rename_subject(subject: str, body: CfSubjectIn, request: Request) -> CfUpdated:
    """Rename a subject; onto an existing name, merge the two (as CompreFace)."""
    return CfUpdated(
        updated=acting_warden(request).compreface.rename_subject(subject, body.subject)
    )


@_route("DELETE", "/recognition/subjects/{subject}", response_model=CfSubjectOut, **_operation())
def delete_subject(subject: str, request: Request) -> CfSubjectOut:
    """Erase a subject and all its examples (404, code 42, if unknown)."""
    acting_warden(request).compreface.delete_subject(subject)
    return CfSubjectOut(subject=subject)


# -- examples ----------------------------------------------------------------


@_route(
    "POST", "/recognition/faces", status_code=201, response_model=CfExample, **_operation("file")
)
async def add_example(
    request: Request,
    subject: Annotated[str, Query(min_length=1, max_length=200)],
    det_prob_threshold: _Threshold = None,
    detect_faces: _Detect = True,
) -> CfExample:
    """Add a photo of a subject (the subject is created with its first photo if need be)."""
    [image] = await _images(request, "file")
    example = await _call(
        request,
        lambda w: w.compreface_examples.add_example(
            subject, image, min_probability=det_prob_threshold, detect_faces=detect_faces
        ),
    )
    return CfExample(image_id=example.image_id, subject=example.subject)


@_route("GET", "/recognition/faces", response_model=CfExamplesOut, **_operation())
def list_examples(
    request: Request,
    subject: Annotated[str | None, Query(max_length=200)] = None,
    page: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    size: Annotated[int, Query(ge=1, le=1_000_000)] = 20,
) -> CfExamplesOut:
    """A page of examples, of one subject or of all (``size`` capped at 2000, as CompreFace)."""
    collection = acting_warden(request).compreface_examples
    examples, total, used = collection.examples(subject or None, page=page, size=size)
    return CfExamplesOut(
        faces=[CfExample(image_id=e.image_id, subject=e.subject) for e in examples],
        page_number=page,
        page_size=used,
        total_pages=math.ceil(total / used),
        total_elements=total,
    )


@_route("DELETE", "/recognition/faces", response_model=CfDeleted, **_operation())
def delete_examples(
    request: Request, subject: Annotated[str | None, Query(max_length=200)] = None
) -> CfDeleted:
    """Delete every example of a subject (erasing it), or without ``subject`` of every subject."""
    return CfDeleted(
        deleted=acting_warden(request).compreface_examples.delete_examples(subject or None)
    )


@_route("POST", "/recognition/faces/delete", response_model=list[CfExample], **_operation())
def delete_examples_by_id(
    request: Request, image_ids: Annotated[list[str], Body(max_length=1000)]
) -> list[CfExample]:
    """Delete several examples by image id (ids not found are skipped)."""
    deleted = acting_warden(request).compreface_examples.delete_examples_by_id(image_ids)
    return [CfExample(image_id=e.image_id, subject=e.subject) for e in deleted]


@_route("DELETE", "/recognition/faces/{image_id}", response_model=CfExample, **_operation())
def delete_example(image_id: str, request: Request) -> CfExample:
    """Delete one example (the last one erases its subject)."""
    example = acting_warden(request).compreface_examples.delete_example(image_id)
    return CfExample(image_id=example.image_id, subject=example.subject)


_JPEG = {200: {"content": {"image/jpeg": {}}, "description": "the kept photo"}}


def _jpeg(data: bytes) -> Response:
    # A face photo: never cached by a browser or a proxy.
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})


@_route(
    "GET",
    "/recognition/faces/{image_id}/img",
    response_class=Response,
    **(_operation() | {"responses": _ERRORS | _JPEG}),
)
def download_example(image_id: str, request: Request) -> Response:
    """The kept photo of an example (404, code 11, when photos are not kept); audited."""
    return _jpeg(acting_warden(request).compreface_examples.photo(image_id))


@_route(
    "GET",
    "/static/{api_key}/images/{image_id}",
    response_class=Response,
    **public(),
    responses=_ERRORS | _JPEG,
)
def download_example_by_url(api_key: str, image_id: str, request: Request) -> Response:
    """CompreFace's "direct download" URL: the API key is in the path (see docs: a risk).

    The key is checked here as the header would be (same lockout), and must
    be an operator's or an admin's.
    """
    state = server(request)
    client = request.client.host if request.client else "unknown"
    principal = state.anonymous.access.authenticate_key(
        api_key.strip(), client=client, limiter=state.limiter.api_keys
    )
    allowed = expand_roles(_ROLES)
    if principal.role not in allowed:
        raise PermissionDeniedError(
            f"the {principal.role} role may not do this (allowed: {', '.join(sorted(allowed))})"
        )
    request.scope.setdefault("state", {})["principal"] = principal
    return _jpeg(acting_warden(request).compreface_examples.photo(image_id))


# -- recognition, verification, detection --------------------------------------


@_route("POST", "/recognition/recognize", response_model=CfRecognizeOut, **_operation("file"))
async def recognize(
    request: Request,
    limit: _Limit = 0,
    prediction_count: _Predictions = 1,
    det_prob_threshold: _Threshold = None,
    face_plugins: _Plugins = "",
    status: _Status = False,
    detect_faces: _Detect = True,
) -> CfRecognizeOut:
    """Each face of a photo with its most similar subjects (calibrated similarity)."""
    [image] = await _images(request, "file")
    plugins, started = Plugins.parse(face_plugins), time.perf_counter()
    faces = await _call(
        request,
        lambda w: w.compreface_match.recognize(
            image,
            limit=limit,
            prediction_count=prediction_count,
            min_probability=det_prob_threshold,
            detect_faces=detect_faces,
        ),
    )
    elapsed = _elapsed(started, status)
    return CfRecognizeOut(
        result=[
            CfRecognizedFace(
                **CfFace.of(f, plugins, elapsed_ms=elapsed).model_dump(),
                subjects=[CfSimilarSubject(subject=n, similarity=s) for n, s in f.subjects],
            )
            for f in faces
        ],
        plugins_versions=_versions(acting_warden(request), status),
    )


@_route(
    "POST", "/recognition/faces/{image_id}/verify", response_model=CfVerifyOut, **_operation("file")
)
async def verify_example(
    image_id: str,
    request: Request,
    limit: _Limit = 0,
    det_prob_threshold: _Threshold = None,
    face_plugins: _Plugins = "",
    status: _Status = False,
    detect_faces: _Detect = True,
) -> CfVerifyOut:
    """The faces of a photo, each with its similarity to a stored example."""
    [image] = await _images(request, "file")
    plugins, started = Plugins.parse(face_plugins), time.perf_counter()
    faces = await _call(
        request,
        lambda w: w.compreface_match.verify(
            image_id,
            image,
            limit=limit,
            min_probability=det_prob_threshold,
            detect_faces=detect_faces,
        ),
    )
    return CfVerifyOut(
        result=_compared(faces, plugins, _elapsed(started, status)),
        plugins_versions=_versions(acting_warden(request), status),
    )


@_route(
    "POST",
    "/verification/verify",
    response_model=CfVerifyImagesOut,
    **_operation("source_image", "target_image"),
)
async def verify_images(
    request: Request,
    limit: _Limit = 0,
    det_prob_threshold: _Threshold = None,
    face_plugins: _Plugins = "",
    status: _Status = False,
    detect_faces: _Detect = True,
) -> CfVerifyImagesOut:
    """The one face of the source photo against each face of the target photo."""
    source, target = await _images(request, "source_image", "target_image")
    plugins, started = Plugins.parse(face_plugins), time.perf_counter()
    main, matches = await _call(
        request,
        lambda w: w.compreface_match.verify_images(
            source,
            target,
            limit=limit,
            min_probability=det_prob_threshold,
            detect_faces=detect_faces,
        ),
    )
    elapsed = _elapsed(started, status)
    item = CfVerifyImagesItem(
        source_image_face=CfFace.of(main, plugins, elapsed_ms=elapsed),
        face_matches=_compared(matches, plugins, elapsed),
        plugins_versions=_versions(acting_warden(request), status),
    )
    return CfVerifyImagesOut(result=[item])


@_route("POST", "/detection/detect", response_model=CfDetectOut, **_operation("file"))
async def detect(
    request: Request,
    limit: _Limit = 0,
    det_prob_threshold: _Threshold = None,
    face_plugins: _Plugins = "",
    status: _Status = False,
    detect_faces: _Detect = True,
) -> CfDetectOut:
    """The faces of a photo."""
    [image] = await _images(request, "file")
    plugins, started = Plugins.parse(face_plugins), time.perf_counter()
    faces: list[FoundFace] = await _call(
        request,
        lambda w: w.compreface_match.detect(
            image,
            limit=limit,
            min_probability=det_prob_threshold,
            detect_faces=detect_faces,
            embed=plugins.calculator,
        ),
    )
    elapsed = _elapsed(started, status)
    return CfDetectOut(
        result=[CfFace.of(f, plugins, elapsed_ms=elapsed) for f in faces],
        plugins_versions=_versions(acting_warden(request), status),
    )


# -- embeddings (CompreFace 1.2) -----------------------------------------------


@_route(
    "POST",
    "/recognition/embeddings/recognize",
    response_model=CfEmbeddingsRecognizeOut,
    **_operation(),
)
def recognize_embeddings(
    body: CfEmbeddingsIn, request: Request, prediction_count: _Predictions = 1
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
    **_operation(),
)
def verify_embeddings(
    image_id: str, body: CfEmbeddingsIn, request: Request
) -> CfEmbeddingsVerifyOut:
    """The similarity of each embedding to a stored example."""
    similarities = acting_warden(request).compreface_match.verify_embeddings(
        image_id, body.embeddings
    )
    return CfEmbeddingsVerifyOut(
        result=[
            CfEmbeddingSimilarity(embedding=e, similarity=s)
            for e, s in zip(body.embeddings, similarities, strict=True)
        ]
    )


@_route(
    "POST",
    "/verification/embeddings/verify",
    response_model=CfEmbeddingsVerifyOut,
    **_operation(),
)
def compare_embeddings(body: CfEmbeddingsCompareIn, request: Request) -> CfEmbeddingsVerifyOut:
    """The similarity of each target embedding to the source embedding."""
    similarities = acting_warden(request).compreface_match.compare_embeddings(
        body.source, body.targets
    )
    return CfEmbeddingsVerifyOut(
        result=[
            CfEmbeddingSimilarity(embedding=e, similarity=s)
            for e, s in zip(body.targets, similarities, strict=True)
        ]
    )
