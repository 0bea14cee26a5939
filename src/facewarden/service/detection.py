"""Face detection on a deployment's pipelines, for the API's ``/v1/detect``.

Detection stores nothing and names nobody: the faces of an image with
their boxes, landmarks and quality verdicts, and the image's size, so a
client can draw them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from facewarden.service.enrollment import ImageInput
from facewarden.service.warden import Warden
from facewarden.types import Face
from facewarden.vision.pipeline import Pipeline

__all__ = ["Detection", "detect_faces", "pipeline_for"]


@dataclass(frozen=True)
class Detection:
    """The faces of one image, and its size in pixels as decoded (EXIF orientation applied)."""

    width: int
    height: int
    faces: tuple[Face, ...]


def pipeline_for(warden: Warden, mode: str | None) -> Pipeline:
    """The deployment's pipeline for ``mode`` (None: the identification pipeline).

    Raises:
        ConfigError: an unknown mode.
    """
    settings = warden.settings
    if mode is None or mode == settings.mode:
        return warden.pipeline
    if mode == settings.enroll_mode:
        return warden.enroll_pipeline
    return dataclasses.replace(Pipeline.from_mode(mode), limits=settings.image_limits)


def detect_faces(warden: Warden, image: ImageInput, *, mode: str | None = None) -> Detection:
    """Every face of ``image`` with its quality verdict (no embeddings are computed).

    Raises:
        ImageError: not an acceptable image.
        ConfigError: an unknown mode.
    """
    pipeline = pipeline_for(warden, mode)
    pixels = pipeline.decode(image, name="file")
    faces = pipeline.run(pixels, embed=False)
    height, width = pixels.shape[:2]
    return Detection(int(width), int(height), tuple(faces))
