"""From a photo to what is stored for an enrolled face: one chosen face, protected.

The enrollment pipeline finds the faces; exactly one must be chosen (the
only one, or the one the caller names), and it must clear the quality bar
unless the caller forces it. What leaves this module is the *protected*
template (the raw embedding is dropped here) and, only if the deployment
keeps photos, an EXIF-free JPEG crop around the face: a head-and-shoulders
crop, not the whole picture, so bystanders in the photo are not kept.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from facewarden.errors import FaceNotFoundError, MultipleFacesError
from facewarden.imaging import encode_jpeg
from facewarden.match.thresholds import model_key
from facewarden.privacy.template import TemplateProtector
from facewarden.service.records import invalid_input
from facewarden.types import Box, Face
from facewarden.vision.pipeline import Pipeline

__all__ = [
    "ImageInput",
    "PreparedFace",
    "choose_face",
    "prepare_face",
    "prepare_image",
    "recognisable_faces",
]

ImageInput = str | os.PathLike[str] | bytes | npt.NDArray[Any]
_CROP_MARGIN = 0.5  # of the face box, on each side


@dataclass(frozen=True, eq=False)
class PreparedFace:
    """A face ready to be stored.

    Attributes:
        protected: the template after the deployment's secret transform.
        model: the embedding model key (``dlib-resnet+mirror``), for threshold lookup.
        photo_jpeg: an EXIF-free JPEG crop around the face, or None when photos are not kept.
        source: where it came from, for messages only (never stored).
        key_id: the template key it was protected with; storing it under another
            (rotated meanwhile) is refused.
    """

    protected: npt.NDArray[np.float32] = field(repr=False)
    model: str
    key_id: str | None
    photo_jpeg: bytes | None = field(default=None, repr=False)
    source: str = ""


def model_key_of(pipeline: Pipeline) -> str:
    """The key naming the embeddings a pipeline makes (embedder, plus the views averaged).

    An embedder that computes another's model (dlib's ResNet run by ONNX
    Runtime) names that model, so templates from either compare as one.
    """
    name = str(getattr(pipeline.embedder, "equivalent_to", "") or "")
    name = name or str(getattr(pipeline.embedder, "name", "unknown"))
    return model_key(name, mirror=pipeline.mirror, jitters=pipeline.jitters)


def choose_face(
    faces: list[Face], *, source: str, face_index: int | None = None, force: bool = False
) -> Face:
    """The one face to enroll from a photo.

    Args:
        faces: the pipeline's faces, in its order (the order ``facewarden detect`` lists).
        source: the photo's name, for messages.
        face_index: which face to take (0-based) when there are several.
        force: accept a face below the quality bar.

    Raises:
        FaceNotFoundError: no face, or the face is below the quality bar (with the reasons).
        MultipleFacesError: several faces and no ``face_index``.
        ConfigError: ``face_index`` is out of range.
    """
    if not faces:
        raise FaceNotFoundError(f"{source}: no face found")
    if face_index is None:
        faces = recognisable_faces(faces)
        if len(faces) > 1:
            # Every adapter spells the choice "face" (the CLI's --face, the API's
            # form field), numbered from 1 in the order detection lists the faces.
            raise MultipleFacesError(
                f"{source}: {len(faces)} faces found; say which one to enroll "
                f"(face 1 to {len(faces)}, in the order detection lists them)",
                count=len(faces),
            )
        face_index = 0
    if not 0 <= face_index < len(faces):
        raise invalid_input(
            f"{source}: face {face_index + 1} asked for, but the photo has {len(faces)}"
        )
    face = faces[face_index]
    if not force and face.quality is not None and not face.quality.usable:
        raise FaceNotFoundError(
            f"{source}: the face is not usable for recognition: "
            f"{'; '.join(face.quality.reasons)} (force it to enroll anyway)"
        )
    return face


def recognisable_faces(faces: list[Face]) -> list[Face]:
    """The faces a person could have meant, when a photo must show one.

    A face below the quality bar (too small, blurred, turned away) cannot be
    recognised, so it cannot be the face an enrollment or a verification source
    is about: a passer-by far behind the subject, a passport's ghost portrait or
    a detector's false alarm on a blurred patch. When exactly one face is usable,
    it alone counts; otherwise every face does (and several still mean "say which
    one"), so nothing is chosen silently among faces of equal standing.
    """
    usable = [f for f in faces if f.quality is None or f.quality.usable]
    return usable if len(usable) == 1 else faces


def prepare_face(
    face: Face,
    *,
    protector: TemplateProtector,
    model: str,
    image: npt.NDArray[np.uint8] | None,
    source: str,
) -> PreparedFace:
    """Protect a chosen face's embedding and, given the image, crop its photo."""
    protected = protector.protect(face.require_embedding())
    photo = None if image is None else encode_jpeg(_crop(image, face.box))
    return PreparedFace(
        protected=protected, model=model, key_id=protector.key_id, photo_jpeg=photo, source=source
    )


def prepare_image(
    pipeline: Pipeline,
    protector: TemplateProtector,
    source: ImageInput,
    *,
    name: str | None = None,
    face_index: int | None = None,
    force: bool = False,
    keep_photo: bool = False,
) -> PreparedFace:
    """Decode a photo, find its faces, choose one and prepare it (see :func:`choose_face`).

    Raises:
        ImageError: the input is not an acceptable image.
        FaceNotFoundError, MultipleFacesError: see :func:`choose_face`.
    """
    label = name or (os.fspath(source) if isinstance(source, str | os.PathLike) else "image")
    image = pipeline.decode(source, name=label)
    face = choose_face(pipeline.run(image), source=label, face_index=face_index, force=force)
    return prepare_face(
        face,
        protector=protector,
        model=model_key_of(pipeline),
        image=image if keep_photo else None,
        source=label,
    )


def _crop(image: npt.NDArray[np.uint8], box: Box) -> npt.NDArray[np.uint8]:
    height, width = image.shape[:2]
    dx, dy = box.width * _CROP_MARGIN, box.height * _CROP_MARGIN
    x0, y0 = max(0, int(box.x_min - dx)), max(0, int(box.y_min - dy))
    x1, y1 = min(width, int(box.x_max + dx) + 1), min(height, int(box.y_max + dy) + 1)
    return np.ascontiguousarray(image[y0:y1, x0:x1])
