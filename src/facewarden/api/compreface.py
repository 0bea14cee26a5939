"""CompreFace-compatible routes under ``/api/v1/``: its SDKs and integrations work unchanged.

Same paths, parameters, JSON shapes and status codes as CompreFace's REST
API (recognition subjects and faces, recognize, verify, detect), with
images as multipart file fields or base64 in JSON, and the ``x-api-key``
header, which here is a facewarden API key of the operator (or admin) role.
What differs, on purpose, is listed in docs/http-api.md ("CompreFace
compatibility"): enrollment needs a configured lawful basis, recognize names
only matches, listings are capped, there is no delete-everything and no
embedding ever leaves the server.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from starlette.datastructures import UploadFile

from facewarden.api.auth import allow
from facewarden.api.compreface_schemas import (
    CfComparedFace,
    CfDeleted,
    CfDetectOut,
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
from facewarden.api.state import acting_warden, image_work
from facewarden.api.uploads import decode_base64_image
from facewarden.errors import FacewardenError, ImageTooLargeError
from facewarden.service.compreface_match import ComparedFace, FoundFace
from facewarden.service.warden import Warden

__all__ = ["MissingPartError", "router"]

router = APIRouter(prefix="/api/v1", tags=["compreface"])
T = TypeVar("T")

_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": CfError} for code in (400, 401, 403, 404, 413, 415, 429)
}
_Limit = Annotated[int, Query(ge=0, le=100, description="faces to use, biggest first; 0: all")]
_Threshold = Annotated[float | None, Query(ge=0.0, le=1.0, description="min detection prob.")]
_Plugins = Annotated[str, Query(max_length=200, description="only 'landmarks' is provided")]
_Status = Annotated[bool, Query(description="add execution_time and plugins_versions")]


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
    kwargs = allow("operator")
    if image_fields:
        kwargs["openapi_extra"] = kwargs["openapi_extra"] | {
            "requestBody": _image_body(*image_fields)
        }
    return kwargs | {"responses": _ERRORS}


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
    if not status:
        return None
    return {
        "detector": str(getattr(warden.pipeline.detector, "name", "facewarden")),
        "calculator": str(getattr(warden.pipeline.embedder, "name", "facewarden")),
    }


def _face(found: FoundFace, plugins: str, elapsed: float | None) -> CfFace:
    landmarks = "landmarks" in {p.strip() for p in plugins.split(",")}
    return CfFace.of(found, landmarks=landmarks, elapsed_ms=elapsed)


def _compared(
    faces: Sequence[ComparedFace], plugins: str, elapsed: float | None
) -> list[CfComparedFace]:
    return [
        CfComparedFace(**_face(f, plugins, elapsed).model_dump(), similarity=f.similarity)
        for f in faces
    ]


# -- subjects ----------------------------------------------------------------


@router.post("/recognition/subjects", status_code=201, response_model=CfSubjectOut, **_operation())
def add_subject(body: CfSubjectIn, request: Request) -> CfSubjectOut:
    """Add a subject (it is stored with its first example)."""
    return CfSubjectOut(subject=acting_warden(request).compreface.add_subject(body.subject))


@router.get("/recognition/subjects", response_model=CfSubjectsOut, **_operation())
def list_subjects(request: Request) -> CfSubjectsOut:
    """The subjects' names (capped at the server's page size)."""
    return CfSubjectsOut(subjects=acting_warden(request).compreface.subjects())


@router.put("/recognition/subjects/{subject}", response_model=CfUpdated, **_operation())
def rename_subject(subject: str, body: CfSubjectIn, request: Request) -> CfUpdated:
    """Rename a subject (merging into an existing name is refused)."""
    acting_warden(request).compreface.rename_subject(subject, body.subject)
    return CfUpdated(updated=True)


@router.delete("/recognition/subjects/{subject}", response_model=CfSubjectOut, **_operation())
def delete_subject(subject: str, request: Request) -> CfSubjectOut:
    """Erase a subject and all its examples."""
    acting_warden(request).compreface.delete_subject(subject)
    return CfSubjectOut(subject=subject)


# -- examples ----------------------------------------------------------------


@router.post("/recognition/faces", status_code=201, response_model=CfExample, **_operation("file"))
async def add_example(
    request: Request,
    subject: Annotated[str, Query(min_length=1, max_length=200)],
    det_prob_threshold: _Threshold = None,
) -> CfExample:
    """Add a photo of a subject (the subject is created with its first photo)."""
    [image] = await _images(request, "file")
    example = await _call(
        request,
        lambda w: w.compreface.add_example(subject, image, min_probability=det_prob_threshold),
    )
    return CfExample(image_id=example.image_id, subject=example.subject)


@router.get("/recognition/faces", response_model=CfExamplesOut, **_operation())
def list_examples(
    request: Request,
    subject: Annotated[str | None, Query(max_length=200)] = None,
    page: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    size: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> CfExamplesOut:
    """A page of examples, of one subject or of all."""
    examples, total = acting_warden(request).compreface.examples(subject, page=page, size=size)
    return CfExamplesOut(
        faces=[CfExample(image_id=e.image_id, subject=e.subject) for e in examples],
        page_number=page,
        page_size=size,
        total_pages=math.ceil(total / size),
        total_elements=total,
    )


@router.delete("/recognition/faces", response_model=CfDeleted, **_operation())
def delete_examples(
    request: Request, subject: Annotated[str, Query(min_length=1, max_length=200)]
) -> CfDeleted:
    """Delete every example of a subject (which erases the subject)."""
    return CfDeleted(deleted=acting_warden(request).compreface.delete_examples(subject))


@router.delete("/recognition/faces/{image_id}", response_model=CfExample, **_operation())
def delete_example(image_id: str, request: Request) -> CfExample:
    """Delete one example (the last one erases its subject)."""
    example = acting_warden(request).compreface.delete_example(image_id)
    return CfExample(image_id=example.image_id, subject=example.subject)


# -- recognition, verification, detection --------------------------------------


@router.post("/recognition/recognize", response_model=CfRecognizeOut, **_operation("file"))
async def recognize(
    request: Request,
    limit: _Limit = 0,
    prediction_count: Annotated[int, Query(ge=0, le=100)] = 1,
    det_prob_threshold: _Threshold = None,
    face_plugins: _Plugins = "",
    status: _Status = False,
) -> CfRecognizeOut:
    """Each face of a photo with the subjects it matches (matches only)."""
    [image] = await _images(request, "file")
    started = time.perf_counter()
    faces = await _call(
        request,
        lambda w: w.compreface_match.recognize(
            image,
            limit=limit,
            prediction_count=max(1, prediction_count),
            min_probability=det_prob_threshold,
        ),
    )
    elapsed = (time.perf_counter() - started) * 1000 if status else None
    return CfRecognizeOut(
        result=[
            CfRecognizedFace(
                **_face(f, face_plugins, elapsed).model_dump(),
                subjects=[CfSimilarSubject(subject=n, similarity=s) for n, s in f.subjects],
            )
            for f in faces
        ],
        plugins_versions=_versions(acting_warden(request), status),
    )


@router.post(
    "/recognition/faces/{image_id}/verify", response_model=CfVerifyOut, **_operation("file")
)
async def verify_example(
    image_id: str,
    request: Request,
    limit: _Limit = 0,
    det_prob_threshold: _Threshold = None,
    face_plugins: _Plugins = "",
    status: _Status = False,
) -> CfVerifyOut:
    """The faces of a photo, each with its similarity to a stored example."""
    [image] = await _images(request, "file")
    started = time.perf_counter()
    faces = await _call(
        request,
        lambda w: w.compreface_match.verify(
            image_id, image, limit=limit, min_probability=det_prob_threshold
        ),
    )
    elapsed = (time.perf_counter() - started) * 1000 if status else None
    return CfVerifyOut(
        result=_compared(faces, face_plugins, elapsed),
        plugins_versions=_versions(acting_warden(request), status),
    )


@router.post(
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
) -> CfVerifyImagesOut:
    """The main face of the source photo against each face of the target photo."""
    source, target = await _images(request, "source_image", "target_image")
    started = time.perf_counter()
    main, matches = await _call(
        request,
        lambda w: w.compreface_match.verify_images(
            source, target, limit=limit, min_probability=det_prob_threshold
        ),
    )
    elapsed = (time.perf_counter() - started) * 1000 if status else None
    item = CfVerifyImagesItem(
        source_image_face=_face(main, face_plugins, elapsed),
        face_matches=_compared(matches, face_plugins, elapsed),
        plugins_versions=_versions(acting_warden(request), status),
    )
    return CfVerifyImagesOut(result=[item])


@router.post("/detection/detect", response_model=CfDetectOut, **_operation("file"))
async def detect(
    request: Request,
    limit: _Limit = 0,
    det_prob_threshold: _Threshold = None,
    face_plugins: _Plugins = "",
    status: _Status = False,
) -> CfDetectOut:
    """The faces of a photo."""
    [image] = await _images(request, "file")
    started = time.perf_counter()
    faces = await _call(
        request,
        lambda w: w.compreface_match.detect(image, limit=limit, min_probability=det_prob_threshold),
    )
    elapsed = (time.perf_counter() - started) * 1000 if status else None
    return CfDetectOut(
        result=[_face(f, face_plugins, elapsed) for f in faces],
        plugins_versions=_versions(acting_warden(request), status),
    )
