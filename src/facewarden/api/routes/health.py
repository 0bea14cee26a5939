"""``GET /health``: the one route that needs no authentication."""

from __future__ import annotations

from fastapi import APIRouter

from facewarden.api.auth import public
from facewarden.api.schemas import HealthOut

__all__ = ["router"]

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthOut, **public())
async def health() -> HealthOut:
    """Liveness: the server answers. Says nothing else about the deployment."""
    return HealthOut(status="ok")
