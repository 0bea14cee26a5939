"""Watchlists: list, create (with a declared purpose and lawful basis), add and remove members."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response

from facewarden.api.auth import allow
from facewarden.api.schemas_admin import (
    MemberListOut,
    MemberOut,
    StatsOut,
    WatchlistIn,
    WatchlistListOut,
    WatchlistOut,
)
from facewarden.api.state import acting_warden
from facewarden.errors import NotFoundError
from facewarden.service.warden import Warden

__all__ = ["router", "stats_router"]

router = APIRouter(prefix="/v1/watchlists", tags=["watchlists"])
stats_router = APIRouter(prefix="/v1", tags=["watchlists"])
_Warden = Annotated[Warden, Depends(acting_warden)]
_Ref = Annotated[str, Path(min_length=1, max_length=64, description="watchlist id or name")]
_SubjectId = Annotated[str, Path(min_length=1, max_length=64)]
_Purpose = Annotated[str, Query(max_length=128, description="why (default: the watchlist's)")]


def _out(warden: Warden, watchlist_id: str) -> WatchlistOut:
    return WatchlistOut.from_watchlist(
        warden.watchlists.get(watchlist_id), warden.watchlists.threshold(watchlist_id)
    )


@router.get("", response_model=WatchlistListOut, **allow("operator"))
def list_watchlists(warden: _Warden) -> WatchlistListOut:
    """Every watchlist with its purpose, lawful basis, operating point and size."""
    return WatchlistListOut(
        watchlists=[_out(warden, wl.watchlist_id) for wl in warden.watchlists.all()]
    )


@router.post(
    "",
    status_code=201,
    response_model=WatchlistOut,
    **allow("operator", media="application/json"),
)
def create_watchlist(new: WatchlistIn, warden: _Warden) -> WatchlistOut:
    """Create a watchlist; its purpose and lawful basis are declared now, for good."""
    created = warden.watchlists.create(
        new.name, purpose=new.purpose, lawful_basis=new.lawful_basis, fmr=new.fmr
    )
    return _out(warden, created.watchlist_id)


@router.put(
    "/{ref}/members/{subject_id}", status_code=204, response_class=Response, **allow("operator")
)
def add_member(
    ref: _Ref, subject_id: _SubjectId, warden: _Warden, purpose: _Purpose = ""
) -> Response:
    """Put a subject on a watchlist (idempotent)."""
    warden.watchlists.add(ref, subject_id, purpose=purpose)
    return Response(status_code=204)


@router.delete(
    "/{ref}/members/{subject_id}", status_code=204, response_class=Response, **allow("operator")
)
def remove_member(
    ref: _Ref, subject_id: _SubjectId, warden: _Warden, purpose: _Purpose = ""
) -> Response:
    """Take a subject off a watchlist (404 if it was not on it)."""
    if not warden.watchlists.remove(ref, subject_id, purpose=purpose):
        raise NotFoundError(f"{subject_id} is not on watchlist {ref!r}")
    return Response(status_code=204)


@router.get("/{ref}/members", response_model=MemberListOut, **allow("operator"))
def list_members(
    ref: _Ref,
    warden: _Warden,
    after: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    purpose: _Purpose = "",
) -> MemberListOut:
    """A page of a watchlist's subjects by id, with their names (an audited read)."""
    members = warden.listings.members(ref, after=after, limit=limit, purpose=purpose)
    return MemberListOut(
        members=[MemberOut(subject_id=m.subject_id, full_name=m.full_name) for m in members],
        next_after=members[-1].subject_id if len(members) == limit else None,
    )


@stats_router.get("/stats", response_model=StatsOut, **allow("operator"))
def stats(warden: _Warden) -> StatsOut:
    """How many subjects and watchlists the deployment holds (numbers only; not audited)."""
    counts = warden.listings.counts()
    return StatsOut(subjects=counts.subjects, watchlists=counts.watchlists)
