"""Which face an enrollment takes when the photo shows more than one."""

from __future__ import annotations

import numpy as np
import pytest

from facewarden.errors import MultipleFacesError
from facewarden.service.enrollment import choose_face, recognisable_faces
from facewarden.types import Box, Face, Quality


def _face(x: float, *, usable: bool | None) -> Face:
    quality = None
    if usable is not None:
        reasons = () if usable else ("face is blurred (sharpness 2.4 < 6.0)",)
        quality = Quality(
            face_px=100.0,
            sharpness=80.0 if usable else 2.4,
            brightness=120.0,
            yaw_degrees=0.0,
            usable=usable,
            reasons=reasons,
        )
    box = Box(x, 10.0, x + 100.0, 110.0)
    return Face(box, np.zeros((5, 2), np.float32), 0.9, "test", quality)


@pytest.mark.parametrize(
    ("usable", "expected"),
    [
        # one usable face beside a blurred false alarm: the usable one alone counts
        ((True, False), [0]),
        ((False, True, False), [1]),
        # two usable faces: both count, the caller must say which
        ((True, True), [0, 1]),
        # none usable: all count, so the quality verdict is reported, not hidden
        ((False, False), [0, 1]),
        # no verdict: a face without one is not dropped
        ((None, False), [0]),
        ((True,), [0]),
    ],
)
def test_recognisable_faces(usable: tuple[bool | None, ...], expected: list[int]) -> None:
    faces = [_face(200.0 * i, usable=u) for i, u in enumerate(usable)]
    assert recognisable_faces(faces) == [faces[i] for i in expected]


def test_choose_face_takes_the_one_usable_face_and_still_refuses_two_usable() -> None:
    sharp, blurred = _face(0.0, usable=True), _face(300.0, usable=False)
    assert choose_face([blurred, sharp], source="photo.jpg") is sharp
    with pytest.raises(MultipleFacesError, match="2 faces found"):
        choose_face([sharp, _face(300.0, usable=True)], source="photo.jpg")
    # an explicit choice still indexes the detector's full list
    assert choose_face([blurred, sharp], source="p", face_index=0, force=True) is blurred
