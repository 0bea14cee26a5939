"""CompreFace-compatible routes under ``/api/v1/``: its SDKs and integrations work unchanged.

Same paths, parameters, JSON shapes, status codes and error codes as
CompreFace's REST API (recognition subjects and faces, recognize, verify,
detect, image downloads, and the embedding routes of CompreFace 1.2), with
images as multipart file fields or base64 in JSON, and the ``x-api-key``
header, which here is a facewarden API key of the operator (or admin) role.
Every path also answers with a trailing slash (CompreFace's documentation
writes some that way), without a redirect. Here: subjects, examples and
their photos; recognize, verify, detect and the embedding routes are in
:mod:`facewarden.api.compreface_recognition`, the shared parts in
:mod:`facewarden.api.compreface_http`. What differs, on purpose, is
listed in docs/http-api.md ("CompreFace compatibility"): enrollment needs a
configured lawful basis, photos are served only when kept (encrypted), and
similarities are facewarden's calibrated ones.
"""

from __future__ import annotations

import math
from typing import Annotated

from fastapi import Body, Query, Request
from fastapi.responses import Response

from facewarden.api.auth import public
from facewarden.api.compreface_http import (
    ERRORS,
    ROLES,
    Detect,
    MissingPartError,
    PageText,
    Routes,
    SizeText,
    Subject,
    Threshold,
    call,
    images,
    operation,
    spring_page,
    spring_param,
)
from facewarden.api.compreface_schemas import (
    CfDeleted,
    CfExample,
    CfExamplesOut,
    CfSubjectIn,
    CfSubjectOut,
    CfSubjectsOut,
    CfUpdated,
)
from facewarden.api.state import acting_warden, server
from facewarden.errors import PermissionDeniedError
from facewarden.service.roles import expand_roles

__all__ = ["MissingPartError", "router"]

_route = Routes(prefix="/api/v1", tags=["compreface"])
router = _route.router

# -- subjects ----------------------------------------------------------------


@_route(
    "POST", "/recognition/subjects", status_code=201, response_model=CfSubjectOut, **operation()
)
def add_subject(body: CfSubjectIn, request: Request) -> CfSubjectOut:
    """Add a subject without examples (400, code 43, if it exists, ignoring case)."""
    return CfSubjectOut(subject=acting_warden(request).compreface.add_subject(body.subject or ""))


@_route("GET", "/recognition/subjects", response_model=CfSubjectsOut, **operation())
def list_subjects(request: Request) -> CfSubjectsOut:
    """Every subject's name."""
    return CfSubjectsOut(subjects=acting_warden(request).compreface.subjects())


@_route("DELETE", "/recognition/subjects", response_model=CfDeleted, **operation())
def delete_all_subjects(request: Request) -> CfDeleted:
    """Erase every subject with its examples: ``{"deleted": <subjects>}``."""
    subjects, _ = acting_warden(request).compreface.delete_all_subjects()
    return CfDeleted(deleted=subjects)


@_route("PUT", "/recognition/subjects/{subject}", response_model=CfUpdated, **operation())
def rename_subject(subject: str, body: CfSubjectIn, request: Request) -> CfUpdated:
    """Rename a subject; onto an existing name, merge the two; onto itself, no update
    (as CompreFace)."""
    return CfUpdated(
        updated=acting_warden(request).compreface.rename_subject(subject, body.subject or "")
    )


@_route("DELETE", "/recognition/subjects/{subject}", response_model=CfSubjectOut, **operation())
def delete_subject(subject: str, request: Request) -> CfSubjectOut:
    """Erase a subject and all its examples: its name as stored (404, code 42, if unknown)."""
    return CfSubjectOut(subject=acting_warden(request).compreface.delete_subject(subject))


# -- examples ----------------------------------------------------------------


@_route(
    "POST", "/recognition/faces", status_code=201, response_model=CfExample, **operation("file")
)
async def add_example(
    request: Request,
    subject: Subject,
    det_prob_threshold: Threshold = None,
    detect_faces: Detect = True,
) -> CfExample:
    """Add a photo of a subject (the subject is created with its first photo if need be).

    Every parameter may come as a multipart field instead, as Spring binds them.
    """
    det_prob_threshold = await spring_param(request, "det_prob_threshold", det_prob_threshold)
    detect_faces = await spring_param(request, "detect_faces", detect_faces)
    [image] = await images(request, "file")
    example = await call(
        request,
        lambda w: w.compreface_examples.add_example(
            subject, image, min_probability=det_prob_threshold, detect_faces=detect_faces
        ),
    )
    return CfExample(image_id=example.image_id, subject=example.subject)


@_route("GET", "/recognition/faces", response_model=CfExamplesOut, **operation())
def list_examples(
    request: Request,
    subject: Annotated[str | None, Query(max_length=200)] = None,
    page: PageText = None,
    size: SizeText = None,
) -> CfExamplesOut:
    """A page of examples, of one subject or of all, in the order they were added.

    ``page`` and ``size`` are read as CompreFace reads them (never refused;
    ``size`` capped at 2000).
    """
    number, wanted = spring_page(page, size)
    collection = acting_warden(request).compreface_examples
    examples, total, used = collection.examples(subject or None, page=number, size=wanted)
    return CfExamplesOut(
        faces=[CfExample(image_id=e.image_id, subject=e.subject) for e in examples],
        page_number=number,
        page_size=used,
        total_pages=math.ceil(total / used),
        total_elements=total,
    )


@_route("DELETE", "/recognition/faces", response_model=CfDeleted, **operation())
def delete_examples(
    request: Request, subject: Annotated[str | None, Query(max_length=200)] = None
) -> CfDeleted:
    """Delete every example of a subject (erasing it), or without ``subject`` of every subject."""
    return CfDeleted(
        deleted=acting_warden(request).compreface_examples.delete_examples(subject or None)
    )


@_route("POST", "/recognition/faces/delete", response_model=list[CfExample], **operation())
def delete_examples_by_id(
    request: Request, image_ids: Annotated[list[str], Body(max_length=1000)]
) -> list[CfExample]:
    """Delete several examples by image id (ids not found are skipped)."""
    deleted = acting_warden(request).compreface_examples.delete_examples_by_id(image_ids)
    return [CfExample(image_id=e.image_id, subject=e.subject) for e in deleted]


@_route("DELETE", "/recognition/faces/{image_id}", response_model=CfExample, **operation())
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
    **(operation() | {"responses": ERRORS | _JPEG}),
)
def download_example(image_id: str, request: Request) -> Response:
    """The kept photo of an example (404, code 11, when photos are not kept); audited."""
    return _jpeg(acting_warden(request).compreface_examples.photo(image_id))


@_route(
    "GET",
    "/static/{api_key}/images/{image_id}",
    response_class=Response,
    **public(),
    responses=ERRORS | _JPEG,
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
    allowed = expand_roles(ROLES)
    if principal.role not in allowed:
        raise PermissionDeniedError(
            f"the {principal.role} role may not do this (allowed: {', '.join(sorted(allowed))})"
        )
    request.scope.setdefault("state", {})["principal"] = principal
    return _jpeg(acting_warden(request).compreface_examples.photo(image_id))
