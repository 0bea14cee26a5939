"""Signing in and out: ``/v1/auth/login``, ``/v1/auth/logout``, ``/v1/auth/me``, password change.

The session cookie is HttpOnly (scripts never see it), SameSite=Strict
(other sites cannot make the browser send it), Secure when served over
TLS, and lives as long as the session. Unsafe requests authenticated by it
carry the CSRF token returned here (checked by the auth middleware).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from facewarden.api.auth import SESSION_COOKIE, allow, public
from facewarden.api.schemas import ErrorOut
from facewarden.api.schemas_admin import LoginIn, LoginOut, PasswordIn, SessionUserOut
from facewarden.api.state import acting_warden, current_principal, server
from facewarden.errors import PermissionDeniedError
from facewarden.service.credentials import csrf_token_for
from facewarden.service.roles import Principal
from facewarden.service.warden import Warden

__all__ = ["router"]

router = APIRouter(prefix="/v1/auth", tags=["auth"])
_JSON = "application/json"


def _body(principal: Principal, csrf: str | None) -> LoginOut:
    name = principal.name if principal.kind == "user" else principal.actor
    return LoginOut(
        user=SessionUserOut(username=name, role=principal.role),  # type: ignore[arg-type]
        csrf_token=csrf,
    )


@router.post(
    "/login",
    response_model=LoginOut,
    responses={401: {"model": ErrorOut}, 429: {"model": ErrorOut}},
    **public(media=_JSON),
)
def login(credentials: LoginIn, request: Request, response: Response) -> LoginOut:
    """Sign in with a username and password; sets the ``fw_session`` cookie.

    Failed sign-ins are rate-limited per address and per account (429 with
    ``Retry-After``) and audited.
    """
    state = server(request)
    client = request.client.host if request.client else "unknown"
    session = state.anonymous.access.login(
        credentials.username, credentials.password, client=client, limiter=state.limiter.logins
    )
    response.set_cookie(
        SESSION_COOKIE,
        session.token,
        max_age=state.settings.session_minutes * 60,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return _body(session.principal, session.csrf_token)


@router.post("/logout", status_code=204, response_class=Response, **allow())
def logout(request: Request, warden: Annotated[Warden, Depends(acting_warden)]) -> Response:
    """End the session (for an API key: nothing to end); clears the cookie."""
    token = request.cookies.get(SESSION_COOKIE)
    if token and current_principal(request).kind == "user":
        warden.access.logout(token)
    response = Response(status_code=204)
    response.delete_cookie(
        SESSION_COOKIE,
        path="/",
        secure=request.url.scheme == "https",
        httponly=True,
        samesite="strict",
    )
    return response


@router.get("/me", response_model=LoginOut, **allow())
def me(request: Request) -> LoginOut:
    """Who is calling, with the session's CSRF token (null for an API key)."""
    principal = current_principal(request)
    token = request.cookies.get(SESSION_COOKIE)
    csrf = csrf_token_for(token) if principal.kind == "user" and token else None
    return _body(principal, csrf)


@router.post("/password", status_code=204, response_class=Response, **allow(media=_JSON))
def change_password(
    change: PasswordIn, request: Request, warden: Annotated[Warden, Depends(acting_warden)]
) -> Response:
    """Change your own password; every session of yours ends (sign in again).

    A wrong current password is audited and counts against the account's
    sign-in limit (429 with ``Retry-After`` once exceeded).
    """
    principal = current_principal(request)
    if principal.kind != "user":
        raise PermissionDeniedError("an API key has no password; sign in as a person")
    warden.access.change_password(
        principal.name,
        change.current_password,
        change.new_password,
        limiter=server(request).limiter.logins,
    )
    response = Response(status_code=204)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
