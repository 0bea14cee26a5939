"""A probe photo whose EXIF turn was lost, sent to /v1/identify on the real server.

A browser canvas resize, a messaging app or a scanner fed sideways sends the
pixels as the sensor stored them, with no orientation to apply. The server
identifies and detects with the ``fast`` pipeline (the default deployment:
probes in ``fast``, templates enrolled in ``accurate``): it must find the face
turned, match the enrolled person, and answer the face's box and landmarks in
the pixels the client sent, where the client draws them.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facewarden import imaging
from facewarden.types import Box
from facewarden.vision.landmarks import fit_mtcnn_points
from facewarden.vision.orientation import turned_back
from facewarden.vision.pipeline import Pipeline

from ._live import LiveServer


@pytest.fixture(scope="module")
def watchlist(live: LiveServer, photos: dict[str, Path]) -> str:
    with live.client("operator") as client:
        client.post(
            "/v1/watchlists",
            json={"name": "gate", "purpose": "site access", "lawful_basis": "art. 6(1)(f)"},
        ).raise_for_status()
        client.post(
            "/v1/subjects",
            data={
                "record": '{"full_name": "Barack Obama", "lawful_basis": "t"}',
                "watchlist": "gate",
            },
            files={"file": ("o.jpg", photos["obama"].read_bytes(), "image/jpeg")},
        ).raise_for_status()
    return "gate"


def _png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")  # no EXIF: nothing says how to turn it
    return buffer.getvalue()


@pytest.mark.parametrize("quarters", [1, 2, 3])
def test_a_turned_probe_is_identified_with_its_box_in_the_sent_pixels(
    live: LiveServer, watchlist: str, photos: dict[str, Path], quarters: int
) -> None:
    upright = imaging.decode(photos["obama_probe"])
    [expected] = Pipeline.from_mode("fast").run(upright, embed=False)
    turned = np.ascontiguousarray(np.rot90(upright, quarters))
    with live.client("operator") as client:
        answer = client.post(
            "/v1/identify",
            data={"watchlist": watchlist},
            files={"file": ("turned.png", _png(turned), "image/png")},
        )
    assert answer.status_code == 200, answer.text
    [face] = answer.json()["faces"]
    assert face["usable"], face["reasons"]
    [best, *_] = face["candidates"]
    assert best["full_name"] == "Barack Obama" and best["is_match"], face
    # np.rot90(turned, 4 - quarters) is the upright photo again: turned_back
    # carries the upright face's box forward into the turned pixels.
    box, _ = turned_back(expected.box, expected.landmarks, 4 - quarters, upright.shape)
    sent = Box(*face["face"]["box_xyxy"])
    height, width = turned.shape[:2]
    assert 0 <= sent.x_min < sent.x_max <= width and 0 <= sent.y_min < sent.y_max <= height
    assert sent.iou(box) > 0.85, (sent, box)


@pytest.mark.parametrize("quarters", [1, 3])
def test_compreface_detect_answers_a_turned_faces_box_and_points_in_the_sent_pixels(
    live: LiveServer, photos: dict[str, Path], quarters: int
) -> None:
    upright = imaging.decode(photos["obama_probe"])
    [expected] = Pipeline.from_mode("fast").run(upright, embed=False)
    box, points = turned_back(
        expected.box, fit_mtcnn_points(upright, expected), 4 - quarters, upright.shape
    )
    turned = np.ascontiguousarray(np.rot90(upright, quarters))
    with live.client("operator") as client:
        answer = client.post(
            "/api/v1/detection/detect",
            params={"face_plugins": "landmarks"},
            files={"file": ("turned.png", _png(turned), "image/png")},
        )
    assert answer.status_code == 200, answer.text
    [face] = answer.json()["result"]
    sent = Box(
        face["box"]["x_min"], face["box"]["y_min"], face["box"]["x_max"], face["box"]["y_max"]
    )
    assert sent.iou(box) > 0.85, (sent, box)
    # The subject's eyes, nose and mouth where they are in the sent photo (fitted
    # upright, then turned back with it), not a fit of a face lying on its side.
    found = np.asarray(face["landmarks"], dtype=np.float64)
    assert np.abs(found - points).max() < 0.05 * expected.box.width, (found, points)
