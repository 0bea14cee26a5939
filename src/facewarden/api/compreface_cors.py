"""Browser pages of other origins may call the CompreFace-compatible API, when configured.

CompreFace's own web server lets every origin call ``/api/v1/`` (it answers
preflights and sends ``Access-Control-Allow-Origin: *``), so its JavaScript
SDK works from a web page served elsewhere, as in the SDK's demos. facewarden
lets no origin do so by default (SECURITY.md: closed by default);
``FACEWARDEN_COMPREFACE_CORS_ORIGINS`` names the origins allowed, or ``*``.

* Only ``/api/v1/``: the native API and the console stay same-origin.
* A preflight (``OPTIONS`` with ``Access-Control-Request-Method``) from an
  allowed origin is answered here, 204, before authentication: a browser
  sends no API key with it. It allows the methods and the two headers the
  API reads (``x-api-key``, ``content-type``).
* Any other request from an allowed origin is served as usual (the key is
  checked, errors are errors) and its answer carries
  ``Access-Control-Allow-Origin``.
* Credentials are never allowed (no ``Access-Control-Allow-Credentials``): a
  page of another origin can use an API key it holds, never a console
  session's cookie.
"""

from __future__ import annotations

from collections.abc import Iterable

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from facewarden.api.errors import COMPREFACE_PREFIX

__all__ = ["CompreFaceCors"]

_METHODS = "GET, POST, PUT, DELETE"
_HEADERS = "x-api-key, content-type"
_MAX_AGE = "600"  # seconds a browser may keep a preflight's answer


class CompreFaceCors:
    """Answers CORS preflights to ``/api/v1/`` and marks its answers, for allowed origins."""

    def __init__(self, app: ASGIApp, *, origins: Iterable[str] = ()) -> None:
        self.app = app
        self.origins = frozenset(origins)

    def _allowed(self, origin: str | None) -> str | None:
        """The ``Access-Control-Allow-Origin`` value for ``origin``, or None."""
        if origin is None or not self.origins:
            return None
        if "*" in self.origins:
            return "*"
        return origin if origin in self.origins else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(COMPREFACE_PREFIX):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        allowed = self._allowed(headers.get("origin"))
        if allowed is None:
            await self.app(scope, receive, send)
            return
        cors = {"Access-Control-Allow-Origin": allowed}
        if allowed != "*":
            cors["Vary"] = "Origin"  # the answer differs by origin: caches must key on it
        if scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            preflight = cors | {
                "Access-Control-Allow-Methods": _METHODS,
                "Access-Control-Allow-Headers": _HEADERS,
                "Access-Control-Max-Age": _MAX_AGE,
            }
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": [(k.lower().encode(), v.encode()) for k, v in preflight.items()],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer = MutableHeaders(scope=message)
                for name, value in cors.items():
                    answer[name] = value
            await send(message)

        await self.app(scope, receive, send_with_cors)
