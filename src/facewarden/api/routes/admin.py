"""Administration: users, API keys, the keys' status (admins); the processing report (auditors)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Response

from facewarden.api.auth import allow
from facewarden.api.schemas_admin import (
    ApiKeyCreatedOut,
    ApiKeyIn,
    ApiKeyListOut,
    ApiKeyOut,
    KeyStatusOut,
    UserIn,
    UserListOut,
    UserOut,
)
from facewarden.api.state import acting_warden
from facewarden.service.processing_report import to_markdown
from facewarden.service.warden import Warden

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["administration"])
_Warden = Annotated[Warden, Depends(acting_warden)]
_JSON = "application/json"


@router.get("/users", response_model=UserListOut, **allow("admin"))
def list_users(warden: _Warden) -> UserListOut:
    """Every user, disabled ones included (never a password hash)."""
    return UserListOut(users=[UserOut.from_user(u) for u in warden.access.users()])


@router.post("/users", status_code=201, response_model=UserOut, **allow("admin", media=_JSON))
def create_user(new: UserIn, warden: _Warden) -> UserOut:
    """Add a person who can sign in, with one role."""
    return UserOut.from_user(warden.access.create_user(new.username, new.password, new.role))


@router.delete("/users/{username}", status_code=204, response_class=Response, **allow("admin"))
def disable_user(
    username: Annotated[str, Path(min_length=1, max_length=64)], warden: _Warden
) -> Response:
    """Disable a user and end their sessions (the name is never reused)."""
    warden.access.disable_user(username)
    return Response(status_code=204)


@router.get("/api-keys", response_model=ApiKeyListOut, **allow("admin"))
def list_api_keys(warden: _Warden) -> ApiKeyListOut:
    """Every API key, revoked ones included (never a secret)."""
    return ApiKeyListOut(api_keys=[ApiKeyOut.from_key(k) for k in warden.access.api_keys()])


@router.post(
    "/api-keys", status_code=201, response_model=ApiKeyCreatedOut, **allow("admin", media=_JSON)
)
def create_api_key(new: ApiKeyIn, warden: _Warden) -> ApiKeyCreatedOut:
    """Issue an API key; its value is in this response and nowhere else, ever."""
    issued = warden.access.create_api_key(new.name, new.role, expires_in_days=new.expires_in_days)
    listed = ApiKeyOut.from_key(issued.key)
    return ApiKeyCreatedOut(**listed.model_dump(), api_key=issued.secret)


@router.delete("/api-keys/{key_id}", status_code=204, response_class=Response, **allow("admin"))
def revoke_api_key(
    key_id: Annotated[str, Path(min_length=1, max_length=64)], warden: _Warden
) -> Response:
    """Revoke a key at once."""
    warden.access.revoke_api_key(key_id)
    return Response(status_code=204)


@router.get("/keys/status", response_model=KeyStatusOut, **allow("admin"))
def key_status(warden: _Warden) -> KeyStatusOut:
    """Which encryption keys exist and how many data keys each wraps (ids only)."""
    status = warden.keys.status()
    return KeyStatusOut(
        active_master_id=status.active_master_id,
        master_key_ids=list(status.master_key_ids),
        data_keys_by_master=dict(status.data_keys_by_master),
        template_key_id=status.template_key_id,
    )


_MARKDOWN_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "the report as a Markdown document",
        "content": {"text/markdown": {"schema": {"type": "string"}}},
    }
}


@router.get("/processing-report", response_model=dict[str, Any], **allow("auditor"))
def processing_report(warden: _Warden) -> dict[str, Any]:
    """The records of processing (GDPR Art. 30), built from the live configuration (audited).

    Purposes and lawful bases of the watchlists, the cameras (which identify, which only
    count, how long their sightings are kept), every retention period, the data held and
    how it is protected, users and API keys per role, the keys in use. No person, source
    URL or secret appears in it.
    """
    return warden.processing_report()


@router.get(
    "/processing-report.md",
    response_class=Response,
    responses=_MARKDOWN_RESPONSE,
    **allow("auditor"),
)
def processing_report_markdown(warden: _Warden) -> Response:
    """:func:`processing_report` as a Markdown document for the data-protection officer."""
    return Response(
        content=to_markdown(warden.processing_report()),
        media_type="text/markdown; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="records-of-processing.md"'},
    )
