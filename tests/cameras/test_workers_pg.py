"""Acceptance 3 of issue 6: three ingest workers share six cameras on one PostgreSQL.

Three ``facewarden worker`` processes run against one database; six cameras
each play a video file made from real photos (one enrolled person walking
through the view from 1 s to 13 s), at the pace of its own time (``--realtime``,
as a camera would). Once the cameras are shared out, one worker is killed
(SIGKILL) in the middle of its visits. Shown: every camera is held by at most
one worker at every moment (sampled from the server's lock table, and from the
workers' own claim and release lines), and by a live one except while a dead
worker's cameras are taken over; they are taken over within the bound; every
video is processed to its end; and each visit gives exactly one sighting, also
where the survivor went over the dead worker's last seconds again.

No outcome rests on a sleep or on how fast this machine is. The victim is
killed at a moment chosen on its frozen state: it is stopped (SIGSTOP, every
thread), its stored progress read, and killed only if both its videos are
midway (else it goes on and is looked at again). The lock-table samples are
judged by the order of what they show, not by margins of time around the
kill: from the first sample without the dead worker it never comes back, and
from the first sample where the survivors hold everything each camera has
exactly one holder. The waits only bound how long the test may take.
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner

from facewarden.cli import cli
from facewarden.service import Warden
from facewarden.service.supervisor import CameraProgress
from facewarden.store._pg_embedded import EmbeddedPostgres
from facewarden.store.pg_claims import CAMERA_NS

from ._video import Walk, face_crop, write_video
from .conftest import enroll, make_settings

CAMERAS = 6
VIDEO_SECONDS = 14.0
WALK = (1.0, 13.0)
FPS = 2.0
REBALANCE = 1.0
# Where the victim is killed: both its videos past this much and short of the
# other figure, seconds of video. The walks go on to 13 s, and a progress
# commit in flight when it is stopped adds at most one progress step (2 s).
MIDWAY = (3.0, 8.0)
# A dead worker's cameras are held again within this once the server has
# dropped its locks (the survivors claim them at their next round, every
# REBALANCE seconds): generous for a busy machine.
TAKEOVER_BOUND = 4 * REBALANCE + 6.0
PEOPLE = {
    "obama": ("Barack Obama", "obama.jpg", "obama2.jpg"),
    "biden": ("Joe Biden", "biden.jpg", "biden2.jpg"),
    "kit": ("Kit Harington", "john1.jpeg", "john2.jpeg"),
}
FOLDERS = {"obama": "obama", "biden": "biden", "kit": "kit_harington"}

T_MIN, T_MAX = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)

HOLDERS_SQL = """
SELECT c.id AS camera, a.application_name AS app
FROM unnest(%s::text[]) AS c(id)
JOIN pg_locks l ON l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
  AND l.classid = %s::bigint::oid
  AND l.objid = (hashtext(c.id)::bigint & 4294967295)::oid
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
JOIN pg_stat_activity a ON a.pid = l.pid
"""


@dataclass
class _Worker:
    name: str
    process: subprocess.Popen[bytes]
    stdout: Path
    stderr: Path

    def lines(self) -> list[str]:
        return self.stdout.read_text().splitlines()

    def log(self) -> str:
        return self.stderr.read_text()


class _Sampler:
    """Who holds each camera, as the server's lock table says, every 0.1 s."""

    def __init__(self, url: str, cameras: list[str]) -> None:
        self.samples: list[tuple[float, dict[str, list[str]]]] = []
        self._url, self._cameras = url, cameras
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.error: BaseException | None = None

    def __enter__(self) -> _Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        try:
            with psycopg.connect(self._url, autocommit=True) as conn:
                while not self._stop.is_set():
                    rows = conn.execute(HOLDERS_SQL, (self._cameras, CAMERA_NS)).fetchall()
                    holders: dict[str, list[str]] = {c: [] for c in self._cameras}
                    for camera, app in rows:
                        holders[camera].append(str(app).removeprefix("facewarden-worker "))
                    self.samples.append((time.time(), holders))
                    self._stop.wait(0.1)
        except BaseException as exc:  # surfaced by the test
            self.error = exc

    def latest(self) -> dict[str, list[str]]:
        return self.samples[-1][1] if self.samples else {}


def _all_stopped(pid: int) -> bool:
    """Whether every thread of process ``pid`` is stopped (state ``T``)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            state = (task / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue  # a thread that ended meanwhile
        if state not in ("T", "t"):
            return False
    return True


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def deployment(
    pg_server: EmbeddedPostgres, knn: Path, tmp_path: Path
) -> Iterator[tuple[Warden, dict[str, str], list[Path]]]:
    """A PostgreSQL deployment with three people enrolled and six videos (not yet cameras)."""
    url = pg_server.create_database(f"k_{secrets.token_hex(6)}")
    settings = make_settings(tmp_path, database_url=url)
    tiles = {p: face_crop(knn / FOLDERS[p] / photo, 90) for p, (_, _, photo) in PEOPLE.items()}
    videos = []
    for index in range(CAMERAS):
        person = list(PEOPLE)[index % len(PEOPLE)]
        y = 20 + 10 * (index % 3)
        walk = Walk(person, tiles[person], *WALK, (10, y), (200, y + 40))
        path = tmp_path / f"cam{index}.mp4"
        videos.append(write_video(path, [walk], seconds=VIDEO_SECONDS, fps=6.0, size=(320, 240)))
    with Warden.open(settings, create=True, actor="test:pytest") as warden:
        warden.watchlists.create("site", purpose="site access", lawful_basis="test")
        subjects = {
            person: enroll(warden, full, knn / FOLDERS[person] / photo, ("site",))
            for person, (full, photo, _) in PEOPLE.items()
        }
        yield warden, subjects, videos


def _start_worker(name: str, warden: Warden, tmp_path: Path) -> _Worker:
    settings = warden.settings
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEWARDEN_")}
    env.update(
        FACEWARDEN_DATABASE_URL=str(settings.database_url),
        FACEWARDEN_DATA_DIR=str(settings.data_dir),
        FACEWARDEN_KEY_DIR=str(settings.resolved_key_dir),
        FACEWARDEN_WORKERS="1",
        FACEWARDEN_MODE="fast",
        FACEWARDEN_ENROLL_MODE="fast",
    )
    stdout, stderr = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        process = subprocess.Popen(
            [
                sys.executable, "-m", "facewarden.cli", "-v", "worker", "--worker-id", name,
                "--fps", str(FPS), "--rebalance-seconds", str(REBALANCE), "--no-people",
                "--realtime",
            ],
            stdout=out, stderr=err, env=env,
        )  # fmt: skip
    return _Worker(name, process, stdout, stderr)


_LINE = re.compile(r"^(\S+) (claimed|released) (cam_\S+) ")


def _intervals(worker: _Worker, end: float) -> dict[str, list[tuple[float, float]]]:
    """The worker's own account of when it held which camera (``end`` for an open one)."""
    opened: dict[str, float] = {}
    held: dict[str, list[tuple[float, float]]] = {}
    for line in worker.lines():
        match = _LINE.match(line)
        if match is None:
            continue
        when = datetime.fromisoformat(match[1]).timestamp()
        if match[2] == "claimed":
            assert match[3] not in opened, (worker.name, line)
            opened[match[3]] = when
        else:
            held.setdefault(match[3], []).append((opened.pop(match[3]), when))
    for camera, since in opened.items():
        held.setdefault(camera, []).append((since, end))
    return held


def test_three_workers_share_six_cameras_and_take_over_a_killed_ones(
    deployment: tuple[Warden, dict[str, str], list[Path]], knn: Path, tmp_path: Path
) -> None:
    warden, subjects, videos = deployment
    url = str(warden.settings.database_url)
    workers = [_start_worker(f"w{i}", warden, tmp_path) for i in range(3)]
    try:
        # All three announce themselves before there is anything to share.
        with psycopg.connect(url, autocommit=True) as conn:

            def live() -> int:
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE application_name LIKE 'facewarden-worker %'"
                ).fetchone()
                return 0 if row is None else int(row[0])

            _wait(lambda: live() == 3, 120, "three workers to connect")
        for worker in workers:
            assert worker.process.poll() is None, worker.log()
        cameras = [
            warden.cameras.add(
                f"door{i}", location=f"door {i}", watchlists=["site"], source=str(video)
            ).camera_id
            for i, video in enumerate(videos)
        ]
        person_at = {cam: list(PEOPLE)[i % len(PEOPLE)] for i, cam in enumerate(cameras)}

        with _Sampler(url, cameras) as sampler:

            def shared_out() -> bool:
                counts: dict[str, int] = {}
                for holders in sampler.latest().values():
                    for holder in holders:
                        counts[holder] = counts.get(holder, 0) + 1
                return sorted(counts.values()) == [2, 2, 2]

            _wait(shared_out, 60, "the cameras to be shared out two each")
            victim = workers[1]
            theirs = [c for c, h in sampler.latest().items() if h == [victim.name]]
            assert len(theirs) == 2

            def progress(camera: str) -> CameraProgress | None:
                return CameraProgress.load(warden, camera)

            def frozen_midway() -> dict[str, CameraProgress] | None:
                """Stop the victim; its progress if both videos are midway, else go on."""
                victim.process.send_signal(signal.SIGSTOP)
                _wait(lambda: _all_stopped(victim.process.pid), 30, "the victim to stop")
                now = {c: p for c in theirs if (p := progress(c)) is not None}
                assert all(not p.ended and p.seconds <= MIDWAY[1] for p in now.values()), (
                    f"the victim went past midway before it could be stopped: {now}"
                )
                if len(now) == len(theirs) and all(p.seconds >= MIDWAY[0] for p in now.values()):
                    return now
                victim.process.send_signal(signal.SIGCONT)
                return None

            deadline = time.monotonic() + 120
            while (before := frozen_midway()) is None:
                assert time.monotonic() < deadline, "the victim never got midway"
                time.sleep(0.1)
            killed_at = time.time()
            kill_sample = len(sampler.samples)
            victim.process.send_signal(signal.SIGKILL)
            assert victim.process.wait(30) == -signal.SIGKILL

            def victims_locks_gone() -> bool:
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                    (f"facewarden-worker {victim.name}",),
                ).fetchone()
                return row is not None and row[0] == 0

            with psycopg.connect(url, autocommit=True) as conn:
                _wait(victims_locks_gone, 60, "the server to drop the victim's session")
            gone_at = time.monotonic()

            def taken_over() -> bool:
                latest = sampler.latest()
                return all(len(h) == 1 and h[0] != victim.name for h in latest.values())

            _wait(taken_over, TAKEOVER_BOUND, "the victim's cameras to be taken over")
            took = time.monotonic() - gone_at

            def all_ended() -> bool:
                return all((p := progress(c)) is not None and p.ended for c in cameras)

            _wait(all_ended, 240, "every video to be processed to its end")
        assert sampler.error is None, sampler.error
        samples = sampler.samples

        # An enrollment made by another process (this one) reaches the survivors,
        # whose galleries were loaded before it: a new person on a new camera.
        rose = enroll(warden, "Rose Leslie", knn / "rose_leslie" / "img1.jpg", ("site",))
        tile = face_crop(knn / "rose_leslie" / "img2.jpg", 90)
        video = write_video(
            tmp_path / "cam6.mp4",
            [Walk("rose", tile, 1.0, 4.0, (10, 30), (120, 50))],
            seconds=5.0,
            fps=6.0,
            size=(320, 240),
        )
        late = warden.cameras.add(
            "door6", location="door 6", watchlists=["site"], source=str(video)
        ).camera_id
        _wait(lambda: (p := progress(late)) is not None and p.ended, 120, "the new camera")
        for worker in (workers[0], workers[2]):
            worker.process.send_signal(signal.SIGTERM)
        codes = [w.process.wait(60) for w in (workers[0], workers[2])]
        assert codes == [0, 0], [w.log()[-3000:] for w in workers]
    finally:
        for worker in workers:
            if worker.process.poll() is None:
                worker.process.kill()
                worker.process.wait(30)
    ended_at = time.time()

    # (a) At every sampled moment each camera is held by at most one worker; once
    # a sample shows the dead one holding nothing, none shows it again; by a live
    # one at all times from the sharing out to the kill, and from the take-over on.
    print(f"take-over: {took:.2f} s once the server dropped the victim; {len(samples)} samples")
    last: object = None
    for when, holders in samples:
        now = [holders[c] for c in cameras]
        if now != last:
            print(f"{when - killed_at:+.2f} {now}")
            last = now
    shared = next(i for i, (_, h) in enumerate(samples) if all(len(x) == 1 for x in h.values()))
    gone = next(
        i
        for i, (_, h) in enumerate(samples)
        if i >= kill_sample and all(victim.name not in x for x in h.values())
    )
    taken = next(
        i for i, (_, h) in enumerate(samples) if i >= gone and all(len(x) == 1 for x in h.values())
    )
    assert shared < kill_sample <= gone <= taken
    for index, (when, holders) in enumerate(samples):
        assert all(len(h) <= 1 for h in holders.values()), holders
        if index >= gone:
            assert all(victim.name not in h for h in holders.values()), (when, holders)
        if shared <= index < kill_sample or index >= taken:
            assert all(len(h) == 1 for h in holders.values()), (when, holders)
    # The workers' own account: no two workers held a camera at the same time.
    spans: dict[str, list[tuple[float, float, str]]] = {c: [] for c in cameras}
    for worker in workers:
        end = killed_at if worker is victim else ended_at
        for camera, held in _intervals(worker, end).items():
            spans.setdefault(camera, []).extend((a, b, worker.name) for a, b in held)
    for camera, held in spans.items():
        held.sort()
        for (_, end, first), (start, _, second) in itertools.pairwise(held):
            assert start >= end, (camera, first, second, held)

    # (b) The dead worker's cameras were taken over, and the survivor resumed
    # each where the dead one's progress said, with the same time zero.
    for camera in theirs:
        new = [w for a, _, w in spans[camera] if a >= killed_at]
        assert len(new) == 1 and new[0] != victim.name, spans[camera]
        log = next(w for w in workers if w.name == new[0]).log()
        resumed = re.search(rf"camera {camera}: worker {new[0]} resumes \S+ at ([\d.]+) s", log)
        assert resumed is not None, log[-3000:]
        # From what the victim had stored when it was stopped (or the one save
        # it had in flight then), never from an earlier point or the start.
        old = before[camera]
        assert old.seconds <= float(resumed[1]) <= old.seconds + 2.0 + 1 / FPS, (resumed[0], old)
        after = progress(camera)
        assert after is not None and after.t0 == old.t0

    # (c) Every video was processed to its end.
    for camera in cameras:
        done = progress(camera)
        assert done is not None and done.ended
        assert done.seconds >= VIDEO_SECONDS - 1.0, (camera, done)

    # (d) One sighting per visit: each camera saw its one person once, first and
    # last seen where the walk began and ended, the victim's cameras included.
    watchlist = warden.watchlists.get("site").watchlist_id
    for camera in cameras:
        done = progress(camera)
        assert done is not None
        t0 = done.t0
        rows = warden.store.sightings_at(camera, watchlist, t0, t0 + timedelta(minutes=5))
        got = [
            (r.subject_id, (r.first_seen - t0).total_seconds(), (r.last_seen - t0).total_seconds())
            for r in rows
        ]
        assert [g[0] for g in got] == [subjects[person_at[camera]]], (camera, got)
        assert got[0][1] == pytest.approx(WALK[0], abs=1.1), (camera, got)
        assert got[0][2] == pytest.approx(WALK[1], abs=1.1), (camera, got)
    rows = warden.store.sightings_at(late, watchlist, T_MIN, T_MAX)
    assert [r.subject_id for r in rows] == [rose]
    assert warden.store.count_sightings() == CAMERAS + 1
    records = [e for e in warden.store.iter_audit() if e.action == "sighting.record"]
    assert len(records) == CAMERAS + 1


def test_a_worker_exits_with_one_line_when_the_database_is_unreachable(tmp_path: Path) -> None:
    runner = CliRunner(
        env={
            "FACEWARDEN_DATABASE_URL": "postgresql://facewarden@127.0.0.1:1/none",
            "FACEWARDEN_DATA_DIR": str(tmp_path / "data"),
            "FACEWARDEN_KEY_DIR": str(tmp_path / "keys"),
        }
    )
    result = runner.invoke(cli, ["worker", "--no-people"])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach PostgreSQL"), lines
