"""Security headers on every response; caps on request heads and bodies that answer before reading.

Both are plain ASGI middleware, outside routing, so they also cover 401s,
404s and errors:

* :class:`SecurityHeaders` adds a strict Content-Security-Policy (everything
  from this origin only; no inline script; images also from ``data:`` and
  ``blob:`` so the console can show a photo it has not uploaded yet),
  ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``,
  ``Referrer-Policy: no-referrer``, a Permissions-Policy allowing the camera
  to this origin only, HSTS when served over TLS, and ``Cache-Control:
  no-store`` on everything but the console's static files. A redirect's
  ``Location`` is always relative: a forged ``Host`` header is never sent
  back as a place to go.
* :class:`HeadAsGet` answers ``HEAD`` as the same ``GET``, without the body
  (RFC 9110: a resource that answers GET answers HEAD; monitors probe
  ``/health`` with it). FastAPI routes answer only the methods they declare.
* :class:`HeadLimit` answers 431 to a request whose head (request line and
  headers) is over 64 KiB. uvicorn's own limit only bounds a head that is
  still incomplete, so one that arrives whole in a single read passed it.
* :class:`OneFraming` answers 400, and closes the connection, to a request
  whose body is framed both by ``Content-Length`` and ``Transfer-Encoding``.
  h11 reads such a body as chunked and keeps the connection; a proxy in
  front that frames by ``Content-Length`` then sees a different split into
  requests than the server (the CL.TE request smuggling of RFC 9112 6.3).
* :class:`BodyLimit` answers 413 at once when ``Content-Length`` is over the
  cap, counts the bytes of bodies without one, and answers 408 when the
  client stalls between two pieces of a body for longer than the read
  timeout (a slow-upload attack holds no worker for long).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import anyio
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from facewarden.api.errors import ASKED_METHOD, error_response

__all__ = [
    "CSP",
    "MAX_HEAD_BYTES",
    "MAX_JSON_BYTES",
    "BodyLimit",
    "BodyTooLarge",
    "HeadAsGet",
    "HeadLimit",
    "OneFraming",
    "SecurityHeaders",
    "SlowBody",
]

CSP = (
    "default-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
MAX_HEAD_BYTES = 64 * 1024
"""The largest request head (request line and headers) served, as docs/http-api.md says."""
MAX_JSON_BYTES = 1024 * 1024
"""The largest JSON body a native (``/v1/``) route reads."""
_STATIC_PREFIX = "/console"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class SecurityHeaders:
    """Adds the security headers to every HTTP response."""

    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope["path"] == _STATIC_PREFIX or scope["path"].startswith(_STATIC_PREFIX + "/")
        tls = self.hsts or scope.get("scheme") == "https"

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers["Content-Security-Policy"] = CSP
                headers["X-Content-Type-Options"] = "nosniff"
                headers["X-Frame-Options"] = "DENY"
                headers["Referrer-Policy"] = "no-referrer"
                headers["Cross-Origin-Opener-Policy"] = "same-origin"
                headers["Cross-Origin-Resource-Policy"] = "same-origin"
                headers["Permissions-Policy"] = "camera=(self), microphone=(), geolocation=()"
                if tls:
                    headers["Strict-Transport-Security"] = "max-age=31536000; includeSubDomains"
                if not static:
                    headers["Cache-Control"] = "no-store"
                    headers["Pragma"] = "no-cache"
                if "location" in headers:
                    headers["Location"] = _relative(headers["location"])
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _relative(location: str) -> str:
    """``location`` without its scheme and host: Starlette builds them from the ``Host`` header."""
    parts = urlsplit(location)
    if not parts.scheme and not parts.netloc:
        return location
    relative = "/" + parts.path.lstrip("/")
    if parts.query:
        relative += "?" + parts.query
    return relative


class HeadAsGet:
    """Serves a ``HEAD`` request as the ``GET`` of the same resource, and sends no body.

    The response's headers (``Content-Length`` included) are those of the GET.
    Authentication, roles and auditing are the GET's too: a HEAD of a
    personal record is a read of it.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def send_headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if message.get("more_body", False):
                    return
                message = {"type": "http.response.body", "body": b"", "more_body": False}
            await send(message)

        asked = {**scope, "method": "GET", ASKED_METHOD: "HEAD"}
        await self.app(asked, receive, send_headers_only)


def _head_bytes(scope: Scope) -> int:
    """The size of the request head as it came over the wire (HTTP/1.1 framing)."""
    line = len(scope["method"]) + len(scope.get("raw_path") or scope["path"].encode()) + 12
    if scope.get("query_string"):
        line += 1 + len(scope["query_string"])
    return line + sum(len(name) + len(value) + 4 for name, value in scope["headers"]) + 2


class HeadLimit:
    """Refuses requests whose head is over ``max_bytes`` with 431, before any route runs."""

    def __init__(self, app: ASGIApp, *, max_bytes: int = MAX_HEAD_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _head_bytes(scope) > self.max_bytes:
            response = error_response(
                scope["path"],
                431,
                "RequestHeadTooLarge",
                f"the request headers are larger than this server accepts ({self.max_bytes} bytes)",
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


class OneFraming:
    """Refuses a request framed both by ``Content-Length`` and ``Transfer-Encoding`` (400).

    The answer carries ``Connection: close``: what follows the body on that
    connection is never read as another request, whichever framing the
    sender meant.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            names = {name.lower() for name, _ in scope["headers"]}
            if b"content-length" in names and b"transfer-encoding" in names:
                response = error_response(
                    scope["path"],
                    400,
                    "BadRequest",
                    "a request with both Content-Length and Transfer-Encoding is refused "
                    "(ambiguous framing): send one of them",
                    headers={"Connection": "close"},
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class BodyTooLarge(HTTPException):
    """The request body went over the cap (raised from ``receive``; FastAPI re-raises it)."""

    def __init__(self, limit: int) -> None:
        super().__init__(
            413, f"the request body is larger than this server accepts ({limit} bytes)"
        )


class SlowBody(HTTPException):
    """The client stopped sending its body."""

    def __init__(self, seconds: float) -> None:
        super().__init__(408, f"the request body did not arrive within {seconds:g} s")


class BodyLimit:
    """Caps request bodies at ``max_bytes`` and bounds the wait for each piece.

    A JSON body to a native route (``/v1/``) is capped at ``max_json_bytes``:
    those bodies are records and settings of a few KiB, and parsed JSON takes
    far more memory than its text (20 MB of small objects, 480 MB). The
    CompreFace routes take an image as base64 in JSON, so their cap is the body cap.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        max_bytes: int,
        read_timeout: float,
        max_json_bytes: int = MAX_JSON_BYTES,
    ) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.read_timeout = read_timeout
        self.max_json_bytes = max_json_bytes

    def _limit(self, scope: Scope) -> int:
        media = Headers(scope=scope).get("content-type", "").split(";", 1)[0].strip().lower()
        is_json = media == "application/json" or media.endswith("+json")
        if is_json and scope["path"].startswith("/v1/"):
            return min(self.max_bytes, self.max_json_bytes)
        return self.max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _BODY_METHODS:
            await self.app(scope, receive, send)
            return
        limit = self._limit(scope)
        length = Headers(scope=scope).get("content-length", "")
        if length.isdigit() and int(length) > limit:
            # Answered before a byte of the body is read; the connection closes.
            error = BodyTooLarge(limit)
            response = error_response(
                scope["path"],
                413,
                "RequestTooLarge",
                str(error.detail),
                cause=error,
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            try:
                with anyio.fail_after(self.read_timeout):
                    message = await receive()
            except TimeoutError:
                raise SlowBody(self.read_timeout) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except (BodyTooLarge, SlowBody) as exc:
            # Raised outside a route (which would have rendered it); answer here.
            if started:
                raise
            response = error_response(
                scope["path"],
                exc.status_code,
                "RequestTooLarge" if isinstance(exc, BodyTooLarge) else "RequestTimeout",
                str(exc.detail),
                cause=exc,
                headers={"Connection": "close"},
            )
            await response(scope, receive, send)
