"""The ingest supervisor on SQLite: one host runs every camera, isolated, resumable.

(Sharing cameras among workers on PostgreSQL: test_workers_pg.py.)
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from facewarden.privacy import ManualClock
from facewarden.service import Warden
from facewarden.service.supervisor import CameraProgress, IngestSupervisor

from ._video import Walk, face_crop, write_video
from .conftest import T0, enroll, make_settings

SIZE = (240, 180)


def _wait(condition: Callable[[], bool], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def _camera_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("camera-") and t.is_alive()]


def _states(supervisor: IngestSupervisor, warden: Warden) -> dict[str, str]:
    names = {c.camera_id: c.name for c in warden.cameras.all()}
    return {names[k]: v.state for k, v in supervisor.states().items()}


def test_runs_every_camera_and_a_broken_one_does_not_stop_the_others(
    warden: Warden, tmp_path: Path
) -> None:
    blank = write_video(tmp_path / "blank.mp4", [], seconds=2.0, fps=10.0, size=SIZE)
    bogus = tmp_path / "broken.avi"
    bogus.write_bytes(b"\x00" * 4096)
    warden.cameras.add("a", location="a", source=str(blank))
    warden.cameras.add("b", location="b", source=str(blank))
    warden.cameras.add("broken", location="c", source=str(bogus))
    warden.cameras.add("missing", location="d", source=str(tmp_path / "nothing.mp4"))
    warden.cameras.add("no-source", location="e")
    events: list[tuple[str, str]] = []
    supervisor = IngestSupervisor(
        warden, worker_id="solo", fps_budget=4, rebalance_seconds=0.1, on_claim=_record(events)
    )
    supervisor.start()
    try:
        assert _wait(lambda: _states(supervisor, warden).get("b") == "ended")
        assert _wait(lambda: _states(supervisor, warden).get("a") == "ended")
        states = supervisor.states()
        by_name = _states(supervisor, warden)
        assert by_name == {"a": "ended", "b": "ended", "broken": "error", "missing": "error"}
        broken = warden.cameras.get("broken").camera_id
        assert "not a video file" in (states[broken].error or "")
        a = warden.cameras.get("a").camera_id
        assert states[a].frames == 8 and states[a].worker == "solo"
        assert supervisor.held == set(states)
        assert sorted(e for e, _ in events) == ["claimed"] * 4
        progress = CameraProgress.load(warden, a)
        assert progress is not None and progress.ended and progress.t0 == T0
        assert progress.seconds == pytest.approx(1.8)
        # The progress keeps a digest of the source, not its path.
        raw = warden.store.get_meta(CameraProgress.key(a)) or ""
        assert str(tmp_path) not in raw and json.loads(raw)["worker"] == "solo"
        # A file processed to its end is not processed again, nor a failed camera at once.
        rounds = supervisor.rounds
        assert _wait(lambda: supervisor.rounds >= rounds + 3)
        assert supervisor.states()[a].frames == 8
    finally:
        supervisor.stop()
    assert supervisor.held == frozenset() and supervisor.states() == {}
    assert sorted(e for e, _ in events) == ["claimed"] * 4 + ["released"] * 4
    assert not _camera_threads()


def _record(events: list[tuple[str, str]]) -> Callable[[str, str], None]:
    def told(event: str, camera_id: str) -> None:
        events.append((event, camera_id))

    return told


def test_stop_stops_every_camera_thread_and_a_removed_camera_is_stopped(
    warden: Warden, tmp_path: Path
) -> None:
    warden.cameras.add("gone", location="a", source="http://127.0.0.1:9/nothing")
    warden.cameras.add("stays", location="b", source="http://127.0.0.1:9/nothing")
    supervisor = IngestSupervisor(warden, worker_id="solo", rebalance_seconds=0.1)
    supervisor.start()
    try:
        assert _wait(lambda: set(_states(supervisor, warden).values()) == {"unreachable"})
        assert len(_camera_threads()) == 2
        warden.cameras.remove("gone")
        assert _wait(lambda: len(supervisor.held) == 1 and len(_camera_threads()) == 1)
    finally:
        supervisor.stop()
    assert _wait(lambda: not _camera_threads(), 10)
    assert supervisor.held == frozenset()


def test_a_second_supervisor_on_the_same_sqlite_idles_until_the_first_stops(
    warden: Warden, tmp_path: Path
) -> None:
    blank = write_video(tmp_path / "blank.mp4", [], seconds=1.0, fps=10.0, size=SIZE)
    camera = warden.cameras.add("a", location="a", source=str(blank)).camera_id
    first = IngestSupervisor(warden, worker_id="one", rebalance_seconds=0.1)
    second = IngestSupervisor(warden, worker_id="two", rebalance_seconds=0.1)
    first.start()
    try:
        second.start()
        try:
            rounds = second.rounds
            assert _wait(lambda: second.rounds >= rounds + 3)
            assert first.held == {camera} and second.held == frozenset()
            first.stop()
            assert _wait(lambda: second.held == {camera}, 10)
        finally:
            second.stop()
    finally:
        first.stop()


def test_a_restarted_camera_resumes_its_file_with_one_sighting_per_visit(
    warden: Warden, knn: Path, tmp_path: Path, clock: ManualClock
) -> None:
    warden.watchlists.create("entrance", purpose="site access", lawful_basis="test")
    obama = enroll(warden, "Barack Obama", knn / "obama" / "obama.jpg", ("entrance",))
    tile = face_crop(knn / "obama" / "obama2.jpg", 100)
    walk = Walk("obama", tile, 0.5, 5.5, (10, 40), (230, 60))
    video = write_video(tmp_path / "door.mp4", [walk], seconds=6.0, fps=10.0, size=(340, 200))
    camera = warden.cameras.add(
        "door", location="north", watchlists=["entrance"], source=str(video)
    ).camera_id

    def run_until(condition: Callable[[IngestSupervisor], bool]) -> None:
        supervisor = IngestSupervisor(
            warden, fps_budget=4, rebalance_seconds=0.1, progress_seconds=1.0, realtime=True
        )
        supervisor.start()
        try:
            assert _wait(lambda: condition(supervisor))
        finally:
            supervisor.stop()

    def position(supervisor: IngestSupervisor) -> float:
        status = supervisor.states().get(camera)
        return -1.0 if status is None or status.position is None else status.position

    run_until(lambda s: position(s) >= 2.5 and warden.store.count_sightings() == 1)
    half = CameraProgress.load(warden, camera)
    assert half is not None and not half.ended and 2.5 <= half.seconds < 5.0
    clock.advance(timedelta(minutes=5))  # a later start: the video keeps its time zero
    run_until(lambda s: s.states().get(camera) is not None and s.states()[camera].state == "ended")
    done = CameraProgress.load(warden, camera)
    assert done is not None and done.ended and done.t0 == T0

    sightings = warden.sightings.at_camera(
        "entrance", "door", T0, T0 + timedelta(minutes=1), role="operator"
    )
    assert [s.subject_id for s in sightings] == [obama]
    assert (sightings[0].first_seen - T0).total_seconds() == pytest.approx(0.5, abs=0.6)
    assert (sightings[0].last_seen - T0).total_seconds() == pytest.approx(5.5, abs=0.6)


def test_recording_a_visit_twice_extends_the_stored_sighting(warden: Warden, knn: Path) -> None:
    warden.watchlists.create("entrance", purpose="site access", lawful_basis="test")
    subject = enroll(warden, "Barack Obama", knn / "obama" / "obama.jpg", ("entrance",))
    row = warden.cameras.add("door", location="north", watchlists=["entrance"])
    cam = warden.store.get_camera(row.camera_id)
    assert cam is not None
    s, wl = timedelta(seconds=1), cam.watchlists[0]
    first = warden.sightings.open_visit(cam, subject, wl, T0, T0 + 4 * s, 0.9)
    # Another worker goes over seconds 3 to 9 again: the same visit, extended.
    again = warden.sightings.open_visit(cam, subject, wl, T0 + 3 * s, T0 + 9 * s, 0.95)
    # Back 8 s after the last sighting ended (within the visit gap): still the same.
    later = warden.sightings.open_visit(cam, subject, wl, T0 + 17 * s, T0 + 18 * s, 0.9)
    # 30 s later: a new visit. record_visit says which calls opened one (alerts go
    # out for those only).
    new, opened = warden.sightings.record_visit(cam, subject, wl, T0 + 48 * s, T0 + 50 * s, 0.9)
    continued = warden.sightings.record_visit(cam, subject, wl, T0 + 49 * s, T0 + 51 * s, 0.9)
    assert first == again == later != new
    assert opened and continued == (new, False)
    stored = warden.store.get_sighting(first)
    assert stored is not None
    assert (stored.first_seen, stored.last_seen) == (T0, T0 + 18 * s)
    assert stored.best_similarity == pytest.approx(0.95)
    assert stored.expires_at == T0 + 18 * s + timedelta(hours=24)
    assert warden.store.count_sightings() == 2
    records = [e for e in warden.audit.entries(limit=1000) if e.action == "sighting.record"]
    assert len(records) == 2


def test_a_source_that_cannot_be_opened_stops_only_its_own_camera(
    warden: Warden, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Workers list the sources every few seconds: one altered ciphertext (or a
    # lost key) must leave the other cameras running, not stop all claiming.
    good = warden.cameras.add("door", location="north", source=str(tmp_path / "door.mp4"))
    bad = warden.cameras.add("yard", location="south", source=str(tmp_path / "yard.mp4"))
    assert warden.cameras.sources() == {
        good.camera_id: str(tmp_path / "door.mp4"),
        bad.camera_id: str(tmp_path / "yard.mp4"),
    }
    stored = warden.store.get_camera(bad.camera_id)
    assert stored is not None and stored.sealed_source is not None
    with warden.store.transaction() as tx:
        tx.set_camera_source(
            bad.camera_id, stored.sealed_source[:-1] + bytes([stored.sealed_source[-1] ^ 1])
        )
    with caplog.at_level(logging.ERROR, logger="facewarden.service.cameras"):
        assert warden.cameras.sources() == {good.camera_id: str(tmp_path / "door.mp4")}
    assert "yard" in caplog.text and "cannot be opened" in caplog.text


def test_a_file_is_said_to_have_ended_only_once_its_end_is_stored(
    warden: Warden, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Writing the final progress is made slow (a loaded disk), so a status read
    # in that window shows whether "ended" is reported before it is durable.
    blank = write_video(tmp_path / "blank.mp4", [], seconds=1.0, fps=10.0, size=SIZE)
    warden.cameras.add("a", location="a", source=str(blank))
    save = CameraProgress.save

    def slow_final_save(self: CameraProgress, warden_: Warden, camera_id: str) -> None:
        if self.ended:
            time.sleep(1.0)
        save(self, warden_, camera_id)

    monkeypatch.setattr(CameraProgress, "save", slow_final_save)
    supervisor = IngestSupervisor(warden, worker_id="solo", fps_budget=4, rebalance_seconds=0.1)
    supervisor.start()
    try:
        assert _wait(lambda: _states(supervisor, warden).get("a") == "ended")
        progress = CameraProgress.load(warden, warden.cameras.get("a").camera_id)
        assert progress is not None and progress.ended
    finally:
        supervisor.stop()


def test_a_files_progress_names_it_by_a_keyed_digest_and_goes_with_its_camera(
    warden: Warden, tmp_path: Path
) -> None:
    """What the progress of a camera's file keeps cannot confirm a guess of its path.

    The path is stored sealed (it may name the place: a shelter's back door),
    but the progress kept an unkeyed SHA-256 of it: whoever held the database
    could hash candidate paths and confirm one. It also stayed in the meta
    table after the camera was removed. Now the digest is keyed (the
    deployment's blind-index key), and the progress goes with the camera.
    """
    path = tmp_path / "womens-shelter-back-door.mp4"
    write_video(path, [], seconds=1.0, fps=10.0, size=SIZE)
    warden.cameras.add("back", location="back door", source=str(path))
    camera_id = warden.cameras.get("back").camera_id
    supervisor = IngestSupervisor(warden, worker_id="solo", fps_budget=4, rebalance_seconds=0.1)
    supervisor.start()
    try:
        assert _wait(lambda: _states(supervisor, warden).get("back") == "ended")
    finally:
        supervisor.stop()
    raw = warden.store.get_meta(CameraProgress.key(camera_id)) or ""
    stored = json.loads(raw)["source"]
    guessed = hashlib.sha256(str(path).encode()).hexdigest()
    assert stored and stored not in guessed and guessed[:32] not in raw

    warden.cameras.remove("back")
    assert warden.store.get_meta(CameraProgress.key(camera_id)) is None


def test_progress_stored_under_the_unkeyed_digest_still_resumes_and_is_rekeyed(
    warden: Warden, tmp_path: Path
) -> None:
    path = write_video(tmp_path / "lobby.mp4", [], seconds=2.0, fps=10.0, size=SIZE)
    warden.cameras.add("lobby", location="lobby", source=str(path))
    camera_id = warden.cameras.get("lobby").camera_id
    # As an earlier version left it: half the file done, under the plain SHA-256.
    CameraProgress(CameraProgress.legacy_digest(str(path)), T0, 1.0).save(warden, camera_id)
    supervisor = IngestSupervisor(warden, worker_id="solo", fps_budget=4, rebalance_seconds=0.1)
    supervisor.start()
    try:
        assert _wait(lambda: _states(supervisor, warden).get("lobby") == "ended")
        assert 0 < supervisor.states()[camera_id].frames < 8  # resumed: 8 for the whole file
    finally:
        supervisor.stop()
    progress = CameraProgress.load(warden, camera_id)
    assert progress is not None and progress.ended and progress.t0 == T0
    assert progress.source == warden.cameras.source_digest(str(path))


def test_a_worker_alone_purges_as_it_starts_then_every_interval(
    warden: Warden, knn: Path, tmp_path: Path
) -> None:
    """A deployment that runs its cameras with `facewarden worker` and no server purges too.

    The purge ran only in `facewarden serve` (or a `facewarden purge` someone
    schedules): a site running workers alone wrote sightings and crowd
    counts that nothing ever deleted.
    """
    warden.watchlists.create("entrance", purpose="site access", lawful_basis="test")
    subject = enroll(warden, "Barack Obama", knn / "obama" / "obama.jpg", ("entrance",))
    warden.cameras.add("door", location="front door", watchlists=["entrance"])
    camera = warden.store.camera_by_name("door")
    assert camera is not None
    now = datetime.now(UTC)
    old = warden.sightings.open_visit(
        camera, subject, camera.watchlists[0], now - timedelta(hours=30),
        now - timedelta(hours=25), 0.95,
    )  # fmt: skip
    settings = warden.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEWARDEN_")}
    env.update(
        FACEWARDEN_DATA_DIR=str(settings.data_dir),
        FACEWARDEN_KEY_DIR=str(settings.resolved_key_dir),
        FACEWARDEN_WORKERS="1",
        FACEWARDEN_MODE="fast",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "facewarden.cli", "worker", "--no-people"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        assert _wait(lambda: warden.store.get_sighting(old) is None, 60), "no purge by the worker"
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr.decode()
    purges = [e for e in warden.audit.entries(limit=100) if e.action == "retention.purge"]
    assert purges and purges[-1].actor == "system:retention"


def test_a_camera_an_ingest_worker_runs_raises_occupancy_alerts(
    tmp_path: Path, knn: Path, clock: ManualClock
) -> None:
    """``FACEWARDEN_OCCUPANCY_THRESHOLD`` holds for every camera, not only pushed ones.

    A camera read from its source by an ingest worker never raised one: the
    alerts lived in the API server's memory, which a worker (on another host,
    or ``facewarden worker`` apart) could not reach. Stored now, the worker's
    alert is in the console's feed (``GET /v1/alerts``) whichever server answers.
    """
    settings = make_settings(tmp_path, occupancy_threshold=1, count_people=False)
    walk = Walk(
        "obama", face_crop(knn / "obama" / "obama2.jpg", 100), 0.2, 2.8, (10, 40), (230, 60)
    )
    video = write_video(tmp_path / "hall.mp4", [walk], seconds=3.0, fps=10.0, size=(340, 200))
    with Warden.open(settings, clock=clock, create=True, actor="test:pytest") as warden:
        camera = warden.cameras.add("hall", location="hall", source=str(video)).camera_id
        with IngestSupervisor(warden, fps_budget=4, rebalance_seconds=0.1) as supervisor:
            assert _wait(lambda: _states(supervisor, warden).get("hall") == "ended")
        alerts = warden.crowd.occupancy_alerts(T0 - timedelta(seconds=1), 10, role="operator")
    [alert] = alerts
    assert (alert.camera_id, alert.people, alert.threshold) == (camera, 1, 1)
    # The file ran ahead of the clock (held at T0): the alert is dated by the clock, not
    # in its future, where a console asking for alerts since it would be refused.
    assert alert.at == T0
