"""Sighting webhooks are delivered off the frame loop, against a real loopback HTTP server.

The server (http.server on 127.0.0.1, one thread per request) can answer
at once, hold a request until the test lets it go, fail with 500 or 404,
hang up without answering, or answer garbage. The frame loop only queues
an alert; the delivery thread retries with backoff, gives up, drops the
oldest alert when its queue is full, and never raises.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from facewarden.imaging import decode
from facewarden.service import Warden
from facewarden.service.alerts import AlertQueue, SightingAlert, send
from facewarden.service.frames import FrameProcessor

from .conftest import T0, enroll

WHEN = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


class _Hooks(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[dict[str, object]] = []
        self.hits: Counter[str] = Counter()
        self.arrived = threading.Event()
        self.release = threading.Event()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{path}"


class _Handler(BaseHTTPRequestHandler):
    server: _Hooks

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        path = self.path.partition("?")[0]
        self.server.hits[path] += 1
        if path == "/held":
            self.server.arrived.set()
            self.server.release.wait(20)
        elif path == "/fail":
            self.send_error(500)
            return
        elif path == "/gone":
            self.send_error(404)
            return
        elif path == "/hangup":
            self.close_connection = True
            return
        elif path == "/garbage":
            self.wfile.write(b"this is not HTTP\r\n\r\n")
            self.close_connection = True
            return
        self.server.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def hooks() -> Iterator[_Hooks]:
    server = _Hooks()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()
    thread.join(10)


@pytest.fixture
def queue() -> Iterator[AlertQueue]:
    made = AlertQueue(timeout=2.0, attempts=3, backoff=(0.01, 0.05))
    yield made
    made.close(5)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_notify_returns_at_once_while_the_webhook_is_slow(hooks: _Hooks, queue: AlertQueue) -> None:
    alert = SightingAlert(hooks.url("/held"), queue=queue)
    started = time.monotonic()
    for i in range(5):
        assert alert.notify(f"sig_{i}", "cam_1", "wl_1", WHEN)
    assert time.monotonic() - started < 0.2
    assert hooks.arrived.wait(10)
    assert alert.sent == 0 and queue.pending == 5  # one in flight, held by the server
    hooks.release.set()
    assert alert.flush(10)
    assert [r["sighting"] for r in hooks.received] == [f"sig_{i}" for i in range(5)]
    assert (alert.sent, alert.failed, queue.delivered, queue.dropped) == (5, 0, 5, 0)
    assert set(hooks.received[0]) == {"event", "sighting", "camera", "watchlist", "at"}


@pytest.mark.parametrize(
    ("path", "tries"),
    [("/fail", 3), ("/hangup", 3), ("/garbage", 3), ("/gone", 1)],
)
def test_a_failing_webhook_is_retried_given_up_and_logged_never_raised(
    hooks: _Hooks, queue: AlertQueue, path: str, tries: int, caplog: pytest.LogCaptureFixture
) -> None:
    alert = SightingAlert(hooks.url(path) + "?token=hook-secret-42", queue=queue)
    with caplog.at_level(logging.WARNING, logger="facewarden.service.alerts"):
        assert alert.notify("sig_1", "cam_1", "wl_1", WHEN)
        assert alert.flush(10)
    assert hooks.hits[path] == tries  # a 404 will not get better: no retry
    assert (alert.sent, alert.failed, queue.failed) == (0, 1, 1)
    assert "giving up" in caplog.text
    assert "hook-secret-42" not in caplog.text  # the URL is logged redacted
    # The delivery thread lives on: the next alert goes out.
    ok = SightingAlert(hooks.url("/ok"), queue=queue)
    ok.notify("sig_2", "cam_1", "wl_1", WHEN)
    assert ok.flush(10) and ok.sent == 1


def test_a_dead_webhook_and_a_broken_transport_never_raise(queue: AlertQueue) -> None:
    dead = SightingAlert(f"http://127.0.0.1:{_closed_port()}/none", queue=queue)
    assert dead.notify("sig_1", "cam_1", "wl_1", WHEN)

    def broken(url: str, body: bytes) -> None:
        raise RuntimeError("a bug in a custom transport")

    buggy = SightingAlert("http://127.0.0.1/x", post=broken, queue=queue)
    assert buggy.notify("sig_2", "cam_1", "wl_1", WHEN)
    assert queue.flush(10)
    assert (dead.failed, buggy.failed, queue.failed) == (1, 1, 2)
    # The synchronous helper the occupancy alert uses catches every failure type too.
    for failure in (OSError("down"), ValueError("bad url"), json.JSONDecodeError("x", "", 0)):

        def post(url: str, body: bytes, failure: Exception = failure) -> None:
            raise failure

        assert not send(post, "http://127.0.0.1/x", {"event": "test"})


def test_a_full_queue_drops_the_oldest_alert_counted_and_logged(
    hooks: _Hooks, caplog: pytest.LogCaptureFixture
) -> None:
    queue = AlertQueue(capacity=2, timeout=2.0)
    alert = SightingAlert(hooks.url("/held"), queue=queue)
    try:
        with caplog.at_level(logging.WARNING, logger="facewarden.service.alerts"):
            alert.notify("sig_0", "cam_1", "wl_1", WHEN)
            assert hooks.arrived.wait(10)  # sig_0 in flight; the queue holds two more
            for i in range(1, 6):
                alert.notify(f"sig_{i}", "cam_1", "wl_1", WHEN)
        assert queue.dropped == 3 and alert.failed == 3
        # Logged at the 1st and 2nd drop (then the 4th, 8th ...), never a flood.
        assert caplog.text.count("dropped the oldest alert") == 2
        assert "(2 dropped so far)" in caplog.text
        hooks.release.set()
        assert queue.flush(10)
    finally:
        queue.close(5)
    assert [r["sighting"] for r in hooks.received] == ["sig_0", "sig_4", "sig_5"]
    assert (queue.delivered, alert.sent) == (3, 3)


def test_close_delivers_what_waits_then_refuses_new_alerts(hooks: _Hooks) -> None:
    queue = AlertQueue(timeout=2.0)
    alert = SightingAlert(hooks.url("/ok"), queue=queue)
    for i in range(3):
        alert.notify(f"sig_{i}", "cam_1", "wl_1", WHEN)
    queue.close(10)
    assert len(hooks.received) == 3 and queue.delivered == 3
    assert not alert.notify("sig_late", "cam_1", "wl_1", WHEN)
    assert queue.dropped == 1
    held = AlertQueue(timeout=1.0, attempts=1)
    stuck = SightingAlert(hooks.url("/held"), queue=held)
    stuck.notify("sig_a", "cam_1", "wl_1", WHEN)
    stuck.notify("sig_b", "cam_1", "wl_1", WHEN)
    started = time.monotonic()
    held.close(0.2)  # a bounded close: what cannot go out in time is dropped
    assert time.monotonic() - started < 5
    assert held.dropped == 1


def test_the_frame_loop_goes_on_while_the_webhook_holds_the_alert(
    warden: Warden, knn: Path, hooks: _Hooks, queue: AlertQueue
) -> None:
    warden.watchlists.create("entrance", purpose="site access", lawful_basis="test")
    enroll(warden, "Barack Obama", knn / "obama" / "obama.jpg", ("entrance",))
    warden.cameras.add("door", location="north entrance", watchlists=["entrance"])
    alert = SightingAlert(hooks.url("/held"), queue=queue)
    processor = FrameProcessor(warden, "door", sighting_alert=alert)
    frame = decode(knn / "obama" / "obama2.jpg")
    first = processor.process(frame, T0)
    assert len(first.new_sightings) == 1
    assert hooks.arrived.wait(10)  # the webhook holds the POST; the loop goes on
    for i in range(1, 4):
        result = processor.process(frame, T0 + timedelta(seconds=i / 5))
        assert result.faces == 1
    assert alert.sent == 0 and hooks.received == []
    hooks.release.set()
    processor.finish(T0 + timedelta(seconds=1))  # waits for the queued alerts
    assert alert.sent == 1
    assert hooks.received[0]["sighting"] == first.new_sightings[0]
