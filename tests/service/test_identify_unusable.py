"""Identification embeds only the faces it can match, and reports the others with reasons."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from facewarden.service import Warden

from ._data import KNN


def test_unusable_faces_are_reported_with_reasons_and_never_searched(
    warden: Warden, enroll: Callable[..., object], faces_dir: Path
) -> None:
    warden.watchlists.create("door", purpose="unit test", lawful_basis="test")
    enroll(warden, "biden", sorted((KNN / "train" / "biden").iterdir()), watchlists=["door"])
    # dlib's group photo: 8 faces, 6 of them under 40 px or blurred.
    photo = faces_dir / "dlib" / "examples" / "faces" / "2007_007763.jpg"
    result = warden.recognition.identify(photo, "door", top_k=3)
    usable = [f for f in result.faces if f.usable]
    unusable = [f for f in result.faces if not f.usable]
    assert usable and unusable
    for face in unusable:  # not embedded, so never searched: no candidates, the reasons said
        assert face.face.embedding is None
        assert face.reasons and not face.candidates
    for face in usable:  # searched: the watchlist's one subject is each face's candidate
        assert face.face.embedding is not None
        assert face.candidates and not face.reasons
