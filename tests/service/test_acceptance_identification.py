"""Acceptance 1: enroll real people, identify real photos at the calibrated FMR 1e-3.

Similarities are checked against the threshold, never for exact values: the
threshold is the calibrated operating point (match/thresholds.py) for the
pipelines in use, and the assertions are about decisions (who, or unknown).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from facewarden.service import Identification, Warden

from ._data import KNN, KNN_EXPECTED, johns_split

pytestmark = pytest.mark.slow


def _names(result: Identification, people: dict[str, str]) -> list[str | None]:
    """The enrolled name each face matched (None: unknown), sorted for comparison."""
    found: list[str | None] = [
        people[face.matches[0].subject_id] if face.matches else None for face in result.faces
    ]
    return sorted(found, key=lambda n: (n is None, n or ""))


def test_knn_test_photos_are_identified_as_their_names_say(
    warden: Warden, enroll: Callable[..., object], faces_dir: object
) -> None:
    warden.watchlists.create("knn", purpose="acceptance test", lawful_basis="test")
    people = {}
    for person in sorted(p for p in (KNN / "train").iterdir() if p.is_dir()):
        enrolled = enroll(warden, person.name, sorted(person.iterdir()), watchlists=["knn"])
        people[enrolled.subject_id] = person.name  # type: ignore[attr-defined]
    tests = sorted((KNN / "test").iterdir())
    assert {p.name for p in tests} == set(KNN_EXPECTED), "a test photo without an expectation"
    for photo in tests:
        result = warden.recognition.identify(photo, "knn", top_k=3)
        expected = sorted(KNN_EXPECTED[photo.name], key=lambda n: (n is None, n or ""))
        assert _names(result, people) == expected, photo.name
        for face in result.faces:
            assert face.usable, (photo.name, face.reasons)
            # At most one subject over the threshold per face: no ambiguous match.
            assert len(face.matches) <= 1, (photo.name, face.matches)


def test_johns_five_enrolled_identify_the_other_six_at_fmr_1e3(
    warden: Warden, enroll: Callable[..., object], faces_dir: object
) -> None:
    warden.watchlists.create("johns", purpose="acceptance test", lawful_basis="test", fmr=1e-3)
    split = johns_split()
    people = {}
    for person, (gallery, _) in split.items():
        enrolled = enroll(warden, person, gallery, watchlists=["johns"])
        people[enrolled.subject_id] = person  # type: ignore[attr-defined]
    correct, probes, unusable = 0, 0, []
    for person, (_, queries) in split.items():
        for photo in queries:
            probes += 1
            result = warden.recognition.identify(photo, "johns")
            assert len(result.faces) == 1, photo
            face = result.faces[0]
            if not face.usable:
                unusable.append(f"{photo.parent.name}/{photo.name}: {'; '.join(face.reasons)}")
                assert face.candidates == ()  # reported, never silently matched
                continue
            names = [people[c.subject_id] for c in face.matches]
            assert names == [person], (photo, [c.to_dict() for c in face.candidates])
            correct += 1
    rate = correct / probes
    print(
        f"\njohns at FMR 1e-3: {correct}/{probes} identified correctly ({rate:.1%}); "
        f"{len(unusable)} below the quality bar, reported as such: {unusable}"
    )
    # Every usable probe is right. A probe the quality bar refuses is reported
    # as such and counts as a miss; at most one chip of the set is soft enough
    # for that (John_Shimkus/000383_03227939.jpg, sharpness 14).
    assert correct == probes - len(unusable)
    assert len(unusable) <= 1
