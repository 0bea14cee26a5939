"""Crowd counters, small-count suppression, CSV export and the occupancy webhook."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import numpy as np
import pytest

from facewarden.errors import PermissionDeniedError
from facewarden.service import Warden
from facewarden.service.alerts import shared_queue
from facewarden.service.crowd import CrowdCounter, OccupancyAlert, dwell_bin
from facewarden.service.crowd_report import suppress, to_csv
from facewarden.types import Box

from .conftest import T0


def _unit(seed: int) -> np.ndarray:
    v = np.random.default_rng(seed).normal(size=128).astype(np.float32)
    return v / np.linalg.norm(v)


def _boxes(n: int, first_track: int = 1) -> dict[int, Box]:
    """``n`` people side by side, each with its track id (the same ones in every frame)."""
    return {first_track + i: Box(10 + 70 * i, 10, 70 + 70 * i, 70) for i in range(n)}


def test_buckets_hold_occupancy_dwell_heatmap_and_unique_visitors() -> None:
    counter = CrowdCounter("cam_1", bucket_seconds=60, grid=4)
    for second in range(0, 120, 2):
        n = 6 if second < 60 else 2
        counter.observe(T0 + timedelta(seconds=second), _boxes(n), n + 1, (640, 480))
    # Seven visits by six people: person 0 comes back; one track without a usable face.
    for person in range(6):
        counter.track_ended(T0 + timedelta(seconds=30), 20.0, 10, _unit(person))
    counter.track_ended(T0 + timedelta(seconds=90), 400.0, 10, _unit(0))
    counter.track_ended(T0 + timedelta(seconds=91), 5.0, 10, None)
    counter.track_ended(T0 + timedelta(seconds=92), 0.0, 1, _unit(99))  # noise: one frame
    assert counter.flush(T0 + timedelta(seconds=59)) == []
    first, second = counter.flush(T0 + timedelta(seconds=60)) + counter.flush()
    assert (first.frames, first.faces_max, first.people_max) == (30, 6, 7)
    assert first.faces_mean == 6 and first.people_mean == 7
    assert first.unique_visitors == 6 and second.unique_visitors == 1
    assert counter.visitors == 7
    assert first.dwell == {"10s-1min": 6}
    assert second.dwell == {">5min": 1, "<10s": 1}
    # Six people, in two columns of the grid each: distinct people, not 30 frames' detections.
    assert first.heatmap[0] == (2, 2, 2, 0) and len(first.heatmap) == 4
    assert sum(map(sum, first.heatmap)) == 6
    assert dwell_bin(9.9) == "<10s" and dwell_bin(3600) == ">5min"


def test_counts_below_k_are_suppressed_in_reports_and_csv() -> None:
    counter = CrowdCounter("cam_1", grid=2)
    for second in range(10):
        counter.observe(T0 + timedelta(seconds=second), _boxes(9), 3, (640, 480))
    counter.track_ended(T0, 20.0, 5, _unit(1))
    (row,) = counter.flush()
    report = suppress(row, 5)
    assert report.faces_max == 9 and report.people_max == 9
    assert report.unique_visitors is None
    assert report.dwell["10s-1min"] is None
    assert row.heatmap == ((4, 5), (0, 0))
    assert report.heatmap == ((None, 5), (None, None))
    lines = to_csv("door", [report], 5).splitlines()
    assert lines[0].startswith("camera,start,seconds,frames,faces_max")
    assert lines[1].split(",")[8] == "<5"


def test_crowd_reports_are_stored_per_camera_and_need_a_reading_role(warden: Warden) -> None:
    camera = warden.cameras.add("hall", location="main hall")
    counter = CrowdCounter(camera.camera_id)
    for second in range(30):
        counter.observe(T0 + timedelta(seconds=second), _boxes(5), 8, (640, 480))
    warden.crowd.save(counter.flush())
    window = (T0, T0 + timedelta(hours=1))
    with pytest.raises(PermissionDeniedError):
        warden.crowd.buckets("hall", *window, role="investigator")
    (bucket,) = warden.crowd.buckets("hall", *window, role="analyst")
    assert (bucket.faces_max, bucket.people_max, bucket.frames) == (5, 8, 30)
    assert warden.crowd.csv("hall", *window, role="analyst").count("\n") == 2


def test_a_bucket_written_again_is_merged_not_replaced(warden: Warden) -> None:
    # A visit that ends after its minute was flushed comes back as a second
    # write of that minute (dwell and visitor only); a worker taking the camera
    # over counts the rest of a minute its predecessor began.
    camera = warden.cameras.add("hall", location="main hall")
    first = CrowdCounter(camera.camera_id, grid=2)
    for second in range(20):
        first.observe(T0 + timedelta(seconds=second), _boxes(6), 6, (640, 480))
    warden.crowd.save(first.flush(T0 + timedelta(seconds=60)))
    first.track_ended(T0 + timedelta(seconds=30), 20.0, 10, _unit(1))  # late: the minute is gone
    warden.crowd.save(first.flush())
    taker = CrowdCounter(camera.camera_id, grid=2)
    for second in range(40, 60):
        taker.observe(T0 + timedelta(seconds=second), _boxes(2), 2, (640, 480))
    taker.track_ended(T0 + timedelta(seconds=59), 20.0, 10, _unit(2))
    warden.crowd.save(taker.flush())
    window = (T0, T0 + timedelta(hours=1))
    (row,) = warden.store.crowd_buckets(camera.camera_id, *window)
    assert (row.frames, row.faces_max, row.people_max) == (40, 6, 6)
    assert row.faces_mean == pytest.approx(4.0) and row.people_mean == pytest.approx(4.0)
    assert row.unique_visitors == 2 and row.dwell == {"10s-1min": 2}
    # Cells count distinct people; the taker's two may be two of the first six: the larger count.
    assert row.heatmap == ((4, 2), (0, 0))


@pytest.mark.parametrize("people", [1, 2])
def test_a_heatmap_over_one_or_two_people_shows_no_cell(people: int) -> None:
    # Issue 13 finding 8, the attack: people standing still for a minute made
    # cells of one count per frame, published while every people count was hidden.
    counter = CrowdCounter("cam_1", grid=8)
    for second in range(0, 60, 2):
        counter.observe(T0 + timedelta(seconds=second), _boxes(people), people, (640, 480))
    (row,) = counter.flush()
    assert max(map(max, row.heatmap)) == 1  # one person behind each cell, 30 frames
    report = suppress(row, 5)
    assert all(cell is None for cells in report.heatmap for cell in cells)
    assert report.people_max is None and report.faces_max is None


def test_a_heatmap_cell_counts_people_who_pass_through_once_each() -> None:
    counter = CrowdCounter("cam_1", grid=2)
    for second in range(6):  # six people walk one after another through the same cell
        counter.observe(
            T0 + timedelta(seconds=second), _boxes(1, first_track=second), 1, (640, 480)
        )
    (row,) = counter.flush()
    assert row.heatmap == ((6, 0), (0, 0))
    assert suppress(row, 5).heatmap == ((6, None), (None, None))


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict[str, object]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def hook_url() -> Iterator[str]:
    _Hook.received = []
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts"
    server.shutdown()
    server.server_close()
    thread.join()


def test_occupancy_alerts_post_to_the_webhook_once_per_crossing(hook_url: str) -> None:
    alert = OccupancyAlert(hook_url, threshold=10, cooldown=timedelta(seconds=30))
    t = T0
    assert not alert.check("cam_1", 9, t)
    assert alert.check("cam_1", 12, t + timedelta(seconds=1))
    assert not alert.check("cam_1", 15, t + timedelta(seconds=2))  # still above: no repeat
    assert not alert.check("cam_1", 3, t + timedelta(seconds=5))
    assert not alert.check("cam_1", 11, t + timedelta(seconds=10))  # cooldown
    assert alert.check("cam_1", 11, t + timedelta(seconds=40))
    assert shared_queue().flush(10)  # posted from the alert queue, not the frame loop
    assert [r["people"] for r in _Hook.received] == [12, 11]
    assert _Hook.received[0]["camera"] == "cam_1" and _Hook.received[0]["threshold"] == 10
    dead = OccupancyAlert("http://127.0.0.1:9/none", threshold=1)
    started = time.monotonic()
    assert dead.check("cam_1", 5, t)  # due: queued; the dead webhook is logged, never raised
    assert not dead.check("cam_1", 5, t + timedelta(seconds=1))  # no retry on every frame
    assert time.monotonic() - started < 1.0  # the frame loop did not wait for it
    with pytest.raises(ValueError, match="http"):
        OccupancyAlert("file:///etc/passwd", threshold=1)


def test_a_strangers_signature_is_forgotten_when_its_window_ends_even_if_no_one_else_comes() -> (
    None
):
    """An unknown face's embedding is held (in memory) for at most the visitor window.

    It was let go only when a later track ended: on a camera where no one
    else came, the last stranger's embedding stayed in memory until the
    stream ended, however long, against what the counter promises.
    """
    counter = CrowdCounter("cam_0000000000000000", visitor_window=timedelta(minutes=10))
    counter.track_ended(T0, 20.0, 10, _unit(1))
    assert counter.signatures_held == 1
    counter.flush(T0 + timedelta(minutes=9))
    assert counter.signatures_held == 1
    counter.flush(T0 + timedelta(minutes=10, seconds=1))  # the frame processor's, every frame
    assert counter.signatures_held == 0
