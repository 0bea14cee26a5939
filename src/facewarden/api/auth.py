"""Authentication and authorization, decided before a request body is read.

:class:`AuthMiddleware` runs ahead of routing's body parsing: it finds the
route a request is for, and unless that route declares itself public
(``security: []`` in its OpenAPI operation: the health check, sign-in and
the console's static files), it establishes the caller from

* ``X-API-Key: fwk_<id>_<secret>`` (machines; CompreFace clients send the
  same header as ``x-api-key``), or
* the ``fw_session`` cookie (people); an unsafe method (POST, PUT, PATCH,
  DELETE) must then carry the session's ``X-CSRF-Token``,

and checks the caller's role against the route's ``x-roles``. So an
unauthenticated or unauthorised upload is refused with 401 or 403 before a
byte of it is parsed. :func:`allow` declares a route's roles once, for both
this check and the OpenAPI document (which the authorization-matrix test
reads); :func:`require` checks them again inside the route.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Any

import anyio
from fastapi import Depends, Request
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send

from facewarden.api.errors import UnsupportedMediaError, facewarden_error_response
from facewarden.api.request_values import refuse_nul_characters, refuse_repeated_fields
from facewarden.api.state import ServerState, current_principal
from facewarden.errors import AuthenticationError, FacewardenError, PermissionDeniedError
from facewarden.service.roles import ROLES, Principal, expand_roles

__all__ = [
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "AuthMiddleware",
    "CredentialMissingError",
    "allow",
    "public",
    "require",
    "require_media",
]

SESSION_COOKIE = "fw_session"
CSRF_HEADER = "x-csrf-token"
API_KEY_HEADER = "x-api-key"
_UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_PUBLIC_MOUNTS = ("/console",)  # the console's static files: no data, and needed to sign in


def public(*, media: str | None = None) -> dict[str, Any]:
    """Route keyword arguments marking a route as needing no authentication.

    Args:
        media: the media type the request body must have (else 415), if it has a body.
    """
    dependencies = [] if media is None else [Depends(require_media(media))]
    dependencies += [Depends(refuse_nul_characters), Depends(refuse_repeated_fields)]
    return {"openapi_extra": {"security": []}, "dependencies": dependencies}


def allow(*roles: str, media: str | None = None) -> dict[str, Any]:
    """Route keyword arguments allowing ``roles`` (an admin may what an operator may).

    The roles land in the OpenAPI operation as ``x-roles``; the middleware
    refuses everyone else before the body is read, and :func:`require`
    refuses them again inside the route. With no roles, every role may (any
    authenticated caller).

    Args:
        roles: the roles allowed.
        media: the media type the request body must have (else 415), if it has a body.
    """
    roles = roles or ROLES
    dependencies = [Depends(require(*roles))]
    if media is not None:
        dependencies.append(Depends(require_media(media)))
    dependencies += [Depends(refuse_nul_characters), Depends(refuse_repeated_fields)]
    return {"openapi_extra": {"x-roles": sorted(expand_roles(roles))}, "dependencies": dependencies}


def require(*roles: str) -> Callable[[Request], Principal]:
    """A dependency returning the caller, refusing roles other than ``roles``."""
    allowed = expand_roles(roles)

    def dependency(request: Request) -> Principal:
        principal = current_principal(request)
        if principal.role not in allowed:
            raise PermissionDeniedError(
                f"the {principal.role} role may not do this (allowed: {', '.join(sorted(allowed))})"
            )
        return principal

    return dependency


def require_media(media_type: str) -> Callable[[Request], None]:
    """A dependency answering 415 unless the request body has ``media_type``."""

    def dependency(request: Request) -> None:
        sent = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
        if sent != media_type:
            raise UnsupportedMediaError(media_type, sent)

    return dependency


def _route_for(routes: list[BaseRoute], scope: Scope) -> BaseRoute | None:
    # A path served under another method (HEAD /health, say) is judged by
    # that route, so a public path stays public and answers 405, not 401.
    partial = None
    for route in routes:
        match, _ = route.matches(scope)
        if match == Match.FULL:
            return route
        if match == Match.PARTIAL and partial is None:
            partial = route
    return partial


def _is_public(route: BaseRoute | None, path: str) -> bool:
    if route is None:
        return any(path == m or path.startswith(m + "/") for m in _PUBLIC_MOUNTS)
    extra = getattr(route, "openapi_extra", None) or {}
    return extra.get("security") == []


def _roles_of(route: BaseRoute | None) -> frozenset[str] | None:
    extra = getattr(route, "openapi_extra", None) or {}
    roles = extra.get("x-roles")
    return None if roles is None else frozenset(roles)


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class CredentialMissingError(AuthenticationError):
    """The request carries no credential at all (no API key, no session cookie)."""

    compreface_code = 20  # CompreFace's MISSING_REQUEST_HEADER (still a 401 here)


def authenticate(state: ServerState, request: Request) -> Principal:
    """The caller of ``request`` (API key first, then session cookie with its CSRF token).

    Raises:
        AuthenticationError: no credential, or not a valid one.
        RateLimitedError: too many bad credentials from this address.
        PermissionDeniedError: a cookie-authenticated unsafe request without its CSRF token.
    """
    access = state.anonymous.access
    keys = {key.strip() for key in request.headers.getlist(API_KEY_HEADER)}
    if len(keys) > 1:
        # Which one counts would be this server's choice (the first), and a proxy
        # or gateway in front may have checked another (often the last). The same
        # key sent twice (some clients repeat a default header) is not ambiguous.
        raise AuthenticationError(
            "send one X-API-Key header: this request carries several different keys"
        )
    presented = keys.pop() if keys else None
    if presented:
        return access.authenticate_key(
            presented, client=_client(request.scope), limiter=state.limiter.api_keys
        )
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise CredentialMissingError(
            "authentication required: send an X-API-Key header, or sign in at /v1/auth/login"
        )
    session = access.session(token)
    if request.method in _UNSAFE:
        sent = request.headers.get(CSRF_HEADER, "")
        if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
            raise PermissionDeniedError(
                "missing or wrong X-CSRF-Token header (GET /v1/auth/me returns the token)"
            )
    return session.principal


class AuthMiddleware:
    """Authenticates and authorises every non-public request before its body is read."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        state = scope["app"].state.server
        route = _route_for(state.routes, scope)
        if _is_public(route, scope["path"]):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            # The key and session checks read the database: off the event loop.
            principal = await anyio.to_thread.run_sync(authenticate, state, request)
            roles = _roles_of(route)
            if roles is not None and principal.role not in roles:
                raise PermissionDeniedError(
                    f"the {principal.role} role may not do this "
                    f"(allowed: {', '.join(sorted(roles))})"
                )
        except FacewardenError as exc:
            await facewarden_error_response(scope["path"], exc)(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)
