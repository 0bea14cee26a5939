"""One subject, one person: enrollment refuses a face that is not the subject's.

A subject matches everyone whose face is among its templates, so a photo of
someone else enrolled under it (a mixed-up upload, or a malicious one) makes
an innocent person raise that subject's alerts. Every path that stores new
faces of a subject (:meth:`~facewarden.service.enroller.Enroller.enroll_prepared`,
which the CLI, the API and bulk import reach; :class:`~facewarden.service.faces.FaceEditor`'s
add and replace; the CompreFace-compatible add-example and merge-by-rename)
calls :func:`check_same_person` (:func:`check_joining` for a stored subject)
before it stores anything.

The bar is lenient on purpose: the similarity at FMR 1e-2 of the faces'
model (:data:`SAME_PERSON_FMR`, from :mod:`facewarden.match.thresholds`), so
an ID photo and a live photo of one person are not refused. On the LFW
View 2 fold-1 pairs (ageing, pose and light far harder than an enrollment's
photos), with the accurate enrollment pipeline, it refuses 3 of the 300
same-person pairs (1.0%) and lets 2 of the 300 different-person pairs through;
the recognition default (FMR 1e-3) would refuse 18 (``benchmarks/same_person_bar.py``).

The rule: two faces are linked when their similarity reaches the bar, and the
subject's stored faces count as one group (they were accepted already). Each
new face must be linked, directly or through other new faces, to the stored
faces; with none stored, to the largest group among the new ones (on a tie,
the group holding the first photo). So four photos of two people (A, A, B, B)
are refused, which "matches some other photo" would let through.

Templates are compared as stored: protected by the deployment's orthogonal
transform, which keeps cosine similarity exactly. Stored templates are
decrypted for the request only and dropped with it; no similarity is logged,
audited or put in a message.

``force`` (the same override as for the quality bar; enrolling needs the
operator role) lets refused faces through; the caller audits which faces were
forced in (their face ids, never the photos' names).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from facewarden.errors import ConfigError, ConflictError, FaceMismatchError
from facewarden.match.thresholds import THRESHOLDS
from facewarden.privacy.crypto import WrappedKey
from facewarden.service.context import Context
from facewarden.service.enrollment import PreparedFace
from facewarden.service.gallery import open_template
from facewarden.store.base import Reader

__all__ = [
    "FORCE_HINT",
    "SAME_PERSON_FMR",
    "StoredFace",
    "check_joining",
    "check_same_person",
    "forced_details",
    "same_person_bar",
    "stored_faces",
]

SAME_PERSON_FMR = 1e-2
"""The false match rate whose threshold links two faces as one person's (the loosest calibrated)."""

FORCE_HINT = ", or force it (operator) if they truly are one"
"""How a refusal ends where the caller can override it."""

StoredFace = tuple[str, npt.NDArray[np.float32]]
"""A subject's stored face as the check needs it: (model key, protected template)."""


def same_person_bar(model: str) -> float:
    """The similarity two faces of ``model`` must reach to count as one person's.

    Raises:
        ConfigError: the model has no calibrated threshold at :data:`SAME_PERSON_FMR`.
    """
    threshold = THRESHOLDS.get(model, {}).get(SAME_PERSON_FMR)
    if threshold is None:
        raise ConfigError(
            f"no threshold calibrated for model {model!r} at FMR {SAME_PERSON_FMR:g}, "
            "which enrollment needs to check that photos show one person; "
            "run `facewarden eval thresholds` and add it"
        )
    return threshold


def stored_faces(
    ctx: Context, reader: Reader, subject_id: str, key: WrappedKey
) -> list[StoredFace]:
    """A subject's stored templates, decrypted for this request only."""
    return [
        (f.model, open_template(ctx.envelope, key, f.face_id, f.template, ctx.template_dim))
        for f in reader.faces_of(subject_id)
    ]


def check_joining(
    ctx: Context,
    reader: Reader,
    subject_id: str,
    key: WrappedKey,
    new: Sequence[PreparedFace],
    *,
    name: str | None = None,
    force: bool = False,
    hint: str = FORCE_HINT,
) -> list[int]:
    """:func:`check_same_person` of faces joining a stored subject, in the caller's transaction.

    Args:
        ctx: the deployment.
        reader: the caller's transaction (the subject's faces as it sees them).
        subject_id: the subject the faces join.
        key: the subject's wrapped data key.
        new: the faces about to be stored.
        name: how the message names the subject (default: its id).
        force: let refused faces through (the caller audits it).
        hint: the refusal's last words.

    Raises:
        ConflictError: a face was protected with a template key rotated since (the
            stored templates are under the new one: they could not be compared).
        FaceMismatchError: see :func:`check_same_person`.
    """
    if any(face.key_id != ctx.protector.key_id for face in new):
        raise ConflictError(
            "the template key was rotated while this face was being prepared; enroll it again"
        )
    return check_same_person(
        new,
        stored=stored_faces(ctx, reader, subject_id, key),
        subject_id=name or subject_id,
        force=force,
        hint=hint,
    )


def check_same_person(
    new: Sequence[PreparedFace],
    *,
    stored: Sequence[StoredFace] = (),
    subject_id: str | None = None,
    force: bool = False,
    hint: str = FORCE_HINT,
) -> list[int]:
    """Refuse new faces that are not the person of the others (see the module's rule).

    Args:
        new: the faces about to be stored, in the order the caller received them.
        stored: the subject's faces already stored (none for a new subject).
        subject_id: the subject they join, for the message.
        force: let refused faces through (the caller audits it).
        hint: the refusal's last words: how to go on (an API without an override says so).

    Returns:
        The positions in ``new`` of the faces that only ``force`` let through
        (empty when every face matched).

    Raises:
        FaceMismatchError: a face does not match and ``force`` is off; the
            message names every such photo.
        ConfigError: a model has no calibrated threshold.
    """
    if len(new) + len(stored) < 2:
        return []
    models = [m for m, _ in stored] + [f.model for f in new]
    vectors = np.stack([v for _, v in stored] + [f.protected for f in new]).astype(np.float64)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    bars = np.array([same_person_bar(m) for m in models])
    # A pair of two models is held to the looser of their two bars.
    linked = vectors @ vectors.T >= np.minimum.outer(bars, bars)
    groups = _groups(linked, first_new=len(stored))
    if stored:
        kept = groups[0]
    else:
        kept = max(set(groups), key=lambda g: (groups.count(g), -groups.index(g)))
    refused = [i for i in range(len(new)) if groups[len(stored) + i] != kept]
    if refused and not force:
        raise FaceMismatchError(_message(new, refused, subject_id) + hint)
    return refused


def forced_details(face_ids: Sequence[str]) -> dict[str, object]:
    """The audit details of an override: the faces stored although they did not match."""
    return {"forced_not_matching": list(face_ids)} if face_ids else {}


def _groups(linked: npt.NDArray[np.bool_], *, first_new: int) -> list[int]:
    """The connected group of each face (its smallest member); stored faces form one group."""
    parent = list(range(len(linked)))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    def join(i: int, j: int) -> None:
        a, b = root(i), root(j)
        if a != b:
            parent[max(a, b)] = min(a, b)

    for i in range(1, first_new):
        join(0, i)
    for i, j in zip(*np.nonzero(np.triu(linked, k=1)), strict=True):
        join(int(i), int(j))
    return [root(i) for i in range(len(linked))]


def _message(new: Sequence[PreparedFace], refused: list[int], subject_id: str | None) -> str:
    names = [new[i].source or f"photo {i + 1} of {len(new)}" for i in refused]
    others = f"the faces enrolled for {subject_id}" if subject_id else "the other photos"
    verb = "does" if len(names) == 1 else "do"
    return (
        f"{', '.join(names)}: the face {verb} not match {others} "
        f"(not the same person at the lenient FMR {SAME_PERSON_FMR:g} bar); nothing was "
        "stored. Enroll only photos of the subject's own person"
    )
