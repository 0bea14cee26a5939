"""POST /v1/verify and /v1/verify/images say which face they compared, as the CLI does.

A photo with several faces is compared by its central face. The command line
and the library warn about it ("2 faces, compared the central one"); the HTTP
answer dropped the warning, so a client comparing an ID photo with a group
photo (what Rekognition's CompareFaces is used for) got a verdict about one
face with nothing saying other faces were there. Errors and warnings name the
form field, not a "probe image".
"""

from __future__ import annotations

from pathlib import Path

from ._live import LiveServer


def _jpeg(path: Path) -> tuple[str, bytes, str]:
    return (path.name, path.read_bytes(), "image/jpeg")


def test_verify_images_warns_about_a_photo_of_several_faces(
    live: LiveServer, photos: dict[str, Path]
) -> None:
    with live.client("operator") as client:
        single = client.post(
            "/v1/verify/images",
            files={"image_a": _jpeg(photos["obama"]), "image_b": _jpeg(photos["obama2"])},
        )
        group = client.post(
            "/v1/verify/images",
            files={"image_a": _jpeg(photos["obama"]), "image_b": _jpeg(photos["two_people"])},
        )
    assert single.status_code == 200, single.text
    assert single.json()["warnings"] == [] and single.json()["is_match"] is True
    assert group.status_code == 200, group.text
    assert group.json()["warnings"] == ["image_b: 2 faces, compared the central one"]


def test_verify_against_a_subject_warns_and_names_the_field(
    live: LiveServer, photos: dict[str, Path]
) -> None:
    with live.client("operator") as client:
        enrolled = client.post(
            "/v1/subjects",
            data={"record": '{"full_name": "Barack Obama", "lawful_basis": "test"}'},
            files={"file": _jpeg(photos["obama"])},
        )
        assert enrolled.status_code == 201, enrolled.text
        subject = enrolled.json()["subject_id"]
        group = client.post(
            "/v1/verify", data={"subject_id": subject}, files={"file": _jpeg(photos["two_people"])}
        )
        faceless = client.post(
            "/v1/verify", data={"subject_id": subject}, files={"file": _jpeg(photos["dogs"])}
        )
    assert group.status_code == 200, group.text
    assert group.json()["warnings"] == ["file: 2 faces, compared the central one"]
    assert faceless.status_code == 400, faceless.text
    assert faceless.json()["error"] == {
        "type": "FaceNotFoundError",
        "message": "file: no face found",
    }
