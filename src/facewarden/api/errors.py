"""One error shape for every failure, and never a stack trace.

Native routes answer ``{"error": {"type", "message"}}``; the
CompreFace-compatible routes under ``/api/v1/`` answer CompreFace's own
``{"message", "code"}`` (its clients parse that), with the same status. A
:class:`~facewarden.errors.FacewardenError` keeps its status, except that a
bare ``ConfigError`` raised while serving a request comes from the caller's
values (an uncalibrated FMR, an unknown mode: the settings themselves were
checked at start), so it is a 400. Anything
unexpected is a 500 whose body says only where to look: the traceback goes
to the server log under a reference the message names.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from facewarden.errors import (
    AuthenticationError,
    CameraBusyError,
    ConfigError,
    ConflictError,
    FaceNotFoundError,
    FacewardenError,
    ImageError,
    InvalidInputError,
    MultipleFacesError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitedError,
)

__all__ = [
    "ASKED_METHOD",
    "COMPREFACE_PREFIX",
    "UnexpectedErrors",
    "UnsupportedMediaError",
    "error_response",
    "facewarden_error_response",
    "install_error_handlers",
    "status_of",
]

logger = logging.getLogger(__name__)

COMPREFACE_PREFIX = "/api/v1/"
ASKED_METHOD = "facewarden.asked_method"
"""Scope key holding the method a request came with where a middleware routed it as
another (:class:`~facewarden.api.security.HeadAsGet`: a HEAD as its GET)."""

_HTTP_TYPES = {
    400: "BadRequest",
    401: "AuthenticationError",
    403: "PermissionDeniedError",
    404: "NotFoundError",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    408: "RequestTimeout",
    409: "ConflictError",
    413: "RequestTooLarge",
    415: "UnsupportedMediaType",
    422: "ValidationError",
    429: "RateLimitedError",
    503: "Unavailable",
}

# CompreFace's error codes (its ExceptionCode enums), by what went wrong.
_CF_NO_FACE, _CF_TOO_MANY_FACES, _CF_NOT_FOUND = 28, 31, 11
_CF_BAD_FILE, _CF_CONSTRAINT, _CF_MISSING_PARAMETER = 21, 26, 33
_CF_ACCESS_DENIED, _CF_BAD_KEY, _CF_UNDEFINED = 1, 10, 0
_CF_MISSING_HEADER = 20


class UnsupportedMediaError(FacewardenError):
    """The request body is not of a media type the route takes."""

    http_status = 415

    def __init__(self, wanted: str, sent: str) -> None:
        super().__init__(f"send the body as {wanted} (got {sent or 'no content type'})")


def status_of(exc: FacewardenError) -> int:
    """The HTTP status of a facewarden error raised while serving a request."""
    return 400 if type(exc) is ConfigError else exc.http_status


def _compreface_code(exc: Exception, status: int) -> int:
    own = getattr(exc, "compreface_code", None)
    if isinstance(own, int):
        return own
    codes: tuple[tuple[type[Exception], int], ...] = (
        (FaceNotFoundError, _CF_NO_FACE),
        (MultipleFacesError, _CF_TOO_MANY_FACES),
        (NotFoundError, _CF_NOT_FOUND),
        (ImageError, _CF_BAD_FILE),
        (AuthenticationError, _CF_BAD_KEY),
        (PermissionDeniedError, _CF_ACCESS_DENIED),
        (ConflictError, _CF_CONSTRAINT),
        (InvalidInputError, _CF_CONSTRAINT),
        (ConfigError, _CF_CONSTRAINT),
    )
    for cls, code in codes:
        if isinstance(exc, cls):
            return code
    if isinstance(exc, RequestValidationError):
        missing = any(e.get("type") == "missing" for e in exc.errors())
        return _CF_MISSING_PARAMETER if missing else _CF_CONSTRAINT
    # An unknown path is no missing image (11): CompreFace has no code for it.
    return {401: _CF_BAD_KEY, 403: _CF_ACCESS_DENIED}.get(status, _CF_UNDEFINED)


def error_response(
    path: str,
    status: int,
    type_name: str,
    message: str,
    *,
    cause: Exception | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """The error response for ``path``: native shape, or CompreFace's under ``/api/v1/``."""
    if path.startswith(COMPREFACE_PREFIX):
        code = _compreface_code(cause or Exception(), status)
        # CompreFace answers conflicts and invalid parameters with 400. A missing key
        # keeps its 401 (SECURITY.md promise 3) but carries CompreFace's code 20.
        shown = 400 if status in (409, 422) else status
        if code == _CF_MISSING_HEADER:
            message = f"Missing header: x-api-key ({message})"
        body: dict[str, object] = {"message": message, "code": code}
        return JSONResponse(body, status_code=shown, headers=dict(headers or {}))
    body = {"error": {"type": type_name, "message": message}}
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def facewarden_error_response(path: str, exc: FacewardenError) -> JSONResponse:
    """The response for a facewarden error (401s name the scheme; 429s, and 409s of a
    camera another server processes, say when to retry)."""
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimitedError | CameraBusyError):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, AuthenticationError):
        headers["WWW-Authenticate"] = 'ApiKey header="X-API-Key"'
    return error_response(
        path, status_of(exc), exc.type_name, exc.message, cause=exc, headers=headers
    )


async def _facewarden_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, FacewardenError):  # registered for that class only
        raise exc
    if status_of(exc) >= 500:
        logger.error("request %s %s failed: %s", request.method, _route(request.scope), exc.message)
    return facewarden_error_response(request.url.path, exc)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, HTTPException):  # registered for that class only
        raise exc
    message = exc.detail if isinstance(exc.detail, str) else "the request was not accepted"
    if exc.status_code == 404 and message == "Not Found":
        message = f"no such resource: {request.method} {request.url.path}"
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        # The method the client sent (a HEAD is routed as its GET).
        asked = request.scope.get(ASKED_METHOD, request.method)
        message = f"{asked} is not allowed here"
        headers["Allow"] = ", ".join(_methods_of(request))
    return error_response(
        request.url.path,
        exc.status_code,
        _HTTP_TYPES.get(exc.status_code, "HttpError"),
        message,
        cause=exc,
        headers=headers,
    )


def _methods_of(request: Request) -> list[str]:
    # Each method of a path is its own route: Starlette's Allow names only the
    # first one's. Every route whose path matches contributes its methods.
    # A literal path (/v1/subjects/lookup) is meant over a template that also
    # matches it (/v1/subjects/{subject_id}).
    routes = getattr(getattr(request.app.state, "server", None), "routes", [])
    matching = [r for r in routes if r.matches(request.scope)[0] != Match.NONE]
    literal = [r for r in matching if not getattr(r, "param_convertors", None)]
    methods = {m for r in literal or matching for m in getattr(r, "methods", None) or ()}
    return sorted(methods - {"HEAD"})


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):  # registered for that class only
        raise exc
    # Only where and what: pydantic's "input" could echo a password back.
    problems = "; ".join(_problem(e) for e in exc.errors()[:10])
    cause: Exception = exc
    if request.url.path.startswith(COMPREFACE_PREFIX):
        empty = _compreface_empty_field(exc)
        if empty is not None:
            problems, cause = f"Field {empty} cannot be empty", _EmptyFieldError()
        else:
            problems = _compreface_missing_parameter(exc) or problems
    return error_response(
        request.url.path, 422, "ValidationError", problems or "invalid request", cause=cause
    )


class _EmptyFieldError(Exception):
    """A JSON body's required field is absent or an empty list (CompreFace: code 5)."""

    compreface_code = 5  # CompreFace's EMPTY_REQUIRED_FIELD


def _compreface_empty_field(exc: RequestValidationError) -> str | None:
    """The JSON field that is missing or empty, as CompreFace's @NotNull/@NotEmpty see it."""
    for error in exc.errors():
        location = tuple(error.get("loc", ()))
        if (
            error.get("type") in {"missing", "too_short"}
            and len(location) == 2
            and location[0] == "body"
        ):
            return str(location[1])
    return None


def _compreface_missing_parameter(exc: RequestValidationError) -> str | None:
    """CompreFace's words for a missing query parameter (its code 33), if one is missing."""
    for error in exc.errors():
        location = tuple(error.get("loc", ()))
        if error.get("type") == "missing" and len(location) == 2 and location[0] == "query":
            return f"Required parameter {location[1]} is missing"
    return None


def _problem(error: Mapping[str, Any]) -> str:
    """One validation error as ``where: what``."""
    location = tuple(error.get("loc", ()))
    if error.get("type") == "json_invalid":  # its location is a character position, not a field
        position = location[-1] if len(location) > 1 else "?"
        return f"body: not valid JSON (at character {position})"
    where = ".".join(str(p) for p in location if p != "body") or "body"
    return f"{where}: {_plain(error)}"


def _plain(error: Mapping[str, object]) -> str:
    """A validation error's message, in the client's terms where pydantic's are Python's."""
    message = str(error.get("msg", "invalid"))
    if "Expected UploadFile" in message:  # a text field where a file part belongs
        return "send a file here (a multipart part with a filename), not a text field"
    return message


async def _client_gone(request: Request, exc: Exception) -> JSONResponse:
    # The client closed its connection before its body arrived: nobody reads an
    # answer, and it is no server error (logged as one, any client could fill
    # the error log). A 400 the server then drops.
    logger.info(
        "%s %s: the client left before its body arrived", request.method, _route(request.scope)
    )
    return error_response(
        request.url.path, 400, "BadRequest", "the request body ended early", cause=exc
    )


def _unexpected_response(scope: Scope, exc: Exception) -> JSONResponse:
    """The 500 for an exception nothing expected; the traceback goes to the log, under a
    reference the message names."""
    reference = secrets.token_hex(6)
    logger.error(
        "unexpected error %s in %s %s", reference, scope["method"], _route(scope), exc_info=exc
    )
    return error_response(
        scope["path"],
        500,
        "InternalError",
        f"the server could not complete the request; its log has the details under {reference}",
        cause=exc,
    )


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    # Starlette's outermost layer: only for an error raised outside UnexpectedErrors.
    return _unexpected_response(request.scope, exc)


class UnexpectedErrors:
    """Answers an exception nothing expected with the 500 of the one error shape.

    Starlette renders such an exception in its outermost layer, outside every
    middleware (so outside the security headers: the 500 went without a
    Content-Security-Policy, ``X-Frame-Options`` or ``Cache-Control``), and
    then raises it on to the server, which closes the connection (a client's
    next request on it fails). Installed inside
    :class:`~facewarden.api.security.SecurityHeaders`, this answers it
    there, and the connection stays open. An exception raised after the
    response has started goes on: its body is cut short, and only closing
    the connection says so.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            await _unexpected_response(scope, exc)(scope, receive, send)


def _route(scope: Scope) -> str:
    # The route's template, never the concrete path: a CompreFace subject name
    # in a path is personal data, and logs must not hold it.
    route = scope.get("route")
    return str(getattr(route, "path", "?"))


def install_error_handlers(app: FastAPI) -> None:
    """Render every error ``app`` can raise in the one shape."""
    app.add_exception_handler(FacewardenError, _facewarden_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(ClientDisconnect, _client_gone)
    app.add_exception_handler(Exception, _unexpected)
