"""Detect, identify (1:N) and verify (1:1): the operator's photo routes.

The pipeline's CPU work runs in a bounded thread pool (``image_work``), so
the event loop keeps serving and memory stays flat under load. Probe
images live in memory for the request only.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile

from facewarden.api.auth import allow
from facewarden.api.schemas import DetectOut, FaceOut, IdentifyOut, VerifyImagesOut, VerifyOut
from facewarden.api.state import acting_warden, image_work
from facewarden.api.uploads import read_upload
from facewarden.match.thresholds import DEFAULT_FMR
from facewarden.service.detection import detect_faces
from facewarden.service.warden import Warden

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["recognition"])
_MULTIPART = "multipart/form-data"
_Warden = Annotated[Warden, Depends(acting_warden)]
_Purpose = Annotated[str, Form(max_length=128, description="why (a case reference)")]
_Fmr = Annotated[
    float,
    Form(
        gt=0,
        lt=1,
        allow_inf_nan=False,
        description="the operating point: a false match rate with a calibrated threshold",
    ),
]
_Force = Annotated[
    bool,
    Form(
        description="compare a face below the quality bar; the answer's warnings say so "
        "(audited as forced)"
    ),
]


@router.post("/detect", response_model=DetectOut, **allow("operator", media=_MULTIPART))
async def detect(
    request: Request,
    file: Annotated[UploadFile, File(description="the image")],
    warden: _Warden,
    mode: Annotated[Literal["fast", "accurate"] | None, Form()] = None,
) -> DetectOut:
    """The faces of an image: boxes, landmarks and quality verdicts. Nothing is stored."""
    image = await read_upload(file, warden.settings.max_image_bytes)
    found = await image_work(request, lambda: detect_faces(warden, image, mode=mode))
    return DetectOut(
        width=found.width,
        height=found.height,
        faces=[FaceOut.from_face(f) for f in found.faces],
    )


@router.post("/identify", response_model=IdentifyOut, **allow("operator", media=_MULTIPART))
async def identify(
    request: Request,
    file: Annotated[UploadFile, File(description="the probe image (never stored)")],
    watchlist: Annotated[str, Form(min_length=1, max_length=64, description="id or name")],
    warden: _Warden,
    top_k: Annotated[int, Form(ge=1, le=10)] = 5,
    purpose: _Purpose = "",
) -> IdentifyOut:
    """Search every face of a photo in a watchlist; matches are named, others are not."""
    image = await read_upload(file, warden.settings.max_image_bytes)
    top_k = min(top_k, warden.settings.max_top_k)
    result = await image_work(
        request,
        lambda: warden.recognition.identify(
            image, watchlist, top_k=top_k, include_names=True, purpose=purpose
        ),
    )
    return IdentifyOut.from_identification(result)


@router.post("/verify", response_model=VerifyOut, **allow("operator", media=_MULTIPART))
async def verify(
    request: Request,
    file: Annotated[UploadFile, File(description="the photo (never stored)")],
    subject_id: Annotated[str, Form(min_length=1, max_length=64)],
    warden: _Warden,
    purpose: _Purpose = "",
    force: _Force = False,
    fmr: _Fmr = DEFAULT_FMR,
) -> VerifyOut:
    """Is the photo's main face this enrolled subject? (1:1, against their best face)."""
    image = await read_upload(file, warden.settings.max_image_bytes)
    result = await image_work(
        request,
        lambda: warden.recognition.verify(
            image, subject_id, fmr=fmr, force=force, purpose=purpose, name="file"
        ),
    )
    return VerifyOut(
        subject_id=subject_id,
        similarity=round(result.similarity, 4),
        threshold=round(result.threshold, 4),
        fmr=result.fmr,
        is_match=result.is_match,
        face=FaceOut.from_face(result.faces[0]) if result.faces else None,
        warnings=list(result.warnings),
    )


@router.post(
    "/verify/images",
    response_model=VerifyImagesOut,
    **allow("operator", media=_MULTIPART),
)
async def verify_images(
    request: Request,
    image_a: Annotated[UploadFile, File(description="first photo (never stored)")],
    image_b: Annotated[UploadFile, File(description="second photo (never stored)")],
    warden: _Warden,
    purpose: _Purpose = "",
    force: _Force = False,
    fmr: _Fmr = DEFAULT_FMR,
) -> VerifyImagesOut:
    """Are the main faces of two photos the same person? (an ID photo against a live one)."""
    cap = warden.settings.max_image_bytes
    first = await read_upload(image_a, cap, field="image_a")
    second = await read_upload(image_b, cap, field="image_b")
    result = await image_work(
        request,
        lambda: warden.recognition.verify_images(
            first,
            second,
            fmr=fmr,
            force=force,
            purpose=purpose,
            names=("image_a", "image_b"),
        ),
    )
    faces = [FaceOut.from_face(f) for f in result.faces] + [None, None]
    return VerifyImagesOut(
        similarity=round(result.similarity, 4),
        threshold=round(result.threshold, 4),
        fmr=result.fmr,
        is_match=result.is_match,
        face_a=faces[0],
        face_b=faces[1],
        warnings=list(result.warnings),
    )
