"""CompreFace's recognize, verify and detect, on facewarden's pipelines and audit log.

* **recognize** searches the CompreFace watchlist with the identification
  pipeline and returns, per face, only candidates **at or over the
  watchlist's threshold**, by name. CompreFace returns the nearest subjects
  whatever their similarity; naming people who do not match would let a
  client page through the gallery with random faces, so that part is not
  copied. Similarities are facewarden's cosine similarities.
* **verify** compares the faces of a photo with one stored example, and
  **verify_images** the faces of a target photo with the main face of a
  source photo, both with the enrollment (accurate) pipeline.
* **detect** finds faces with the identification pipeline.

Probe images and their embeddings are never stored; identifications and
verifications are audited (``via: compreface``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from facewarden.errors import FaceNotFoundError
from facewarden.service.audit import AuditLog
from facewarden.service.compreface import CompreFaceCollection, detection_probability, select_faces
from facewarden.service.context import Context
from facewarden.service.enrollment import ImageInput
from facewarden.service.gallery import open_template
from facewarden.service.recognition import Recognition
from facewarden.types import Face
from facewarden.vision.pipeline import Pipeline, central_face

__all__ = ["ComparedFace", "CompreFaceMatcher", "FoundFace", "RecognizedFace"]

_NO_FACE = "No face is found in the given image"
_VIA: dict[str, object] = {"via": "compreface"}


@dataclass(frozen=True)
class FoundFace:
    """A detected face and its detection probability (see ``detection_probability``)."""

    face: Face
    probability: float


@dataclass(frozen=True)
class RecognizedFace(FoundFace):
    """A face with the subjects it matches, best first: ``(name, similarity)``."""

    subjects: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class ComparedFace(FoundFace):
    """A face with its similarity to the reference face."""

    similarity: float = 0.0


def _found(face: Face) -> FoundFace:
    return FoundFace(face, detection_probability(face))


class CompreFaceMatcher:
    """Recognize, verify and detect for the CompreFace-compatible API, for one actor."""

    def __init__(
        self,
        ctx: Context,
        audit: AuditLog,
        recognition: Recognition,
        collection: CompreFaceCollection,
    ) -> None:
        self._ctx = ctx
        self._audit = audit
        self._recognition = recognition
        self._collection = collection

    def _faces(
        self, pipeline: Pipeline, image: ImageInput, *, limit: int, min_probability: float | None
    ) -> list[Face]:
        pixels = pipeline.decode(image, name="file")
        faces = select_faces(pipeline.run(pixels), limit=limit, min_probability=min_probability)
        if not faces:
            raise FaceNotFoundError(_NO_FACE)
        return faces

    def detect(
        self, image: ImageInput, *, limit: int = 0, min_probability: float | None = None
    ) -> list[FoundFace]:
        """The faces of ``image``, biggest first.

        Raises:
            ImageError: not an acceptable image.
            FaceNotFoundError: no face (over ``min_probability``).
        """
        self._ctx.ensure_open()
        pixels = self._ctx.pipeline.decode(image, name="file")
        faces = select_faces(
            self._ctx.pipeline.run(pixels, embed=False),
            limit=limit,
            min_probability=min_probability,
        )
        if not faces:
            raise FaceNotFoundError(_NO_FACE)
        return [_found(f) for f in faces]

    def recognize(
        self,
        image: ImageInput,
        *,
        limit: int = 0,
        prediction_count: int = 1,
        min_probability: float | None = None,
    ) -> list[RecognizedFace]:
        """Each face of ``image`` with the subjects it matches (over the threshold only).

        Raises:
            ImageError: not an acceptable image.
            FaceNotFoundError: no face (over ``min_probability``).
        """
        self._ctx.ensure_open()
        faces = self._faces(self._ctx.pipeline, image, limit=limit, min_probability=min_probability)
        watchlist = self._collection.watchlist()
        if watchlist is None:  # nobody enrolled yet: nobody to match
            return [RecognizedFace(f, detection_probability(f)) for f in faces]
        top_k = max(1, min(prediction_count, self._ctx.settings.max_top_k))
        result = self._recognition.identify_faces(
            faces, watchlist.watchlist_id, top_k=top_k, include_names=True
        )
        return [
            RecognizedFace(
                probe.face,
                detection_probability(probe.face),
                tuple(
                    (c.display_name, round(c.similarity, 5))
                    for c in probe.matches
                    if c.display_name is not None
                ),
            )
            for probe in result.faces
        ]

    def verify(
        self,
        image_id: str,
        image: ImageInput,
        *,
        limit: int = 0,
        min_probability: float | None = None,
    ) -> list[ComparedFace]:
        """The faces of ``image`` with their similarity to the stored example ``image_id``.

        Raises:
            NotFoundError: no such example in the CompreFace collection.
            ImageError, FaceNotFoundError: see :meth:`recognize`.
        """
        subject_id = self._collection.owner(image_id)
        faces = self._faces(
            self._ctx.enroll_pipeline, image, limit=limit, min_probability=min_probability
        )
        embeddings = np.array([f.require_embedding() for f in faces], dtype=np.float32)
        ctx = self._ctx
        with ctx.writing() as tx:
            key = self._collection.data_key(tx, subject_id)
            row = tx.get_face(image_id)
            if row is None:
                raise FaceNotFoundError(f"Image {image_id!r} was deleted meanwhile")
            template = open_template(ctx.envelope, key, image_id, row.template, ctx.template_dim)
            similarities = ctx.protector.protect(embeddings) @ template
            self._audit.append(
                tx,
                "verify",
                object_type="subject",
                object_id=subject_id,
                details={"face": image_id, "faces": len(faces)} | _VIA,
            )
        return [
            ComparedFace(f, detection_probability(f), round(float(s), 5))
            for f, s in zip(faces, similarities, strict=True)
        ]

    def verify_images(
        self,
        source: ImageInput,
        target: ImageInput,
        *,
        limit: int = 0,
        min_probability: float | None = None,
    ) -> tuple[FoundFace, list[ComparedFace]]:
        """The main face of ``source``, and each face of ``target`` with its similarity to it.

        Raises:
            ImageError, FaceNotFoundError: either image is unacceptable or has no face.
        """
        self._ctx.ensure_open()
        pipeline = self._ctx.enroll_pipeline
        source_pixels = pipeline.decode(source, name="source_image")
        source_faces = select_faces(
            pipeline.run(source_pixels), limit=0, min_probability=min_probability
        )
        main = central_face(source_faces, source_pixels.shape)
        if main is None:
            raise FaceNotFoundError(f"source_image: {_NO_FACE}")
        targets = self._faces(pipeline, target, limit=limit, min_probability=min_probability)
        reference = main.require_embedding()
        similarities = [float(f.require_embedding() @ reference) for f in targets]
        self._audit.record(
            "verify.images",
            details={"faces": len(targets), "best": round(max(similarities), 4)} | _VIA,
        )
        return _found(main), [
            ComparedFace(f, detection_probability(f), round(s, 5))
            for f, s in zip(targets, similarities, strict=True)
        ]
