"""A person taken off a watchlist while a camera still follows them: their sighting stops growing.

A camera identifies a track once and then only extends the visit's sighting
(its last-seen time, and its expiry with it) while the track goes on. Found
over HTTP: a subject taken off the watchlist (through any server) while the
camera kept them in view went on being recorded there, the sighting's
last-seen time moving with every frame until the track ended, although no
watchlist held them any more. The record of where someone is must stop when
the reason to watch them does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from ._live import serving

ENROLLED = Path("knn_examples") / "train" / "obama" / "obama.jpg"
PROBE = Path("knn_examples") / "test" / "obama1.jpg"


def _push(client: httpx.Client, image: bytes, when: datetime) -> httpx.Response:
    return client.post(
        "/v1/cameras/door/frames",
        data={"taken_at": when.isoformat()},
        files={"image": ("frame.jpg", image, "image/jpeg")},
    )


def test_a_visit_is_not_extended_after_its_subject_left_the_watchlist(
    tmp_path: Path, faces_dir: Path
) -> None:
    examples = faces_dir / "face_recognition" / "examples"
    frame = (examples / PROBE).read_bytes()
    with serving(tmp_path) as live, live.client("operator") as operator:
        operator.post(
            "/v1/watchlists", json={"name": "gate", "purpose": "site access", "lawful_basis": "t"}
        ).raise_for_status()
        enrolled = operator.post(
            "/v1/subjects",
            data={
                "record": '{"full_name": "B. O.", "lawful_basis": "consent"}',
                "watchlist": "gate",
            },
            files={"file": ("o.jpg", (examples / ENROLLED).read_bytes(), "image/jpeg")},
        )
        assert enrolled.status_code == 201, enrolled.text
        subject = enrolled.json()["subject_id"]
        made = operator.post(
            "/v1/cameras", json={"name": "door", "location": "door", "watchlists": ["gate"]}
        )
        assert made.status_code == 201, made.text

        start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
        first = _push(operator, frame, start)
        assert first.status_code == 200, first.text
        [sighting] = first.json()["new_sightings"]
        assert _push(operator, frame, start + timedelta(seconds=2)).status_code == 200

        off = operator.delete(f"/v1/watchlists/gate/members/{subject}")
        assert off.status_code == 204, off.text
        # The same track goes on for a minute (a frame every 2 s), then the stream ends.
        for step in range(2, 31):
            pushed = _push(operator, frame, start + timedelta(seconds=2 * step))
            assert pushed.status_code == 200, pushed.text
            assert pushed.json()["new_sightings"] == []
        assert operator.post("/v1/cameras/door/frames/end").json()["ended"] is True

        row = live.warden.store.get_sighting(sighting)
        assert row is not None
        assert row.last_seen <= start + timedelta(seconds=2), row.last_seen
