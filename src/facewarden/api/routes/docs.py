"""The OpenAPI document and a readable page of it, for authenticated callers only.

FastAPI's own ``/docs`` loads Swagger UI from a CDN and is public; here
``/openapi.json`` and ``/docs`` need a key or a session like everything else
(SECURITY.md promise 3), and ``/docs`` is a plain server-rendered list of
the operations, their roles and their summaries: no third-party script.
"""

from __future__ import annotations

import html
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_METHODS = ("get", "post", "put", "patch", "delete")


@router.get("/openapi.json")
def openapi(request: Request) -> JSONResponse:
    """The OpenAPI 3 document of this server."""
    return JSONResponse(request.app.openapi())


@router.get("/docs", response_class=HTMLResponse)
def docs(request: Request) -> HTMLResponse:
    """A plain HTML list of every operation, with its roles and summary."""
    document: dict[str, Any] = request.app.openapi()
    rows = []
    for path, item in sorted(document.get("paths", {}).items()):
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            roles = ", ".join(operation.get("x-roles", [])) or "none (public)"
            rows.append(
                "<tr><td><code>{}</code></td><td><code>{}</code></td><td>{}</td><td>{}</td></tr>".format(
                    method.upper(),
                    html.escape(path),
                    html.escape(roles),
                    html.escape(operation.get("summary", "")),
                )
            )
    title = html.escape(str(document.get("info", {}).get("title", "API")))
    page = (
        f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{title}</title>"
        "</head><body>"
        f"<h1>{title}</h1><p>The machine-readable document is "
        "<a href='/openapi.json'>/openapi.json</a>; the contract is docs/http-api.md.</p>"
        "<table><thead><tr><th>method</th><th>path</th><th>roles</th><th>summary</th></tr>"
        f"</thead><tbody>{''.join(rows)}</tbody></table></body></html>"
    )
    return HTMLResponse(page)
