"""What the CompreFace-compatible routes share: parameters, errors, image bodies, routing.

See :mod:`facewarden.api.compreface`. Images come as multipart file fields
or base64 in JSON, each capped at ``max_image_bytes``; the service calls run
in the image thread pool as the request's caller.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BeforeValidator, Field, TypeAdapter, ValidationError
from starlette.datastructures import UploadFile

from facewarden.api.auth import allow
from facewarden.api.compreface_form import close_form, read_form
from facewarden.api.compreface_schemas import CfError
from facewarden.api.errors import UnsupportedMediaError
from facewarden.api.state import acting_warden, image_work
from facewarden.api.uploads import decode_base64_image
from facewarden.errors import FacewardenError, ImageTooLargeError
from facewarden.service.warden import Warden

__all__ = [
    "ERRORS",
    "ROLES",
    "Detect",
    "EmptyFieldError",
    "FaceOptions",
    "FaceQuery",
    "Limit",
    "MissingPartError",
    "PageText",
    "PluginNames",
    "PredictionCount",
    "Predictions",
    "Routes",
    "SizeText",
    "Status",
    "Subject",
    "Threshold",
    "UnreadableBodyError",
    "call",
    "images",
    "operation",
    "spring_page",
    "spring_param",
]

T = TypeVar("T")
ROLES = ("operator",)

ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": CfError} for code in (400, 401, 403, 404, 413, 415, 429)
}
_INT_MAX = 2**31 - 1  # CompreFace binds counts to a Java int: any larger number is a 400


def _blank_is(default: object) -> BeforeValidator:
    """Read a blank value (``limit=``) as ``default``, as Spring binds it for CompreFace.

    Clients that fill a query template send unset options blank; Spring
    takes the parameter's default value then (or null where it has none).
    """
    return BeforeValidator(lambda value: default if value == "" else value)


Limit = Annotated[
    int,
    _blank_is(0),
    Query(ge=0, le=_INT_MAX, description="faces to use, biggest first; 0: all"),
]
Threshold = Annotated[
    # The bounds sit on the number: a blank value is None, which they cannot apply to.
    Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)] | None,
    _blank_is(None),
    Query(description="min. box.probability of a face"),
]
PluginNames = Annotated[
    str,
    Query(max_length=200, description="comma-separated: calculator, landmarks, pose"),
]
Status = Annotated[
    bool, _blank_is(False), Query(description="add execution_time and plugins_versions")
]
Detect = Annotated[bool, _blank_is(True), Query(description="false: the image is one cropped face")]
Predictions = Annotated[
    int,
    _blank_is(1),
    Query(
        ge=-1,
        le=_INT_MAX,
        description="subjects per face (capped at FACEWARDEN_MAX_TOP_K); -1: every subject up "
        "to the cap; 0 is refused",
    ),
]


_JAVA_INT = re.compile(r"[+-]?[0-9]{1,10}")


def _java_int(text: str | None) -> int | None:
    """``text`` as Java's ``Integer.parseInt`` reads it, or None where that would throw."""
    if text is None or not _JAVA_INT.fullmatch(text):
        return None
    value = int(text)
    return value if -_INT_MAX - 1 <= value <= _INT_MAX else None


PageText = Annotated[
    str | None, Query(description="page number from 0 (a negative page or no number: 0)")
]
SizeText = Annotated[
    str | None,
    Query(description="examples per page (default 20; under 1 or no number: 20; at most 2000)"),
]


def spring_page(page: str | None, size: str | None, *, default_size: int = 20) -> tuple[int, int]:
    """``(page, size)`` read as CompreFace's Spring Data reads them: never refused.

    A negative page, or one that is no number, is page 0; a size under 1,
    absent or no number is ``default_size`` (the cap on a size is the caller's).
    """
    number = _java_int(page)
    wanted = _java_int(size)
    return max(0, number or 0), default_size if wanted is None or wanted < 1 else wanted


@dataclass(frozen=True, slots=True)
class FaceQuery:
    """The query parameters of every route that finds the faces of a photo (CompreFace's names)."""

    limit: int
    det_prob_threshold: float | None
    face_plugins: str
    status: bool
    detect_faces: bool


_SubjectText = Annotated[str, Query(max_length=200, description="the subject's name")]

#: How each parameter is read, for one sent as a multipart field (:func:`spring_param`).
_READERS: dict[str, TypeAdapter[Any]] = {
    "limit": TypeAdapter(Limit),
    "det_prob_threshold": TypeAdapter(Threshold),
    "face_plugins": TypeAdapter(PluginNames),
    "status": TypeAdapter(Status),
    "detect_faces": TypeAdapter(Detect),
    "prediction_count": TypeAdapter(Predictions),
    "subject": TypeAdapter(_SubjectText),
}


def _media(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def _form_fields(request: Request) -> dict[str, list[str]]:
    """The text fields of a multipart body, by name (none for other bodies)."""
    if _media(request) != "multipart/form-data":
        return {}
    # Parsed once: images() is handed the same form. It is closed by
    # _closing_form when the request ends, whether or not images() read it.
    form = await read_form(request)
    fields: dict[str, list[str]] = {}
    for name, value in form.multi_items():
        if isinstance(value, str):
            fields.setdefault(name, []).append(value)
    return fields


async def _closing_form(request: Request) -> AsyncIterator[None]:
    """A dependency that closes the multipart form :func:`_form_fields` parsed, if it did."""
    try:
        yield
    finally:
        await close_form(request)


_FormClosed = Annotated[None, Depends(_closing_form)]


async def spring_param(request: Request, name: str, value: T, *, joined: bool = False) -> T:
    """``value``, as the query gave it; where the query has no ``name``, the multipart
    text field of that name, read as the query's would be.

    Spring binds a multipart body's text fields as request parameters, as the
    query's (the query's value first), so CompreFace's clients may post
    ``subject`` or ``limit`` beside the file. A parameter given several times
    (in the query, or as several fields) is refused, as on every route, so no
    value is dropped unsaid; with ``joined`` its values are joined by commas
    instead, as Spring binds a String parameter (``face_plugins``).

    Raises:
        RequestValidationError: the value is not one the parameter takes, or the
            parameter is given several times.
    """
    where, sent = "query", request.query_params.getlist(name)
    if not sent:
        where, sent = "body", (await _form_fields(request)).get(name, [])
    if len(sent) > 1 and not joined:
        raise RequestValidationError(
            [
                {
                    "type": "repeated",
                    "loc": (where, name),
                    "msg": f"sent {len(sent)} times; this route takes one",
                    "input": None,
                }
            ]
        )
    if not sent or (where == "query" and len(sent) == 1):
        return value  # absent, or as FastAPI read it from the query
    read: T = _read(name, ",".join(sent))
    return read


def _read(name: str, text: str) -> Any:
    """A parameter's value read from ``text`` as the query's would be.

    Raises:
        RequestValidationError: not a value the parameter takes.
    """
    try:
        return _READERS[name].validate_python(text)
    except ValidationError as exc:
        raise RequestValidationError(
            [error | {"loc": ("query", name)} for error in exc.errors()]
        ) from None


async def face_query(
    request: Request,
    _: _FormClosed,
    limit: Limit = 0,
    det_prob_threshold: Threshold = None,
    face_plugins: PluginNames = "",
    status: Status = False,
    detect_faces: Detect = True,
) -> FaceQuery:
    """The five face parameters, declared once for recognize, both verifies and detect.

    A dependency, so the OpenAPI document lists them (names, bounds,
    descriptions) on each of those routes as if each declared them; async,
    so FastAPI calls it in the event loop rather than a worker thread. Each
    may come as a multipart field instead (:func:`spring_param`).
    """
    return FaceQuery(
        await spring_param(request, "limit", limit),
        await spring_param(request, "det_prob_threshold", det_prob_threshold),
        # Spring binds a String parameter sent several times as its values joined by
        # commas (requests sends params={"face_plugins": ["landmarks", "pose"]} so).
        await spring_param(request, "face_plugins", face_plugins, joined=True),
        await spring_param(request, "status", status),
        await spring_param(request, "detect_faces", detect_faces),
    )


async def prediction_count(
    request: Request, _: _FormClosed, prediction_count: Predictions = 1
) -> int:
    """recognize's ``prediction_count``, from the query or a multipart field."""
    return await spring_param(request, "prediction_count", prediction_count)


async def subject_name(
    request: Request,
    _: _FormClosed,
    subject: Annotated[str | None, Query(max_length=200, description="the subject's name")] = None,
) -> str:
    """The ``subject`` of an added example, from the query or a multipart field.

    Raises:
        RequestValidationError: in neither (CompreFace's code 33).
    """
    found = await spring_param(request, "subject", subject)
    if found is None:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("query", "subject"), "msg": "Field required"}]
        )
    return found


#: recognize's ``prediction_count``, from the query or a multipart field.
PredictionCount = Annotated[int, Depends(prediction_count)]
#: An added example's ``subject``, from the query or a multipart field (required).
Subject = Annotated[str, Depends(subject_name)]

#: A route's face parameters: ``query: FaceOptions``.
FaceOptions = Annotated[FaceQuery, Depends(face_query)]


class MissingPartError(FacewardenError):
    """A required file part is missing from a multipart request."""

    http_status = 400
    compreface_code = 34  # CompreFace's MISSING_REQUEST_PART

    def __init__(self, name: str) -> None:
        super().__init__(f"Required part {name} is missing")  # CompreFace's words


class EmptyFieldError(FacewardenError):
    """A required image field is missing from a JSON (base64) request."""

    http_status = 400
    compreface_code = 5  # CompreFace's EMPTY_REQUIRED_FIELD

    def __init__(self, name: str) -> None:
        super().__init__(f"Field {name} cannot be empty")  # CompreFace's words


class UnreadableBodyError(FacewardenError):
    """A JSON body that is not JSON, or not an object."""

    http_status = 400
    compreface_code = 0  # CompreFace answers these with Spring's bare 400


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


def operation(*image_fields: str) -> dict[str, Any]:
    kwargs = allow(*ROLES)
    if image_fields:
        kwargs["openapi_extra"] = kwargs["openapi_extra"] | {
            "requestBody": _image_body(*image_fields)
        }
    return kwargs | {"responses": ERRORS, "response_model_exclude_none": True}


class Routes:
    """An API router whose every path also answers with a trailing slash.

    CompreFace's documentation writes some paths with one; ``path/`` is
    served by the same function, hidden from the OpenAPI document, without
    a redirect.
    """

    def __init__(self, **kwargs: Any) -> None:
        self.router = APIRouter(**kwargs)

    def __call__(
        self, method: str, path: str, **kwargs: Any
    ) -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Register ``path`` and, hidden, ``path/``."""

        def decorate(function: Callable[..., T]) -> Callable[..., T]:
            self.router.add_api_route(path, function, methods=[method], **kwargs)
            hidden = kwargs | {"include_in_schema": False}
            self.router.add_api_route(path + "/", function, methods=[method], **hidden)
            return function

        return decorate


async def images(request: Request, *fields: str) -> list[bytes]:
    """The images in ``fields`` of a multipart or JSON (base64) body, each capped."""
    cap = acting_warden(request).settings.max_image_bytes
    media = _media(request)
    if media == "multipart/form-data":
        # Other parts are ignored and, of two parts of one name, the first counts, as
        # Spring binds them for CompreFace; the body cap bounds what they hold.
        form = await read_form(request)
        try:
            parts = [next(iter(form.getlist(name)), None) for name in fields]
            images = []
            for name, part in zip(fields, parts, strict=True):
                if not isinstance(part, UploadFile):
                    raise MissingPartError(name)
                data = await part.read(cap + 1)
                if len(data) > cap:
                    raise ImageTooLargeError(f"{name}: the image is larger than {cap} bytes")
                images.append(data)
            return images
        finally:
            await close_form(request)
    if media == "application/json":
        try:
            body = json.loads(await request.body())
        except (ValueError, RecursionError):  # deep nesting exhausts the parser's stack
            raise UnreadableBodyError("the body is not valid JSON") from None
        if not isinstance(body, dict):
            raise UnreadableBodyError("the body must be a JSON object")
        # Every field is there before any is decoded (CompreFace validates its body first).
        values = [body.get(name) for name in fields]
        for name, value in zip(fields, values, strict=True):
            if not isinstance(value, str):
                raise EmptyFieldError(name)
        return [
            decode_base64_image(str(value), cap, field=name)
            for name, value in zip(fields, values, strict=True)
        ]
    raise UnsupportedMediaError("multipart/form-data or application/json", media)


async def call(request: Request, work: Callable[[Warden], T]) -> T:
    """Run the (CPU-heavy) service call in the image thread pool, as the request's caller."""
    warden = acting_warden(request)
    return await image_work(request, lambda: work(warden))
