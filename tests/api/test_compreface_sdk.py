"""Acceptance 3: CompreFace's own Python SDK drives facewarden end to end, with real photos.

``compreface-sdk`` from PyPI, unchanged, pointed at the live server with a
facewarden operator key as its ``x-api-key``: add examples of two people,
list them, recognize new photos of them (and of a stranger), verify a photo
against a stored example, verify two photos, detect faces with landmarks,
manage subjects (add, rename, merge, delete one or all) and delete examples.
Similarities are calibrated as CompreFace's are: same people score over
0.5, different people under it, and the deployment's FMR 1e-3 operating
point is 0.75 (see match/calibration.py).

Images are handed to the SDK as bytes (which it supports): given a path,
it opens the file and never closes it.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import pytest
import urllib3.contrib

from facewarden.match.calibration import CALIBRATED_AT

from ._live import LiveServer

# compreface-sdk 0.6.0, the latest release, pins requests-toolbelt 0.9.1, whose
# import reaches for urllib3.contrib.appengine, which urllib3 2 removed. Only
# toolbelt's App Engine adapter uses it (the SDK never does), so an empty
# stand-in lets the published SDK import and run unchanged.
if not hasattr(urllib3.contrib, "appengine"):
    urllib3.contrib.appengine = types.ModuleType("urllib3.contrib.appengine")  # type: ignore[attr-defined]

compreface = pytest.importorskip("compreface", reason="compreface-sdk is not installed")

OBAMA, BIDEN = "Barack Obama", "Joe Biden"
AT_FMR_1E3 = CALIBRATED_AT[1e-3]  # the watchlist's operating point, calibrated: 0.75


@pytest.fixture(scope="module")
def sdk(live: LiveServer) -> Any:
    host, port = live.url.rsplit(":", 1)
    return compreface.CompreFace(host, port, {"prediction_count": 3})


@pytest.fixture(scope="module")
def recognition(sdk: Any, live: LiveServer) -> Any:
    return sdk.init_face_recognition(live.keys["operator"])


@pytest.fixture(scope="module")
def examples(recognition: Any, photos: dict[str, Path]) -> dict[str, str]:
    """Two examples of Obama and two of Biden, added through the SDK: image ids by name."""
    collection = recognition.get_face_collection()
    added = {}
    for name, subject in (
        ("obama", OBAMA),
        ("obama2", OBAMA),
        ("biden", BIDEN),
        ("biden2", BIDEN),
    ):
        result = collection.add(image_path=photos[name].read_bytes(), subject=subject)
        assert result["subject"] == subject, result
        added[name] = result["image_id"]
    return added


def test_subjects_and_examples_are_listed(recognition: Any, examples: dict[str, str]) -> None:
    assert sorted(recognition.get_subjects().list()["subjects"]) == [OBAMA, BIDEN]
    listed = recognition.get_face_collection().list()
    assert listed["total_elements"] == 4
    assert {f["image_id"] for f in listed["faces"]} == set(examples.values())
    assert {f["subject"] for f in listed["faces"]} == {OBAMA, BIDEN}


def test_recognize_names_the_right_people(
    recognition: Any, examples: dict[str, str], photos: dict[str, Path]
) -> None:
    single = recognition.recognize(image_path=photos["obama_probe"].read_bytes())
    [face] = single["result"]
    # prediction_count 3 (the SDK's option): the three most similar examples, best
    # first, so Obama's two before Biden's best (CompreFace ranks examples, not subjects).
    assert [s["subject"] for s in face["subjects"]] == [OBAMA, OBAMA, BIDEN]
    assert face["subjects"][1]["similarity"] >= AT_FMR_1E3
    assert face["subjects"][2]["similarity"] < 0.5
    assert 0.5 < face["box"]["probability"] <= 1.0
    assert (
        face["box"]["x_max"] > face["box"]["x_min"] and face["box"]["y_max"] > face["box"]["y_min"]
    )

    both = recognition.recognize(image_path=photos["obama_and_biden"].read_bytes())
    named = {f["subjects"][0]["subject"] for f in both["result"]}
    assert named == {OBAMA, BIDEN}

    # A stranger still gets the nearest subjects, as from CompreFace, all under 0.5.
    stranger = recognition.recognize(image_path=photos["stranger"].read_bytes())
    assert stranger["result"] and all(
        f["subjects"] and max(s["similarity"] for s in f["subjects"]) < 0.5
        for f in stranger["result"]
    )


def test_recognize_without_a_face_answers_like_compreface(
    recognition: Any, examples: dict[str, str], photos: dict[str, Path]
) -> None:
    answer = recognition.recognize(image_path=photos["dogs"].read_bytes())
    assert answer == {"message": "No face is found in the given image", "code": 28}


def test_verify_a_photo_against_a_stored_example(
    recognition: Any, examples: dict[str, str], photos: dict[str, Path]
) -> None:
    collection = recognition.get_face_collection()
    same = collection.verify(
        image_path=photos["obama_probe"].read_bytes(), image_id=examples["obama"]
    )
    other = collection.verify(
        image_path=photos["obama_probe"].read_bytes(), image_id=examples["biden"]
    )
    [same_face], [other_face] = same["result"], other["result"]
    assert same_face["similarity"] >= AT_FMR_1E3
    assert other_face["similarity"] < 0.5


def test_every_access_is_audited_with_the_configured_purpose(
    sdk: Any,
    recognition: Any,
    examples: dict[str, str],
    live: LiveServer,
    photos: dict[str, Path],
) -> None:
    # Issue 13 finding 10: the CompreFace API's listings, reads and verifications
    # were audited without a purpose.
    start = live.warden.store.last_audit().seq  # type: ignore[union-attr]
    recognition.get_subjects().list()
    collection = recognition.get_face_collection()
    collection.list()
    collection.verify(image_path=photos["obama_probe"].read_bytes(), image_id=examples["obama"])
    verification = sdk.init_face_verification(live.keys["operator"])
    verification.verify(photos["obama2"].read_bytes(), photos["biden"].read_bytes())
    entries = live.warden.audit.entries(after_seq=start, limit=100)
    assert {"subject.list", "verify", "verify.images"} <= {e.action for e in entries}
    assert [e.action for e in entries if not e.purpose.strip()] == []


def test_verify_two_photos(sdk: Any, live: LiveServer, photos: dict[str, Path]) -> None:
    verification = sdk.init_face_verification(live.keys["operator"])
    answer = verification.verify(photos["obama2"].read_bytes(), photos["two_people"].read_bytes())
    [item] = answer["result"]
    matches = sorted(item["face_matches"], key=lambda m: m["box"]["x_min"])
    assert len(matches) == 2  # Obama on the left, Biden on the right
    assert matches[0]["similarity"] >= AT_FMR_1E3
    assert matches[1]["similarity"] < 0.5
    assert item["source_image_face"]["box"]["probability"] > 0.5


def test_detect_with_landmarks(sdk: Any, live: LiveServer, photos: dict[str, Path]) -> None:
    detection = sdk.init_face_detection(live.keys["operator"])
    answer = detection.detect(
        photos["group"].read_bytes(), {"face_plugins": "landmarks", "status": True}
    )
    assert len(answer["result"]) == 6  # dlib's annotation of 2008_002470.jpg
    assert all(len(face["landmarks"]) == 5 for face in answer["result"])
    assert "execution_time" in answer["result"][0] and answer["plugins_versions"]
    limited = detection.detect(photos["group"].read_bytes(), {"limit": 2})
    areas = [
        (f["box"]["x_max"] - f["box"]["x_min"]) * (f["box"]["y_max"] - f["box"]["y_min"])
        for f in answer["result"]
    ]
    assert len(limited["result"]) == 2 and max(areas) == (
        (limited["result"][0]["box"]["x_max"] - limited["result"][0]["box"]["x_min"])
        * (limited["result"][0]["box"]["y_max"] - limited["result"][0]["box"]["y_min"])
    )


def test_a_bad_key_is_refused(sdk: Any, photos: dict[str, Path]) -> None:
    intruder = sdk.init_face_recognition("00000000-0000-0000-0000-000000000002")
    answer = intruder.recognize(image_path=photos["obama_probe"].read_bytes())
    assert answer["code"] == 10 and "not valid" in answer["message"]


def test_subjects_are_managed_through_the_sdk(recognition: Any, examples: dict[str, str]) -> None:
    subjects = recognition.get_subjects()
    assert subjects.add("Ada Lovelace") == {"subject": "Ada Lovelace"}
    assert subjects.add("ada lovelace")["code"] == 43
    assert "Ada Lovelace" in subjects.list()["subjects"]
    assert subjects.update("ada LOVELACE", "Ada King") == {"updated": True}
    assert subjects.delete("Ada King") == {"subject": "Ada King"}
    assert subjects.delete("Ada King")["code"] == 42
    assert sorted(subjects.list()["subjects"]) == [OBAMA, BIDEN]


def test_a_download_without_kept_photos_is_an_error_not_an_image(
    live: LiveServer, examples: dict[str, str]
) -> None:
    """This server keeps no photos (the default): 404 with code 11, never 200 with a JSON body."""
    with live.client("operator") as client:
        answer = client.get(f"/api/v1/recognition/faces/{examples['obama']}/img")
    assert answer.status_code == 404 and answer.json()["code"] == 11
    assert "FACEWARDEN_KEEP_ENROLLMENT_PHOTOS" in answer.json()["message"]


def test_delete_examples_and_subjects(
    recognition: Any, examples: dict[str, str], photos: dict[str, Path]
) -> None:
    collection, subjects = recognition.get_face_collection(), recognition.get_subjects()
    deleted = collection.delete(examples["obama2"])
    assert deleted == {"image_id": examples["obama2"], "subject": OBAMA}
    assert collection.delete_all(BIDEN) == {"deleted": 2}
    assert subjects.list()["subjects"] == [OBAMA]
    assert collection.delete_all("Nobody") == {"deleted": 0}
    assert subjects.add("Grace Hopper") == {"subject": "Grace Hopper"}
    assert subjects.delete(OBAMA) == {"subject": OBAMA}
    assert subjects.delete_all() == {"deleted": 1}
    assert subjects.list()["subjects"] == []
    # Erased means erased: nobody is left to name.
    again = recognition.recognize(image_path=photos["obama_probe"].read_bytes())
    assert all(f["subjects"] == [] for f in again["result"])
