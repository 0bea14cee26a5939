"""One subject, one person: enrollment refuses faces of someone else, unless forced.

Real photos through the real accurate pipeline: Obama's and Biden's photos
(shared/data/faces, README: who is who), and dlib's johns set (11 photos of
each of five people) for the same person's photos being accepted. The rule's
group logic is also checked on hand-made unit vectors, a pure function.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from facewarden.errors import FaceMismatchError
from facewarden.match.thresholds import THRESHOLDS
from facewarden.service import SubjectRecord, Warden
from facewarden.service.enrollment import PreparedFace
from facewarden.service.same_person import SAME_PERSON_FMR, check_same_person, same_person_bar

from ._data import JOHNS, KNN
from .conftest import Detect, Enroll

OBAMA = sorted((KNN / "train" / "obama").iterdir())  # obama.jpg, obama2.jpg
BIDEN = sorted((KNN / "train" / "biden").iterdir())  # biden.jpg, biden2.jpg
OBAMA_PROBE = KNN / "test" / "obama1.jpg"
MODEL = "dlib-resnet+mirror+jitter8"


def _stored(warden: Warden) -> tuple[int, int]:
    """(subjects, faces) in the deployment's store."""
    subjects = warden.store.list_subjects(after=None, limit=1000)
    return len(subjects), sum(len(warden.store.faces_of(s.subject_id)) for s in subjects)


def _actions(warden: Warden) -> list[str]:
    return [e.action for e in warden.audit.entries(limit=1000)]


def _record(name: str = "Barack Obama") -> SubjectRecord:
    return SubjectRecord(full_name=name, lawful_basis="test")


# -- the rule, on unit vectors ------------------------------------------------------


def _unit(angle_degrees: float) -> np.ndarray:
    """A 128-d unit vector at ``angle_degrees`` from the first axis, in the first plane."""
    v = np.zeros(128, dtype=np.float32)
    v[0], v[1] = np.cos(np.radians(angle_degrees)), np.sin(np.radians(angle_degrees))
    return v


def _face(angle_degrees: float) -> PreparedFace:
    return PreparedFace(_unit(angle_degrees), MODEL, None)


# The bar at FMR 1e-2 is cos 24 deg or so (0.9133): 10 deg apart is one person, 60 deg is two.
@pytest.mark.parametrize(
    ("new", "stored", "refused"),
    [
        ([0], [], []),
        ([0, 10], [], []),
        ([0, 60], [], [1]),  # a tie: the first photo's group is the subject's
        ([60, 0, 5], [], [0]),  # the larger group wins
        ([0, 10, 60, 70], [], [2, 3]),  # two pairs of two people: refused
        ([0, 15, 30], [], []),  # a chain of genuine links, ends 30 deg apart
        ([10], [0], []),
        ([60], [0], [0]),
        ([60, 65], [0], [0, 1]),  # a new pair that only matches itself
        ([30], [0, 60], [0]),  # stored faces are one group; 30 deg from both is no link
        ([60], [0, 55], []),  # linked to one stored face is enough
    ],
)
def test_the_rule_on_unit_vectors(
    new: list[float], stored: list[float], refused: list[int]
) -> None:
    faces = [_face(a) for a in new]
    kept = [(MODEL, _unit(a)) for a in stored]
    assert check_same_person(faces, stored=kept, force=True) == refused
    if refused:
        with pytest.raises(FaceMismatchError, match=rf"photo {refused[0] + 1} of {len(new)}"):
            check_same_person(faces, stored=kept)
    else:
        assert check_same_person(faces, stored=kept) == []


def test_the_bar_is_the_loosest_calibrated_threshold() -> None:
    assert SAME_PERSON_FMR == 1e-2
    for model, table in THRESHOLDS.items():
        assert same_person_bar(model) == table[SAME_PERSON_FMR] == min(table.values())
    with pytest.raises(Exception, match="no threshold calibrated"):
        same_person_bar("arcface-r100")


# -- real photos ------------------------------------------------------------------------


def test_two_different_people_are_refused_and_nothing_is_stored(
    warden: Warden, enroll: Enroll
) -> None:
    keys_before = sorted(p.name for p in Path(warden.key_dir).rglob("*"))
    with pytest.raises(FaceMismatchError) as refused:
        enroll(warden, "Barack Obama", [OBAMA[0], BIDEN[0]])
    assert str(BIDEN[0]) in refused.value.message and str(OBAMA[0]) not in refused.value.message
    assert refused.value.http_status == 409 and refused.value.exit_code == 1
    # Two of each: each photo matches its twin, but the subject would be two people.
    with pytest.raises(FaceMismatchError, match=r"biden2\.jpg"):
        enroll(warden, "Barack Obama", [*OBAMA, *BIDEN])
    assert _stored(warden) == (0, 0)
    assert "subject.enroll" not in _actions(warden)
    assert sorted(p.name for p in Path(warden.key_dir).rglob("*")) == keys_before


def test_uploaded_photos_are_named_by_their_place(warden: Warden) -> None:
    photos = [OBAMA[0].read_bytes(), OBAMA[1].read_bytes(), BIDEN[1].read_bytes()]
    with pytest.raises(FaceMismatchError, match=r"^photo 3 of 3: the face does not match"):
        warden.registry.enroll(_record(), photos)
    assert _stored(warden) == (0, 0)


@pytest.mark.parametrize("person", sorted(p.name for p in JOHNS.iterdir() if p.is_dir()))
def test_one_persons_different_photos_are_accepted(
    warden: Warden, enroll: Enroll, person: str
) -> None:
    photos = sorted((JOHNS / person).glob("*.jpg"))
    enrolled = enroll(warden, person.replace("_", " "), photos)
    assert len(enrolled.face_ids) == len(photos) == 11


def test_obamas_portrait_podium_and_press_room_photos_are_one_person(
    warden: Warden, enroll: Enroll
) -> None:
    enrolled = enroll(warden, "Barack Obama", [*OBAMA, OBAMA_PROBE])
    assert len(enrolled.face_ids) == 3


def test_force_enrolls_them_and_the_audit_says_which_face_was_forced(
    warden: Warden, detect: Detect
) -> None:
    prepared = [
        warden.registry.prepare_detected(detect(p, "accurate"), source=str(p))
        for p in (OBAMA[0], BIDEN[0])
    ]
    enrolled = warden.registry.enroll_prepared(_record(), prepared, force=True)
    [entry] = [e for e in warden.audit.entries(limit=100) if e.action == "subject.enroll"]
    assert entry.details["forced_not_matching"] == (enrolled.face_ids[1],)
    assert str(BIDEN[0]) not in json.dumps(dict(entry.details))  # a path may name a person
    # An enrollment that needed no override says nothing about one.
    warden.registry.enroll_prepared(_record("Obama again"), prepared[:1], force=True)
    last = [e for e in warden.audit.entries(limit=100) if e.action == "subject.enroll"][-1]
    assert "forced_not_matching" not in last.details


def test_adding_or_replacing_with_someone_elses_face_is_refused(
    warden: Warden, enroll: Enroll
) -> None:
    sid = enroll(warden, "Barack Obama", OBAMA[:1]).subject_id
    [only] = warden.registry.get(sid).faces
    with pytest.raises(FaceMismatchError, match=f"faces enrolled for {sid}"):
        warden.faces.add(sid, BIDEN[0])
    # Replacing the only face would otherwise swap the person under the subject.
    with pytest.raises(FaceMismatchError):
        warden.faces.replace(sid, only.face_id, BIDEN[0])
    assert [f.face_id for f in warden.registry.get(sid).faces] == [only.face_id]
    assert "face.add" not in _actions(warden) and "face.replace" not in _actions(warden)
    # The same person's other photo joins; the override lets Biden in, audited as such.
    warden.faces.add(sid, OBAMA_PROBE)
    forced = warden.faces.add(sid, BIDEN[0], force=True)
    entries = [e for e in warden.audit.entries(limit=100) if e.action == "face.add"]
    assert "forced_not_matching" not in entries[0].details
    assert entries[1].details["forced_not_matching"] == (forced,)
    assert len(warden.registry.get(sid).faces) == 3
