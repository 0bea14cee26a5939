"""Adjacent slashes in a CompreFace-compatible path count as one, as CompreFace's server reads them.

CompreFace is served by Tomcat (behind nginx), and both collapse ``//`` into
``/`` before routing, so a client whose base URL ends in ``/`` joined to
``/api/v1/...`` (``http://host:8000//api/v1/recognition/recognize``) reaches
the route there. :class:`MergeSlashes` does the same for paths that are
CompreFace's once merged, before anything else reads the path (CORS,
authentication, routing), so each of them sees the one path the route
serves. Other paths are left as they are.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

from facewarden.api.errors import COMPREFACE_PREFIX

__all__ = ["MergeSlashes"]

_SLASHES = re.compile(r"/{2,}")
_RAW_SLASHES = re.compile(rb"/{2,}")


class MergeSlashes:
    """Collapses runs of ``/`` in a path that, collapsed, is under ``/api/v1/``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and "//" in scope["path"]:
            merged = _SLASHES.sub("/", scope["path"])
            if merged.startswith(COMPREFACE_PREFIX):
                scope = {**scope, "path": merged}
                raw = scope.get("raw_path")
                if isinstance(raw, bytes):
                    scope["raw_path"] = _RAW_SLASHES.sub(b"/", raw)
        await self.app(scope, receive, send)
