"""CompreFace's recognize, verify and detect, on facewarden's pipelines and audit log.

Every similarity returned is **calibrated** (:mod:`facewarden.match.calibration`):
0.5 at the deployment's FMR 1e-2 operating point, 0.75 at 1e-3, 0.9 at
1e-4, so CompreFace's guidance holds (different people mostly under 0.5,
same people over it, stricter thresholds above 0.5).

* **recognize** searches the CompreFace watchlist with the identification
  pipeline and returns, per face, the subjects of the ``prediction_count``
  most similar examples whatever their similarity, as CompreFace does (a
  subject with several examples can be named more than once; capped by
  ``Settings.max_top_k``; the names shown are audited).
* **verify** compares the faces of a photo with one stored example, and
  **verify_images** the faces of a target photo with the one face of a
  source photo, both with the enrollment (accurate) pipeline.
* **detect** finds faces with the identification pipeline.
* The **embedding** variants take embeddings as the ``calculator`` plugin
  returns them (the model's own output): they are protected with the
  deployment's secret transform before they meet a stored template, and
  nothing stored is ever returned.

Probe images and their embeddings are never stored; identifications and
verifications are audited (``via: compreface``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from facewarden.errors import FaceNotFoundError, InvalidInputError, MultipleFacesError
from facewarden.match.calibration import Calibration, calibration_for
from facewarden.match.index import Hit
from facewarden.service.audit import AuditLog
from facewarden.service.compreface import CompreFaceCollection, image_id_of
from facewarden.service.compreface_faces import FoundFace, find_faces
from facewarden.service.context import Context
from facewarden.service.enrollment import ImageInput
from facewarden.service.gallery import embedder_of, open_template
from facewarden.service.restriction import refuse_if_restricted
from facewarden.store.base import Reader
from facewarden.vision.pipeline import Pipeline

__all__ = [
    "MAX_EMBEDDINGS",
    "ComparedFace",
    "CompreFaceMatcher",
    "FoundFace",
    "RecognizedFace",
    "Similar",
]

MAX_EMBEDDINGS = 100
"""The most embeddings one embedding request may carry."""

_VIA: dict[str, object] = {"via": "compreface"}
_DIGITS = 5  # CompreFace rounds similarities to 5 decimals


@dataclass(frozen=True)
class RecognizedFace(FoundFace):
    """A face with its most similar subjects, best first: ``(name, calibrated similarity)``."""

    subjects: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class ComparedFace(FoundFace):
    """A face with its calibrated similarity to the reference face."""

    similarity: float = 0.0


@dataclass(frozen=True)
class Similar:
    """One probe embedding's answer: the subjects of its most similar examples, best first."""

    subjects: tuple[tuple[str, float], ...]


def _rounded(values: npt.ArrayLike) -> list[float]:
    return [round(float(v), _DIGITS) for v in np.atleast_1d(np.asarray(values))]


def _find(
    pipeline: Pipeline,
    image: ImageInput,
    *,
    field: str = "",
    limit: int = 0,
    min_probability: float | None,
    detect_faces: bool,
    embed: bool = True,
    to_match: bool = False,
    landmarks: bool = False,
    pose: bool = False,
) -> list[FoundFace]:
    """The faces of one uploaded image, as CompreFace's parameters select them.

    ``field`` names the image in decoding errors where a request carries two
    (the one image of the other requests is the form's ``file``); the no-face
    answer is CompreFace's own text for either. Faces ``to_match`` are those
    fit for recognition only (:func:`~facewarden.service.compreface_faces.find_faces`);
    with ``landmarks`` or ``pose``, each carries MTCNN's five points, and with ``pose``
    its head pose (the landmarks and pose plugins).
    """
    pixels = pipeline.decode(image, name=field or "file")
    times: dict[str, float] = {}
    faces = find_faces(
        pipeline,
        pixels,
        limit=limit,
        min_probability=min_probability,
        detect_faces=detect_faces,
        embed=embed,
        usable_only=to_match,
        times=times,
    )
    image_for = pixels if landmarks or pose else None
    return [FoundFace.of(f, image=image_for, pose=pose, times=times) for f in faces]


def _compared(faces: Sequence[FoundFace], similarities: Sequence[float]) -> list[ComparedFace]:
    return [
        ComparedFace(f.face, f.probability, f.points, f.pose, f.execution_time, similarity=s)
        for f, s in zip(faces, similarities, strict=True)
    ]


class CompreFaceMatcher:
    """Recognize, verify and detect for the CompreFace-compatible API, for one actor."""

    def __init__(
        self,
        ctx: Context,
        audit: AuditLog,
        collection: CompreFaceCollection,
    ) -> None:
        self._ctx = ctx
        self._audit = audit
        self._collection = collection

    # -- calibration -----------------------------------------------------------

    def calibration(self, *, probe: Pipeline | None = None) -> Calibration:
        """The calibration for ``probe`` embeddings against stored (enrollment) templates.

        Without ``probe`` (embeddings from a client, made by either pipeline)
        the stricter points of both pipelines are used.
        """
        ctx = self._ctx
        if probe is None:
            return calibration_for(ctx.pipeline, ctx.enroll_pipeline)
        return calibration_for(probe, ctx.enroll_pipeline)

    # -- images ----------------------------------------------------------------

    def detect(
        self,
        image: ImageInput,
        *,
        limit: int = 0,
        min_probability: float | None = None,
        detect_faces: bool = True,
        embed: bool = False,
        landmarks: bool = False,
        pose: bool = False,
    ) -> list[FoundFace]:
        """The faces of ``image``, biggest first (embedded only for the calculator plugin,
        with MTCNN's five points only for the landmarks plugin).

        Raises:
            ImageError: not an acceptable image.
            FaceNotFoundError: no face (over ``min_probability``).
        """
        self._ctx.ensure_open()
        return _find(
            self._ctx.pipeline,
            image,
            limit=limit,
            min_probability=min_probability,
            detect_faces=detect_faces,
            embed=embed,
            landmarks=landmarks,
            pose=pose,
        )

    def recognize(
        self,
        image: ImageInput,
        *,
        limit: int = 0,
        prediction_count: int = 1,
        min_probability: float | None = None,
        detect_faces: bool = True,
        landmarks: bool = False,
        pose: bool = False,
    ) -> list[RecognizedFace]:
        """Each face of ``image`` with the subjects of its ``prediction_count`` most similar
        examples.

        Raises:
            InvalidInputError: ``prediction_count`` is neither positive nor -1.
            ImageError: not an acceptable image.
            FaceNotFoundError: no face (over ``min_probability``), or none fit for
                recognition (the quality bar; faces under it are left out).
        """
        self._ctx.ensure_open()
        top_k = self._top_k(prediction_count)
        pipeline = self._ctx.pipeline
        faces = _find(
            pipeline,
            image,
            limit=limit,
            min_probability=min_probability,
            detect_faces=detect_faces,
            to_match=True,
            landmarks=landmarks,
            pose=pose,
        )
        embeddings = np.array([f.face.require_embedding() for f in faces], dtype=np.float32)
        answers = self._search(embeddings, top_k, self.calibration(probe=pipeline))
        return [
            RecognizedFace(
                f.face, f.probability, f.points, f.pose, f.execution_time, subjects=a.subjects
            )
            for f, a in zip(faces, answers, strict=True)
        ]

    def _top_k(self, prediction_count: int) -> int:
        """How many subjects to name per face: ``prediction_count`` as CompreFace reads it
        (any positive number, or -1 for every subject), capped at ``max_top_k``.

        Raises:
            InvalidInputError: 0, or under -1 (CompreFace refuses those too).
        """
        if prediction_count == 0 or prediction_count < -1:
            raise InvalidInputError("Prediction count should be any positive number or -1")
        cap = self._ctx.settings.max_top_k
        return cap if prediction_count == -1 else min(prediction_count, cap)

    def _search(
        self, embeddings: npt.NDArray[np.float32], top_k: int, calibration: Calibration
    ) -> list[Similar]:
        """The subjects of the ``top_k`` most similar examples of each raw embedding row,
        named and audited."""
        ctx = self._ctx
        watchlist = self._collection.watchlist()
        if watchlist is None or not len(embeddings):  # nobody enrolled yet
            return [Similar(()) for _ in range(len(embeddings))]
        with ctx.lock:
            # Caught up before the write transaction (a rebuild does not hold the
            # database's write lock), and again under it: another process may have
            # changed the gallery (an erasure) while this one waited for the lock.
            ctx.refresh(need_gallery=True)
            with ctx.writing() as tx:
                ctx.refresh(need_gallery=True)
                protected = ctx.protector.protect(embeddings)
                hits = ctx.gallery.search(watchlist.watchlist_id, protected, top_k)
                ranked = self._by_example(tx, protected, hits, top_k)
                shown = {group for row in ranked for group, _ in row}
                names = {s: self._collection.name_of(tx, s) for s in sorted(shown)}
                self._audit.append(
                    tx,
                    "identify",
                    object_type="watchlist",
                    object_id=watchlist.watchlist_id,
                    purpose=ctx.watchlist_purpose(watchlist),
                    details={
                        "faces": len(embeddings),
                        "top_k": top_k,
                        "names_shown": sorted(names),
                        **_VIA,
                    },
                )
        answers = []
        for row in ranked:
            similarities = _rounded(calibration.calibrate([similarity for _, similarity in row]))
            answers.append(
                Similar(tuple((names[g], s) for (g, _), s in zip(row, similarities, strict=True)))
            )
        return answers

    def _by_example(
        self,
        reader: Reader,
        protected: npt.NDArray[np.float32],
        hits: Sequence[Sequence[Hit]],
        top_k: int,
    ) -> list[list[tuple[str, float]]]:
        """Each probe's ``top_k`` most similar *examples*: ``(subject id, raw similarity)``.

        CompreFace ranks examples, not subjects, so a subject with several
        examples can fill several places. The index found each probe's ``top_k``
        most similar subjects, and every one of the ``top_k`` most similar
        examples belongs to one of them (a subject is ranked by its best
        example), so their templates are all that is compared here. One place
        needs nothing more: the best subject's best example is the best example.
        """
        if top_k == 1:
            return [[(h.group, h.similarity) for h in row] for row in hits]
        ctx = self._ctx
        templates: dict[str, npt.NDArray[np.float32]] = {}
        for group in sorted({h.group for row in hits for h in row}):
            key = self._collection.data_key(reader, group)
            rows = [
                f for f in reader.faces_of(group) if embedder_of(f.model) == ctx.gallery.embedder
            ]
            templates[group] = np.array(
                [
                    open_template(ctx.envelope, key, f.face_id, f.template, ctx.template_dim)
                    for f in rows
                ],
                dtype=np.float32,
            ).reshape(len(rows), ctx.template_dim)
        ranked = []
        for probe, row in zip(protected, hits, strict=True):
            scored = [
                (h.group, float(similarity))
                for h in row
                for similarity in templates[h.group] @ probe
            ]
            scored.sort(key=lambda pair: -pair[1])
            ranked.append(scored[:top_k])
        return ranked

    def verify(
        self,
        image_id: str,
        image: ImageInput,
        *,
        limit: int = 0,
        min_probability: float | None = None,
        detect_faces: bool = True,
        landmarks: bool = False,
        pose: bool = False,
    ) -> tuple[str, list[ComparedFace]]:
        """The example's subject, and the faces of ``image`` with their similarity to it.

        The subject's name is part of CompreFace's answer (on every face).

        Raises:
            NotFoundError: no such example in the CompreFace collection.
            ImageError, FaceNotFoundError: see :meth:`recognize`.
        """
        image_id = image_id_of(image_id)
        subject_id = self._collection.owner(image_id)
        refuse_if_restricted(self._ctx.store, subject_id, "verified against")
        pipeline = self._ctx.enroll_pipeline
        faces = _find(
            pipeline,
            image,
            limit=limit,
            min_probability=min_probability,
            detect_faces=detect_faces,
            to_match=True,
            landmarks=landmarks,
            pose=pose,
        )
        embeddings = np.array([f.face.require_embedding() for f in faces], dtype=np.float32)
        name, raw = self._against_example(subject_id, image_id, embeddings)
        similarities = _rounded(self.calibration(probe=pipeline).calibrate(raw))
        return name, _compared(faces, similarities)

    def _against_example(
        self, subject_id: str, image_id: str, embeddings: npt.NDArray[np.float32]
    ) -> tuple[str, npt.NDArray[np.float32]]:
        """The subject's name, and raw similarities of raw embeddings to one stored
        (protected) template; audited."""
        ctx = self._ctx
        with ctx.writing() as tx:
            # Again, under the lock: a restriction may have landed while the probe was embedded.
            refuse_if_restricted(tx, subject_id, "verified against")
            name = self._collection.name_of(tx, subject_id)
            key = self._collection.data_key(tx, subject_id)
            row = tx.get_face(image_id)
            if row is None:
                raise FaceNotFoundError(f"Image {image_id} was deleted meanwhile")
            template = open_template(ctx.envelope, key, image_id, row.template, ctx.template_dim)
            similarities: npt.NDArray[np.float32] = ctx.protector.protect(embeddings) @ template
            self._audit.append(
                tx,
                "verify",
                object_type="subject",
                object_id=subject_id,
                purpose=self._collection.purpose,
                details={"face": image_id, "faces": len(embeddings)} | _VIA,
            )
        return name, similarities

    def verify_images(
        self,
        source: ImageInput,
        target: ImageInput,
        *,
        limit: int = 0,
        min_probability: float | None = None,
        detect_faces: bool = True,
        landmarks: bool = False,
        pose: bool = False,
    ) -> tuple[FoundFace, list[ComparedFace]]:
        """The one face of ``source``, and each face of ``target`` with its similarity to it.

        Raises:
            ImageError, FaceNotFoundError: either image is unacceptable or has no face.
            MultipleFacesError: the source image has several faces within ``limit``
                (code 31, as CompreFace).
        """
        self._ctx.ensure_open()
        pipeline = self._ctx.enroll_pipeline
        # The limit picks the source's faces too, as in CompreFace: with limit=1
        # a group photo's biggest face is the source, not a "more than one face".
        source_faces = _find(
            pipeline,
            source,
            field="source_image",
            limit=limit,
            min_probability=min_probability,
            detect_faces=detect_faces,
            to_match=True,
            landmarks=landmarks,
            pose=pose,
        )
        if len(source_faces) > 1:
            raise MultipleFacesError(
                "More than one face in the source image", count=len(source_faces)
            )
        [main] = source_faces
        targets = _find(
            pipeline,
            target,
            field="target_image",
            limit=limit,
            min_probability=min_probability,
            detect_faces=detect_faces,
            to_match=True,
            landmarks=landmarks,
            pose=pose,
        )
        reference = main.face.require_embedding()
        raw = np.array([f.face.require_embedding() @ reference for f in targets])
        similarities = _rounded(self.calibration(probe=pipeline).calibrate(raw))
        self._audit.record(
            "verify.images",
            purpose=self._collection.purpose,
            details={"faces": len(targets), "best": max(similarities)} | _VIA,
        )
        return main, _compared(targets, similarities)

    # -- embeddings ------------------------------------------------------------

    def embeddings(self, rows: Sequence[Sequence[float]], *, field: str) -> npt.NDArray[np.float32]:
        """Client embeddings checked (count, length, finite, non-zero) and L2-normalised.

        Raises:
            InvalidInputError: no embedding, too many, a wrong length or a bad value.
        """
        dim = int(self._ctx.pipeline.embedder.embedding_dim)
        if not 0 < len(rows) <= MAX_EMBEDDINGS:
            raise InvalidInputError(f"{field}: 1 to {MAX_EMBEDDINGS} embeddings, got {len(rows)}")
        if any(len(r) != dim for r in rows):
            raise InvalidInputError(
                f"{field}: each embedding has {dim} numbers (this deployment's model)"
            )
        matrix = np.asarray(rows, dtype=np.float64)
        largest = np.max(np.abs(matrix), axis=1, keepdims=True)
        if not np.all(np.isfinite(matrix)) or np.any(largest == 0.0):
            raise InvalidInputError(f"{field}: embeddings must be finite and not all zero")
        # Only the direction counts. Each row is scaled to a largest value of 1
        # before its norm is taken: a norm of huge numbers overflows (and one of
        # tiny numbers underflows), and float32 holds nothing beyond 3.4e38.
        scaled = matrix / largest
        unit: npt.NDArray[np.float32] = (
            scaled / np.linalg.norm(scaled, axis=1, keepdims=True)
        ).astype(np.float32)
        return unit

    def recognize_embeddings(
        self, rows: Sequence[Sequence[float]], *, prediction_count: int = 1
    ) -> list[Similar]:
        """The most similar subjects of each client embedding (CompreFace 1.2's embedding API).

        Raises:
            InvalidInputError: a bad embedding, or ``prediction_count`` neither positive nor -1.
        """
        self._ctx.ensure_open()
        top_k = self._top_k(prediction_count)
        embeddings = self.embeddings(rows, field="embeddings")
        return self._search(embeddings, top_k, self.calibration())

    def verify_embeddings(self, image_id: str, rows: Sequence[Sequence[float]]) -> list[float]:
        """The similarity of each client embedding to the stored example ``image_id``."""
        image_id = image_id_of(image_id)
        subject_id = self._collection.owner(image_id)
        refuse_if_restricted(self._ctx.store, subject_id, "verified against")
        embeddings = self.embeddings(rows, field="embeddings")
        _, raw = self._against_example(subject_id, image_id, embeddings)
        return _rounded(self.calibration().calibrate(raw))

    def compare_embeddings(
        self, source: Sequence[float], targets: Sequence[Sequence[float]]
    ) -> list[float]:
        """The similarity of each target embedding to the source (nothing stored is read)."""
        self._ctx.ensure_open()
        [reference] = self.embeddings([source], field="source")
        matrix = self.embeddings(targets, field="targets")
        similarities = _rounded(self.calibration().calibrate(matrix @ reference))
        self._audit.record(
            "verify.embeddings",
            purpose=self._collection.purpose,
            details={"targets": len(matrix)} | _VIA,
        )
        return similarities
