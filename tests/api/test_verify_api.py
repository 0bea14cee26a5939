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

import numpy as np

from facewarden import imaging
from facewarden.match.thresholds import threshold_for

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


def _comparisons(live: LiveServer) -> list[dict[str, object]]:
    """The details of every verify.images audit entry, oldest first."""
    entries, page = [], live.warden.audit.entries(limit=100)
    while page:
        entries += page
        page = live.warden.audit.entries(after_seq=page[-1].seq, limit=100)
    return [dict(e.details) for e in entries if e.action == "verify.images"]


def test_a_face_below_the_quality_bar_is_compared_only_when_forced_and_audited_so(
    live: LiveServer, photos: dict[str, Path]
) -> None:
    """The refusal told an HTTP client to "force it", and neither verify route took a
    `force` field: a dark CCTV still could be compared on the command line only."""
    dark = (imaging.decode(photos["obama2"]) * 0.2).astype(np.uint8)
    still = ("still.jpg", imaging.encode_jpeg(dark), "image/jpeg")
    files = {"image_a": _jpeg(photos["obama"]), "image_b": still}
    before = len(_comparisons(live))
    with live.client("operator") as client:
        refused = client.post("/v1/verify/images", files=files)
        forced = client.post("/v1/verify/images", files=files, data={"force": "true"})
    assert refused.status_code == 400, refused.text
    message = refused.json()["error"]["message"]
    assert message.startswith("image_b: the face is not usable for recognition: ")
    assert "too dark" in message and "force" in message
    assert forced.status_code == 200, forced.text
    (warning,) = forced.json()["warnings"]
    assert warning.startswith("image_b: face below the quality bar (") and "too dark" in warning
    # The refusal compared nothing and is not a comparison in the log; the forced one says so.
    after = _comparisons(live)
    assert len(after) == before + 1 and after[-1]["forced"] is True
    assert after[-1]["match"] is forced.json()["is_match"]


def test_the_operating_point_is_chosen_per_request_and_an_uncalibrated_one_is_refused(
    live: LiveServer, photos: dict[str, Path]
) -> None:
    """CLI and library take an FMR for a 1:1 decision; HTTP clients (Rekognition's
    SimilarityThreshold per call) had the default only."""
    files = {"image_a": _jpeg(photos["obama"]), "image_b": _jpeg(photos["obama2"])}
    pipeline = live.warden.enroll_pipeline
    with live.client("operator") as client:
        default = client.post("/v1/verify/images", files=files)
        strict = client.post("/v1/verify/images", files=files, data={"fmr": "1e-4"})
        loose = client.post("/v1/verify/images", files=files, data={"fmr": "0.01"})
        odd = client.post("/v1/verify/images", files=files, data={"fmr": "0.05"})
    for answer, fmr in ((default, 1e-3), (strict, 1e-4), (loose, 1e-2)):
        assert answer.status_code == 200, answer.text
        assert answer.json()["fmr"] == fmr
        assert answer.json()["threshold"] == round(threshold_for(pipeline, fmr), 4)
    assert odd.status_code == 400, odd.text
    assert odd.json()["error"] == {
        "type": "InvalidInputError",
        "message": "no threshold calibrated at FMR 0.05; choose one of: 0.0001, 0.001, 0.01",
    }
