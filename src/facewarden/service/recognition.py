"""Identification (1:N against a watchlist) and verification (1:1), audited.

A probe image and its embeddings live only in this function's memory: the
embedding is protected with the deployment's transform before it meets the
gallery, and neither is stored or logged. A match is a candidate for a
person to review, not a fact. What they answer is
:mod:`facewarden.service.recognition_results`.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from facewarden.errors import ConfigError, NotFoundError
from facewarden.match.index import Hit
from facewarden.match.thresholds import DEFAULT_FMR, threshold_for
from facewarden.privacy.crypto import WrappedKey
from facewarden.service import purposes
from facewarden.service.audit import AuditLog
from facewarden.service.comparison import compare_images, image_label, main_face
from facewarden.service.context import Context
from facewarden.service.enrollment import ImageInput
from facewarden.service.recognition_results import (
    Candidate,
    Identification,
    ProbeFace,
    Verification,
)
from facewarden.service.records import invalid_input
from facewarden.service.restriction import refuse_if_restricted
from facewarden.service.watchlists import comparison_threshold, resolve_watchlist
from facewarden.store.base import Reader
from facewarden.types import Face
from facewarden.vision.pipeline import Pipeline, is_usable

__all__ = ["Recognition"]


class Recognition:
    """Identify and verify, for one actor."""

    def __init__(self, ctx: Context, audit: AuditLog) -> None:
        self._ctx = ctx
        self._audit = audit

    def identify(
        self,
        image: ImageInput,
        watchlist: str,
        *,
        top_k: int = 5,
        include_names: bool = False,
        purpose: str = "",
    ) -> Identification:
        """Search every face of ``image`` in ``watchlist``.

        Args:
            image: path, bytes or RGB array; never stored.
            watchlist: name or id.
            top_k: candidates per face, 1 to ``Settings.max_top_k``.
            include_names: return the full name of matched subjects (an audited read).
            purpose: why (a case reference); defaults to the watchlist's declared purpose.

        Raises:
            NotFoundError: no such watchlist.
            ImageError: the image is not acceptable.
        """
        self._ctx.ensure_open()
        resolve_watchlist(self._ctx.store, watchlist)  # fail fast, before the pipeline
        pixels = self._ctx.pipeline.decode(image, name=image_label(image))
        return self.identify_faces(
            self._ctx.pipeline.run(pixels, embed=is_usable),  # only usable faces are matched
            watchlist,
            top_k=top_k,
            include_names=include_names,
            purpose=purpose,
        )

    def identify_faces(
        self,
        faces: list[Face],
        watchlist: str,
        *,
        top_k: int = 5,
        include_names: bool = False,
        purpose: str = "",
        audit_subjects: bool = True,
    ) -> Identification:
        """:meth:`identify` for faces the identification pipeline already found and embedded.

        With ``audit_subjects=False`` the audit entry counts the matches instead
        of naming them: a camera's identifications, whose audit entries would
        otherwise outlive the expiring sightings as a record of who passed where.
        """
        self._ctx.ensure_open()
        if not 1 <= top_k <= self._ctx.settings.max_top_k:
            raise invalid_input(f"top_k must be 1 to {self._ctx.settings.max_top_k}, got {top_k}")
        usable = [i for i, f in enumerate(faces) if f.usable]
        embeddings = np.array([faces[i].require_embedding() for i in usable], dtype=np.float32)
        with self._ctx.lock:
            # Load or catch up the gallery before the write transaction starts,
            # so a rebuild does not hold the database's write lock.
            self._ctx.refresh(need_gallery=True)
            return self._search(
                faces, usable, embeddings, watchlist, top_k, include_names, purpose, audit_subjects
            )

    def _search_in_database(
        self,
        usable: list[int],
        embeddings: npt.NDArray[np.float32],
        watchlist: str,
        top_k: int,
    ) -> tuple[tuple[str | None, str | None, str], list[list[Hit]]] | None:
        """The search of a gallery that lives in the database, before the write lock.

        The deployment's write lock is one for every process (on PostgreSQL an
        advisory lock): searching pgvector while holding it would make every
        server's identifications wait for each other. The hits come with what
        they depend on (template key, gallery version, watchlist); the caller
        searches again under the lock if any of it changed meanwhile.
        """
        ctx = self._ctx
        if not usable or not ctx.gallery.in_database:
            return None
        row = resolve_watchlist(ctx.store, watchlist)
        depends = (ctx.protector.key_id, ctx.gallery.version, row.watchlist_id)
        return depends, ctx.gallery.search(
            row.watchlist_id, ctx.protector.protect(embeddings), top_k
        )

    def _search(
        self,
        faces: list[Face],
        usable: list[int],
        embeddings: npt.NDArray[np.float32],
        watchlist: str,
        top_k: int,
        include_names: bool,
        purpose: str,
        audit_subjects: bool = True,
    ) -> Identification:
        ctx = self._ctx
        early = self._search_in_database(usable, embeddings, watchlist, top_k)
        with ctx.writing() as tx:
            ctx.refresh(need_gallery=True)
            row = resolve_watchlist(tx, watchlist)
            threshold = comparison_threshold(ctx.pipeline, ctx.enroll_pipeline, row.fmr)
            if early is not None and early[0] == (
                ctx.protector.key_id,
                ctx.gallery.version,
                row.watchlist_id,
            ):
                hits = early[1]  # nothing changed while waiting for the write lock
            else:
                # Protected under the lock: a template rotation cannot slip in between.
                hits = (
                    ctx.gallery.search(row.watchlist_id, ctx.protector.protect(embeddings), top_k)
                    if usable
                    else []
                )
            by_face = dict(zip(usable, hits, strict=True))
            matched = {
                h.group for face_hits in hits for h in face_hits if h.similarity >= threshold
            }
            names = self._names(tx, matched) if include_names else {}
            results = tuple(
                ProbeFace(
                    face,
                    tuple(
                        Candidate(h.group, h.similarity, threshold, names.get(h.group))
                        for h in by_face.get(i, [])
                    ),
                )
                for i, face in enumerate(faces)
            )
            self._audit.append(
                tx,
                "identify",
                object_type="watchlist",
                object_id=row.watchlist_id,
                purpose=purpose or ctx.watchlist_purpose(row),
                details={
                    "faces": len(faces),
                    "usable": len(usable),
                    "top_k": top_k,
                    **(
                        {"matched": sorted(matched), "names_shown": sorted(names)}
                        if audit_subjects
                        else {"matched_count": len(matched), "names_shown_count": len(names)}
                    ),
                },
            )
        return Identification(row.watchlist_id, row.name, row.fmr, threshold, results)

    def verify(
        self,
        image: ImageInput,
        subject_id: str,
        *,
        fmr: float = DEFAULT_FMR,
        force: bool = False,
        purpose: str = "",
        name: str | None = None,
    ) -> Verification:
        """Is the main face of ``image`` the enrolled subject? (1:1, e.g. at a gate).

        Uses the enrollment pipeline (accurate by default) and the best of the
        subject's enrolled faces. ``name`` is what messages call the photo (an
        upload's form field; default: its path, else "probe image").

        Raises:
            NotFoundError: no such subject.
            ConflictError: the subject's processing is restricted (GDPR Art. 18).
            FaceNotFoundError: no face, or it is below the quality bar and not forced.
        """
        self._ctx.ensure_open()
        if self._ctx.store.get_subject(subject_id) is None:
            raise NotFoundError(f"no subject {subject_id}")
        refuse_if_restricted(self._ctx.store, subject_id, "verified against")
        pipeline = self._ctx.enroll_pipeline
        threshold = _operating_point(pipeline, fmr)
        face, warnings = main_face(pipeline, image, force=force, name=name)
        with self._ctx.writing() as tx:
            probe = self._ctx.protector.protect(face.require_embedding())
            row = tx.get_subject(subject_id)
            if row is None:
                raise NotFoundError(f"no subject {subject_id}")
            refuse_if_restricted(tx, subject_id, "verified against")  # restricted meanwhile
            _, templates = self._ctx.templates_of(
                tx, subject_id, WrappedKey.from_bytes(row.wrapped_key)
            )
            similarity = float(np.max(templates @ probe)) if len(templates) else -1.0
            result = Verification(similarity, threshold, fmr, subject_id, warnings, (face,))
            self._audit.append(
                tx,
                "verify",
                object_type="subject",
                object_id=subject_id,
                purpose=purposes.for_subject(self._ctx, tx, subject_id, purpose),
                details={"match": result.is_match, "similarity": round(similarity, 4)}
                | ({"forced": True} if force else {}),
            )
        return result

    def verify_images(
        self,
        image_a: ImageInput,
        image_b: ImageInput,
        *,
        fmr: float = DEFAULT_FMR,
        force: bool = False,
        purpose: str = "",
        names: tuple[str, str] | None = None,
    ) -> Verification:
        """Are the main faces of two images the same person? (ID photo against live photo.)

        Neither image is stored; the comparison is audited without any value of either.
        ``names``: what messages call the two images (:func:`compare_images`).

        Raises:
            FaceNotFoundError: an image has no face, or a face is below the quality bar.
        """
        self._ctx.ensure_open()
        pipeline = self._ctx.enroll_pipeline
        _operating_point(pipeline, fmr)
        result = compare_images(pipeline, image_a, image_b, fmr=fmr, force=force, names=names)
        self._audit.record(
            "verify.images",
            purpose=purposes.given_or(purpose, "1:1 comparison of two photos"),
            details={"match": result.is_match, "similarity": round(result.similarity, 4)}
            | ({"forced": True} if force else {}),
        )
        return result

    def _names(self, reader: Reader, subject_ids: set[str]) -> dict[str, str]:
        names = {}
        for subject_id in sorted(subject_ids):
            row = reader.get_subject(subject_id)
            if row is not None and "full_name" in row.fields:
                names[subject_id] = self._ctx.envelope.decrypt_str(
                    row.fields["full_name"],
                    data_key=WrappedKey.from_bytes(row.wrapped_key),
                    table="subjects",
                    row=subject_id,
                    field="full_name",
                )
        return names


def _operating_point(pipeline: Pipeline, fmr: float) -> float:
    """The threshold at ``fmr``; an FMR nobody calibrated is the caller's bad input."""
    try:
        return threshold_for(pipeline, fmr)
    except ConfigError as exc:
        raise invalid_input(exc.message) from None
