"""Two photos, one decision: is the main face of each the same person? No registry.

This is the 1:1 check a user of face_recognition's ``compare_faces``,
DeepFace's ``verify``, Rekognition's ``CompareFaces`` or Azure's ``verify``
is used to: one call, a similarity, the threshold it was held against (a
calibrated false match rate, never a bare number) and the decision.
``facewarden compare`` prints it; :meth:`Recognition.verify_images` makes it
for a deployment and audits it. Nothing here is stored.

The face compared in each photo is the central one (large and near the
centre: :func:`~facewarden.vision.pipeline.central_face`), where Rekognition
takes the largest; a photo with several faces says so in the warnings.
"""

from __future__ import annotations

from facewarden.errors import FaceNotFoundError
from facewarden.match.thresholds import DEFAULT_FMR, threshold_for
from facewarden.service.enrollment import ImageInput
from facewarden.service.recognition_results import Verification
from facewarden.types import Face
from facewarden.vision.pipeline import Pipeline, central_face

__all__ = ["compare_images", "image_label", "main_face"]


def compare_images(
    pipeline: Pipeline,
    image_a: ImageInput,
    image_b: ImageInput,
    *,
    fmr: float = DEFAULT_FMR,
    force: bool = False,
    names: tuple[str, str] | None = None,
) -> Verification:
    """Are the main faces of two photos the same person (ID photo against live photo)?

    Args:
        pipeline: what finds and embeds the faces; its thresholds are the
            ones calibrated for its views (``Pipeline.from_mode("accurate")``,
            what ``compare`` and enrollment use, for a decision on one photo each).
        image_a, image_b: paths, encoded bytes or RGB arrays (``uint8``, height x
            width x 3; OpenCV's ``imread`` gives BGR: reverse the last axis).
        fmr: the operating point: a false match rate with a calibrated threshold
            (1e-2, 1e-3 or 1e-4).
        force: compare a face below the quality bar (too small, blurred, dark,
            turned) instead of refusing it; the warnings then say so.
        names: what messages call the two photos (an upload's form field); by
            default a path is named by itself, anything else "probe image".

    Returns:
        The similarity, the threshold at ``fmr``, ``is_match``, warnings, and the
        two faces compared (boxes ``xyxy`` in each photo's pixels).

    Raises:
        ImageError: a photo cannot be decoded, or is too large.
        FaceNotFoundError: a photo has no face, or (without ``force``) its main
            face is not fit for recognition.
        ConfigError: no threshold is calibrated at ``fmr`` for this pipeline.
    """
    threshold = threshold_for(pipeline, fmr)  # before any work: an uncalibrated fmr fails fast
    name_a, name_b = names or (None, None)
    face_a, warn_a = main_face(pipeline, image_a, force=force, name=name_a)
    face_b, warn_b = main_face(pipeline, image_b, force=force, name=name_b)
    similarity = float(face_a.require_embedding() @ face_b.require_embedding())
    return Verification(
        similarity, threshold, fmr, warnings=warn_a + warn_b, faces=(face_a, face_b)
    )


def main_face(
    pipeline: Pipeline, image: ImageInput, *, force: bool = False, name: str | None = None
) -> tuple[Face, tuple[str, ...]]:
    """The face a single-subject photo is about, embedded, with warnings about the choice.

    ``name`` is what messages call the photo (default: its path, else "probe image").

    Raises:
        FaceNotFoundError: no face, or (without ``force``) one below the quality bar.
    """
    label = name or image_label(image)
    pixels = pipeline.decode(image, name=label)
    faces = pipeline.run(pixels)
    face = central_face(faces, pixels.shape)
    if face is None:
        raise FaceNotFoundError(f"{label}: no face found")
    warnings: tuple[str, ...] = ()
    if len(faces) > 1:
        warnings = (f"{label}: {len(faces)} faces, compared the central one",)
    if face.quality is not None and not face.quality.usable:
        reasons = "; ".join(face.quality.reasons)
        if not force:
            raise FaceNotFoundError(
                f"{label}: the face is not usable for recognition: {reasons} "
                "(force it to compare anyway)"
            )
        warnings += (f"{label}: face below the quality bar ({reasons})",)
    return face, warnings


#: A str longer than this is no path anyone would want quoted back (base64 text is
#: refused by the decoder, in a few words, under the name given here).
_LONGEST_LABEL = 1024


def image_label(image: ImageInput) -> str:
    """How an image is named in messages: its path, else "probe image"."""
    if isinstance(image, str) or hasattr(image, "__fspath__"):
        label = str(image)
        if len(label) <= _LONGEST_LABEL and label[:5].lower() != "data:":
            return label
    return "probe image"
