"""Cameras behind a load balancer: two servers on one PostgreSQL answer alike.

Two real servers (``create_app`` under uvicorn on loopback, each with its own
open deployment and data folder, one key directory, one database) stand for
the hosts behind a non-sticky balancer: each request may reach either. What
the console reads about cameras (occupancy alerts, a pushed camera's state)
must not depend on which server answers, and a camera's pushed frames must
not be tracked by two servers at once (each would count the same visitors);
a server killed or cut off mid-visit hands the camera and its visit on.
The SQLite cases (one host) check the same stores: occupancy alerts outlive
a restart and keep their cooldown across streams, and a worker run apart
from the server has its cameras' states shown.
"""

from __future__ import annotations

import secrets
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from facewarden.service.camera_states import PUBLISH_EVERY
from facewarden.service.supervisor import IngestSupervisor
from facewarden.service.warden import Warden
from facewarden.store._pg_embedded import EmbeddedPostgres
from facewarden.store.pg_claims import CAMERA_NS

from ._live import FAST, KNN, LiveServer, serving
from .test_serve_postgres import OBAMA, create_watchlist, enroll, start_serve

FRAME = KNN / "test" / "obama1.jpg"
SETTINGS: dict[str, Any] = FAST | {"occupancy_threshold": 1, "count_people": False}
"""One face in view raises an occupancy alert; no body detector (not the point here)."""


@pytest.fixture(scope="module")
def two(
    pg_server: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, LiveServer]]:
    url = pg_server.create_database(f"lb_{secrets.token_hex(6)}")
    root = tmp_path_factory.mktemp("lb")
    shared = SETTINGS | {"database_url": url, "camera_video_dir": root}
    with (
        serving(root / "a", **shared) as a,
        serving(root / "b", key_dir=root / "a" / "keys", **shared) as b,
    ):
        yield a, b


def push(client: httpx.Client, camera: str, when: datetime) -> httpx.Response:
    return client.post(
        f"/v1/cameras/{camera}/frames",
        data={"taken_at": when.isoformat()},
        files={"image": ("frame.jpg", FRAME.read_bytes(), "image/jpeg")},
    )


def add_camera(client: httpx.Client, name: str) -> str:
    made = client.post("/v1/cameras", json={"name": name, "location": "hall"})
    assert made.status_code == 201, made.text
    return str(made.json()["camera_id"])


def occupancy(client: httpx.Client, camera_id: str) -> list[dict[str, Any]]:
    answer = client.get("/v1/alerts", params={"limit": 100})
    assert answer.status_code == 200, answer.text
    return [a for a in answer.json()["occupancy"] if a["camera_id"] == camera_id]


def test_an_occupancy_alert_raised_on_one_server_is_read_on_every_server(
    two: tuple[LiveServer, LiveServer], faces_dir: Path
) -> None:
    """The console polls through the balancer: each poll must show the same alerts.

    They were kept in the memory of the server that processed the frame, so
    a console answered by the other server saw none (and then some again).
    """
    a, b = two
    with a.client("operator") as on_a, b.client("operator") as on_b:
        camera_id = add_camera(on_a, "foyer")
        pushed = push(on_a, "foyer", datetime.now(UTC) - timedelta(seconds=5))
        assert pushed.status_code == 200, pushed.text
        assert pushed.json()["faces"] == 1
        [on_a_alert] = occupancy(on_a, camera_id)
        assert occupancy(on_b, camera_id) == [on_a_alert]
        assert (on_a_alert["people"], on_a_alert["threshold"]) == (1, 1)
        assert on_a.post("/v1/cameras/foyer/frames/end").json()["ended"] is True


def test_occupancy_alerts_outlive_a_restart(tmp_path: Path, faces_dir: Path) -> None:
    """SQLite, one host: a restarted server still shows the live window's occupancy alerts."""
    with serving(tmp_path, **SETTINGS) as first, first.client("operator") as operator:
        camera_id = add_camera(operator, "porch")
        assert push(operator, "porch", datetime.now(UTC) - timedelta(seconds=5)).status_code == 200
        [raised] = occupancy(operator, camera_id)
    with serving(tmp_path, **SETTINGS) as again, again.client("operator") as operator:
        assert occupancy(operator, camera_id) == [raised]


def test_an_occupancy_alerts_cooldown_holds_across_streams(tmp_path: Path, faces_dir: Path) -> None:
    """A still pushed now and then, each its own stream (ended, or gone idle), or a camera
    taken over by another server: one alert per 5 minutes, not one per stream.

    The cooldown lived in each stream's processor, so every new stream of a
    crowded camera raised an alert again at its first frame.
    """
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=20)
    with serving(tmp_path, **SETTINGS) as live, live.client("operator") as operator:
        camera_id = add_camera(operator, "kiosk")
        for minutes in (0, 1, 2, 6):
            assert push(operator, "kiosk", start + timedelta(minutes=minutes)).status_code == 200
            assert operator.post("/v1/cameras/kiosk/frames/end").json()["ended"] is True
        raised = [a["at"] for a in occupancy(operator, camera_id)]
    assert raised == [
        (start + timedelta(minutes=m)).isoformat().replace("+00:00", "Z") for m in (6, 0)
    ]


def visitors(server: LiveServer, camera_id: str, since: datetime) -> int:
    buckets = server.warden.store.crowd_buckets(camera_id, since, since + timedelta(hours=1))
    return sum(b.unique_visitors for b in buckets)


def test_a_cameras_pushed_frames_are_tracked_by_one_server_at_a_time(
    two: tuple[LiveServer, LiveServer], faces_dir: Path
) -> None:
    """Frames of one camera pushed through a non-sticky balancer reach both servers.

    Each server tracked the frames it got as a stream of its own, so the one
    person in view was two visitors (each server counted them once), and each
    server's tracks saw every other frame. Now the server holding the
    camera's stream processes its frames; the other answers 409 with
    Retry-After (the client sends the frame again, and reaches the holder),
    until the stream ends, after which either server may take the camera.
    """
    a, b = two
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=3)
    with a.client("operator") as on_a, b.client("operator") as on_b:
        camera_id = add_camera(on_a, "gate")
        answers = [
            push(client, "gate", start + timedelta(seconds=step))
            for step, client in enumerate([on_a, on_b, on_a, on_b])
        ]
        assert [r.status_code for r in answers] == [200, 409, 200, 409]
        busy = answers[1]
        assert busy.json()["error"]["type"] == "CameraBusyError", busy.text
        assert int(busy.headers["Retry-After"]) >= 1
        # Ending it through the other server is refused alike: its buckets are on A.
        assert on_b.post("/v1/cameras/gate/frames/end").status_code == 409
        ended = on_a.post("/v1/cameras/gate/frames/end")
        assert ended.json() == {"ended": True, "frames": 2, "sightings": 0}
        assert visitors(a, camera_id, start) == 1

        # Ended, the camera is free: B takes the next stream, and A is refused.
        later = start + timedelta(seconds=30)
        assert push(on_b, "gate", later).status_code == 200
        assert push(on_a, "gate", later + timedelta(seconds=1)).status_code == 409
        assert on_b.post("/v1/cameras/gate/frames/end").json()["ended"] is True
        assert on_a.post("/v1/cameras/gate/frames/end").json()["ended"] is False


@pytest.mark.slow
def test_a_server_that_dies_mid_visit_hands_the_camera_and_the_visit_on(
    pg_server: EmbeddedPostgres, tmp_path: Path, faces_dir: Path
) -> None:
    """Server A is killed (SIGKILL) while it tracks a watchlist subject; B takes over.

    A's claim vanishes with its connection, so B takes the camera's next
    frame at once; the visit A had open goes on as the same sighting (no
    second alert for the same person in the same visit), its last-seen time
    moved on by B. Before, A wrote a pushed visit's last-seen time only every
    30 s: B found it more than the 10 s a visit may pause ago and opened a
    second sighting.
    """
    url = pg_server.create_database(f"die_{secrets.token_hex(6)}")
    env = {
        "FACEWARDEN_DATABASE_URL": url,
        "FACEWARDEN_MODE": "fast",
        "FACEWARDEN_ENROLL_MODE": "fast",
        "FACEWARDEN_COUNT_PEOPLE": "false",
        "FACEWARDEN_INGEST": "false",
    }
    keys = tmp_path / "keys"
    a = start_serve("--init", "--data-dir", tmp_path / "a", "--key-dir", keys, env=env)
    try:
        b = start_serve("--data-dir", tmp_path / "b", "--key-dir", keys, env=env)
    except BaseException:
        a.stop(signal.SIGKILL)
        raise
    try:
        key = a.api_key()
        with a.client(key) as on_a, b.client(key) as on_b:
            create_watchlist(on_a)
            assert enroll(on_a, OBAMA).status_code == 201
            made = on_a.post(
                "/v1/cameras", json={"name": "door", "location": "door", "watchlists": ["gate"]}
            )
            assert made.status_code == 201, made.text
            start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
            opened = []
            for step in range(16):  # 16 s of the visit on A
                pushed = push(on_a, "door", start + timedelta(seconds=step))
                assert pushed.status_code == 200, pushed.text
                opened += pushed.json()["new_sightings"]
            [sighting] = opened
            assert push(on_b, "door", start + timedelta(seconds=16)).status_code == 409

            assert a.stop(signal.SIGKILL) == -signal.SIGKILL
            taken = push(on_b, "door", start + timedelta(seconds=17))
            assert taken.status_code == 200, taken.text
            assert taken.json()["new_sightings"] == []
            assert on_b.post("/v1/cameras/door/frames/end").json()["ended"] is True
            with psycopg.connect(url) as conn:
                rows = conn.execute("SELECT sighting_id, first_seen, last_seen FROM sightings")
                assert rows.fetchall() == [(sighting, start, start + timedelta(seconds=17))]
    finally:
        a.stop(signal.SIGKILL)
        code = b.stop()
    assert code == 0
    assert "Traceback" not in "".join(b.err)


def camera(client: httpx.Client, name: str) -> dict[str, Any]:
    answer = client.get(f"/v1/cameras/{name}")
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def shows_within(client: httpx.Client, name: str, expected: dict[str, Any], bound: float) -> float:
    """Poll ``client`` until the camera shows ``expected`` (its fields); how long it took."""
    began = time.monotonic()
    while True:
        shown = camera(client, name)
        if {k: shown[k] for k in expected} == expected:
            return time.monotonic() - began
        assert time.monotonic() - began < bound, (shown, expected)
        time.sleep(0.05)


def desk_health(client: httpx.Client, name: str) -> dict[str, Any]:
    answer = client.get("/v1/desk")
    assert answer.status_code == 200, answer.text
    [health] = [c for c in answer.json()["cameras"] if c["name"] == name]
    return dict(health)


def test_a_pushed_cameras_state_reads_alike_on_every_server(
    two: tuple[LiveServer, LiveServer], faces_dir: Path
) -> None:
    """The camera list through the balancer: a stream open on A is live on B too.

    B answered from its own memory: ``idle``, no frames, while A processed them.
    A publishes its streams' states at their first frame and every 2 s after
    (PUBLISH_EVERY); so B shows them within that bound, and idle once the
    stream ended.
    """
    a, b = two
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)
    with a.client("operator") as on_a, b.client("operator") as on_b:
        add_camera(on_a, "lane")
        for step in range(2):
            assert push(on_a, "lane", start + timedelta(seconds=step)).status_code == 200
        shown = {k: camera(on_a, "lane")[k] for k in ("state", "frames", "source_kind")}
        assert shown == {"state": "live", "frames": 2, "source_kind": "push"}
        bound = PUBLISH_EVERY.total_seconds() + 1.0
        assert camera(on_b, "lane")["state"] == "live"  # published at the first frame
        shows_within(on_b, "lane", shown, bound)
        # The desk's camera health likewise (frame time: a frame a second).
        assert desk_health(on_b, "lane") == desk_health(on_a, "lane")
        assert desk_health(on_b, "lane")["fps"] == 1.0
        assert on_a.post("/v1/cameras/lane/frames/end").json()["ended"] is True
        assert camera(on_b, "lane")["state"] == "idle"


def test_a_camera_run_by_one_servers_ingest_shows_its_health_on_every_server(
    two: tuple[LiveServer, LiveServer],
) -> None:
    """B's ingest worker runs a camera whose file is missing; A shows the error too.

    A answered ``idle`` with no error: a broken camera looked healthy on half
    the console's polls.
    """
    a, b = two
    videos = a.settings.camera_video_dir
    assert videos is not None
    missing = videos / "missing.mp4"
    supervisor = IngestSupervisor(b.warden.with_actor("system:ingest"), rebalance_seconds=0.2)
    b.app.state.server.ingest = supervisor
    supervisor.start()
    try:
        with a.client("operator") as on_a, b.client("operator") as on_b:
            made = on_a.post(
                "/v1/cameras", json={"name": "yard", "location": "yard", "source": str(missing)}
            )
            assert made.status_code == 201, made.text
            deadline = time.monotonic() + 30
            while camera(on_b, "yard")["state"] not in {"error", "failed"}:
                assert time.monotonic() < deadline, camera(on_b, "yard")
                time.sleep(0.1)
            on_b_shows = camera(on_b, "yard")
            assert "does not exist" in str(on_b_shows["error"])
            assert str(videos) not in str(on_b_shows["error"])
            # Published at B's next round (0.2 s here): a changed state is not held back.
            shows_within(on_a, "yard", on_b_shows, 2.0)
            assert desk_health(on_a, "yard") == desk_health(on_b, "yard")
            assert desk_health(on_a, "yard")["error"] == on_b_shows["error"]
            # What the database keeps names no file (a file's name may name a place: the
            # store keeps sources sealed); the servers show it as its holder does.
            published = a.warden.store.get_meta(f"camera_state:{on_b_shows['camera_id']}")
            assert published is not None and "does not exist" in published
            assert "missing" not in published and str(videos) not in published
            assert on_a.delete("/v1/cameras/yard").status_code == 204
    finally:
        supervisor.stop()
        b.app.state.server.ingest = None


def test_a_server_cut_off_from_its_claim_gives_the_camera_up(
    two: tuple[LiveServer, LiveServer], faces_dir: Path
) -> None:
    """A's claim session is cut (its backend terminated, as a lost connection ends it).

    The camera is free: B takes the next frame. A, sent a frame again, finds
    its claim gone and the camera B's: it answers 409 and finishes the stream
    it still had (its buckets written), rather than track it beside B.
    """
    a, b = two
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=4)
    with a.client("operator") as on_a, b.client("operator") as on_b:
        camera_id = add_camera(on_a, "dock")
        for step in range(2):
            assert push(on_a, "dock", start + timedelta(seconds=step)).status_code == 200
        url = a.settings.database_url
        assert url is not None
        with psycopg.connect(url, autocommit=True) as conn:
            holders = conn.execute(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND classid = %s::bigint::oid",
                (CAMERA_NS,),
            ).fetchall()
            assert len(holders) == 1
            conn.execute("SELECT pg_terminate_backend(%s)", holders[0])
        deadline = time.monotonic() + 10
        while (taken := push(on_b, "dock", start + timedelta(seconds=2))).status_code == 409:
            assert time.monotonic() < deadline, taken.text
            time.sleep(0.1)
        assert taken.status_code == 200, taken.text
        lost = push(on_a, "dock", start + timedelta(seconds=3))
        assert lost.status_code == 409, lost.text
        assert lost.json()["error"]["type"] == "CameraBusyError"
        assert a.app.state.server.open_stream(camera_id) is None  # finished, not kept
        assert camera(on_a, "dock")["state"] == "live"  # as B published it, not withdrawn by A
        assert visitors(a, camera_id, start) == 1  # A's stream's buckets were written
        assert on_b.post("/v1/cameras/dock/frames/end").json()["ended"] is True


def test_on_sqlite_a_worker_apart_shows_its_cameras_state_through_the_server(
    tmp_path: Path,
) -> None:
    """One host, SQLite: ``facewarden worker`` runs the cameras, ``serve --no-ingest`` the API.

    The server answered ``idle`` for every camera the worker ran: it only
    knew the states of its own ingest. The worker's published state is shown.
    """
    with (
        serving(tmp_path, camera_video_dir=tmp_path, **FAST) as live,
        Warden.open(live.settings, actor="test:worker") as worker,
        IngestSupervisor(worker.with_actor("system:ingest"), rebalance_seconds=0.2),
        live.client("operator") as operator,
    ):
        made = operator.post(
            "/v1/cameras",
            json={"name": "gate", "location": "gate", "source": str(tmp_path / "gone.mp4")},
        )
        assert made.status_code == 201, made.text
        shows_within(operator, "gate", {"state": "error"}, 30.0)
        assert "does not exist" in str(camera(operator, "gate")["error"])


def test_an_occupancy_alert_ahead_of_the_clock_does_not_stop_the_feed(
    tmp_path: Path, faces_dir: Path
) -> None:
    """A camera whose frame times run ahead of the server's clock (a file read faster than
    real time by an ingest worker; a pushed frame stamped ahead, within 5 minutes).

    The console asks for alerts ``since`` the newest ``at`` it holds: an alert
    dated ahead of the clock made that ``since`` one in the future, which is a
    400, so every later poll of the feed failed, sightings included. An alert
    is dated no later than the server's clock when it is raised.
    """
    with serving(tmp_path, **SETTINGS) as live, live.client("operator") as operator:
        camera_id = add_camera(operator, "ramp")
        ahead = datetime.now(UTC) + timedelta(minutes=4, seconds=50)
        assert push(operator, "ramp", ahead).status_code == 200
        [alert] = occupancy(operator, camera_id)
        assert datetime.fromisoformat(alert["at"]) <= datetime.now(UTC)
        time.sleep(0.5)  # the console's next poll, from the newest alert it holds
        again = operator.get("/v1/alerts", params={"since": alert["at"], "limit": 10})
        assert again.status_code == 200, again.text
