"""CompreFace's official JavaScript SDK drives facewarden end to end, unchanged, on real photos.

``@exadel/compreface-js-sdk`` 1.0.0 (the latest release), installed at set-up
by ``scripts/fetch_compreface_js_sdk.py`` (``make test`` and CI run it; nothing
is downloaded here), runs ``compreface_js/drive.mjs`` under Node against the
live server with a facewarden operator key: subjects (add, list, rename,
delete, delete all), examples (add by path, base64 and Buffer, list, delete
one, several, a subject's), recognize with its options and face plugins,
verify against an example, detection and verification. The SDK rejects on
any status but 2xx, so statuses count here as much as bodies do.

The SDK's own quirks are CompreFace's too and are asserted as such: a Node
``Buffer`` goes out as multipart without its boundary (400, code 0, as any
server answers that body), and its ``add`` echoes the subject as sent.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from facewarden.match.calibration import CALIBRATED_AT

from ._live import FACES, LiveServer

DRIVER = Path(__file__).with_name("compreface_js") / "drive.mjs"
OBAMA, BIDEN = "Barack Obama", "Joe Biden"
AT_FMR_1E3 = CALIBRATED_AT[1e-3]  # the watchlist's operating point, calibrated: 0.75


def _sdk_entry() -> Path:
    # Where scripts/fetch_compreface_js_sdk.py installs it (its default_dest).
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    folder = Path(base) / "facewarden" / "compreface-js-sdk"
    return folder / "node_modules" / "@exadel" / "compreface-js-sdk" / "index.js"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def images_url() -> Iterator[str]:
    """The example photos over HTTP on loopback, for the SDK's "image by URL" uploads."""
    folder = FACES / "face_recognition" / "examples"
    handler = functools.partial(_QuietHandler, directory=str(folder))
    with ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{server.server_address[1]}/"
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def answers(
    live: LiveServer,
    photos: dict[str, Path],
    images_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """What each SDK call answered: ``{step: {"ok", "value"} or {"ok", "status", "data"}}``."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (Debian: apt-get install npm brings it)")
    entry = _sdk_entry()
    if not entry.is_file():
        pytest.skip(
            "CompreFace's JavaScript SDK is not installed: "
            "run `make compreface-js-sdk` (scripts/fetch_compreface_js_sdk.py)"
        )
    out = tmp_path_factory.mktemp("js-sdk") / "answers.json"
    environment = os.environ | {
        "CF_SDK": str(entry),
        "CF_URL": live.url,
        "CF_KEY": live.keys["operator"],
        "CF_PHOTOS": str(FACES),
        "CF_OUT": str(out),
        "CF_IMAGES": images_url,
    }
    # stdout is dropped: the SDK's subject list prints the URL and the API key there.
    done = subprocess.run(
        [node, str(DRIVER)],
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def _value(answers: dict[str, Any], step: str) -> Any:
    answer = answers[step]
    assert answer["ok"], (step, answer)
    return answer["value"]


def _refusal(answers: dict[str, Any], step: str) -> tuple[int, dict[str, Any]]:
    answer = answers[step]
    assert not answer["ok"], (step, answer)
    return answer["status"], answer["data"]


def test_subjects_and_examples_are_added_and_listed(answers: dict[str, Any]) -> None:
    assert _value(answers, "subject_add") == {"subject": "Ada Lovelace"}
    assert _refusal(answers, "subject_add_again") == (
        400,
        {"message": "Subject already exists", "code": 43},
    )
    by_path, by_base64 = _value(answers, "add_path"), _value(answers, "add_base64")
    assert by_path["subject"] == OBAMA
    assert by_base64["subject"] == "barack obama"  # echoed as sent, like CompreFace
    listed = _value(answers, "list")
    assert listed["total_elements"] == 3 and listed["page_size"] == 20
    assert [f["image_id"] for f in listed["faces"]] == [
        by_path["image_id"],
        by_base64["image_id"],
        _value(answers, "add_biden")["image_id"],
    ]  # in the order they were added
    assert {f["subject"] for f in listed["faces"]} == {OBAMA, BIDEN}
    assert _value(answers, "subjects") == {"subjects": ["Ada Lovelace", OBAMA, BIDEN]}


def test_what_compreface_refuses_is_refused_alike(answers: dict[str, Any]) -> None:
    no_face = (400, {"message": "No face is found in the given image", "code": 28})
    assert _refusal(answers, "add_no_face") == no_face
    assert _refusal(answers, "recognize_no_face") == no_face
    # The SDK appends a Buffer to its form and sends "multipart/form-data" with
    # no boundary: no server can read that body (CompreFace: 400, code 0, too).
    status, body = _refusal(answers, "add_buffer")
    assert (status, body["code"]) == (400, 0) and "boundary" in body["message"]
    # A wrong key: CompreFace's code 10, with facewarden's 401 (docs: deviations).
    status, body = _refusal(answers, "bad_key")
    assert (status, body["code"]) == (401, 10)


def test_recognize_names_the_right_people_with_the_sdks_options(answers: dict[str, Any]) -> None:
    [face] = _value(answers, "recognize_path")["result"]
    # prediction_count 3: the three most similar examples, Obama's two first.
    assert [s["subject"] for s in face["subjects"]] == [OBAMA, OBAMA, BIDEN]
    assert face["subjects"][1]["similarity"] >= AT_FMR_1E3 > 0.5 > face["subjects"][2]["similarity"]
    plugged = _value(answers, "recognize_base64_plugins")
    [one] = plugged["result"]  # limit 1 of the two faces
    assert len(one["landmarks"]) == 5 and len(one["embedding"]) == 128
    assert one["box"]["probability"] >= 0.8  # det_prob_threshold
    assert "execution_time" in one and plugged["plugins_versions"]
    assert "age" not in one and "gender" not in one  # plugins this server does not run


def test_verify_against_stored_examples(answers: dict[str, Any]) -> None:
    [same] = _value(answers, "verify_example")["result"]
    [other] = _value(answers, "verify_other_example")["result"]
    assert same["subject"] == OBAMA and same["similarity"] >= AT_FMR_1E3
    assert other["subject"] == BIDEN and other["similarity"] < 0.5


def test_detection_and_verification_services(answers: dict[str, Any]) -> None:
    detected = _value(answers, "detect")
    assert len(detected["result"]) == 2 and detected["plugins_versions"]
    assert all(
        len(f["landmarks"]) == 5 and set(f["pose"]) == {"pitch", "roll", "yaw"}
        for f in detected["result"]
    )
    [biggest] = _value(answers, "detect_limit")["result"]
    assert biggest["box"] == detected["result"][0]["box"]
    [pair] = _value(answers, "verification_path")["result"]
    similarities = sorted(m["similarity"] for m in pair["face_matches"])
    assert len(similarities) == 2 and similarities[0] < 0.5 and similarities[1] >= AT_FMR_1E3
    [cross] = _value(answers, "verification_base64")["result"]
    assert [m["similarity"] < 0.5 for m in cross["face_matches"]] == [True]


def test_images_given_by_url_arrive_as_chunked_uploads(answers: dict[str, Any]) -> None:
    # The SDK fetches the URL itself and streams the image on without a length.
    [face] = _value(answers, "recognize_url")["result"]
    assert face["subjects"][0]["subject"] == OBAMA
    assert face["subjects"][0]["similarity"] >= AT_FMR_1E3
    [pair] = _value(answers, "verification_urls")["result"]
    assert pair == _value(answers, "verification_path")["result"][0]


def test_renames_and_deletions(answers: dict[str, Any]) -> None:
    assert _value(answers, "rename") == {"updated": True}
    assert _value(answers, "delete_subject") == {"subject": "Ada King"}
    assert _refusal(answers, "delete_subject_again") == (
        404,
        {"message": "Subject Ada King not found", "code": 42},
    )
    image_id = _value(answers, "add_path")["image_id"]
    assert _value(answers, "delete_image") == {"image_id": image_id, "subject": OBAMA}
    status, body = _refusal(answers, "delete_image_again")
    assert (status, body) == (404, {"message": f"Image {image_id} not found", "code": 44})
    biden = _value(answers, "add_biden")["image_id"]
    assert _value(answers, "delete_multiple") == [{"image_id": biden, "subject": BIDEN}]
    assert _value(answers, "delete_all_subject") == {"deleted": 1}
    assert _value(answers, "delete_all_subjects") == {"deleted": 2}  # Obama and Biden
    assert _value(answers, "subjects_after") == {"subjects": []}
