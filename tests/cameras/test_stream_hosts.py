"""Camera streams at this machine or the cloud's metadata service are never fetched.

Over HTTP, registration is refused (tests/api/test_cameras_api.py); here the
rule itself, and the workers' second look as they open a stream stored
before (or allowed then, and no longer): a real loopback HTTP server counts
whether anyone connected to it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from facewarden.errors import InvalidInputError
from facewarden.service import Warden
from facewarden.service.ingest import IngestWorker
from facewarden.service.stream_hosts import check_stream_host
from facewarden.service.supervisor import IngestSupervisor

from .conftest import make_settings


def _resolving_to(*addresses: str) -> Callable[[str], list[str] | None]:
    """A resolver answering ``addresses`` for any name: an attacker's DNS zone."""
    return lambda _name: list(addresses)


@pytest.mark.parametrize(
    ("source", "resolve", "refused"),
    [
        ("rtsp://cam7.attacker.example/x", _resolving_to("169.254.169.254"), "metadata"),
        ("rtsp://cam7.attacker.example/x", _resolving_to("10.0.0.7", "127.0.0.1"), "loopback"),
        ("http://rebind.example/", _resolving_to("::ffff:127.0.0.1"), "loopback"),
        ("http://rebind.example/", _resolving_to("64:ff9b::a9fe:a9fe"), "metadata"),
        ("http://rebind.example/", _resolving_to("2002:7f00:1::1"), "loopback"),
        ("http://rebind.example/", _resolving_to("fe80::1%2"), "link-local"),
        ("http://METADATA.google.internal./", None, "metadata"),
        ("rtsp://instance-data/latest", None, "metadata"),
        ("rtsp://cam.localhost:8554/x", None, "loopback"),
        ("rtsp://localhost:8554/x", None, "loopback"),  # through /etc/hosts, for real
        ("rtsp://0x7f.1/x", None, "loopback"),  # as the C resolver reads it
        ("http://0/", None, "unspecified"),
        # FFmpeg takes whatever is in brackets as the host; Python refuses to parse these
        ("http://[127.0.0.1]:8080/x", None, "loopback"),
        ("rtsp://user:pw@[169.254.169.254]/x", None, "metadata"),
        ("rtsp://[localhost]:8554/x", None, "loopback"),
        ("rtsp://[::1]:8554/x", None, "loopback"),
        ("rtsp://[fe80::1%25eth0]/x", None, "link-local"),  # a zone id
        # No host: FFmpeg connects to this machine
        ("http://:8080/x", None, "loopback"),
        ("rtsp://user:pw@:8554/x", None, "loopback"),
        ("http://[]:8080/x", None, "loopback"),
        ("rtsp://cam7.site.example/x", _resolving_to("10.0.0.7"), None),
        ("rtsp://cam7.site.example/x", _resolving_to("100.101.102.103"), None),  # Tailscale
        ("rtsp://unknown.invalid/x", lambda _name: None, None),  # judged again when opened
        ("rtsp://[2001:db8::7]/x", None, None),
        ("/srv/videos/lobby.mp4", None, None),
    ],
)
def test_which_stream_hosts_are_refused(
    source: str, resolve: Callable[[str], list[str] | None] | None, refused: str | None
) -> None:
    if refused is None:
        check_stream_host(source, resolve=resolve)
        return
    with pytest.raises(InvalidInputError, match=refused):
        check_stream_host(source, resolve=resolve)
    check_stream_host(source, ("0.0.0.0/0", "::/0"), resolve=resolve)  # allowed on purpose


class _Counting(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.server.hits += 1  # type: ignore[attr-defined]
        self.send_response(404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def loopback_service() -> Iterator[ThreadingHTTPServer]:
    """An HTTP service on loopback (as a database, an admin port) that counts its visitors."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Counting)
    server.hits = 0  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def _stored_then_refused(root: Path, url: str) -> Warden:
    """A camera at ``url`` stored while loopback was allowed, reopened where it is not."""
    with Warden.open(make_settings(root), create=True, actor="test:setup") as allowing:
        allowing.cameras.add("relay", location="rack", source=url)
    return Warden.open(make_settings(root, camera_allowed_networks=()), actor="test:pytest")


def _wait(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not condition():
        time.sleep(0.05)
    return condition()


def test_the_supervisor_never_connects_to_a_stored_refused_stream(
    tmp_path: Path, loopback_service: ThreadingHTTPServer
) -> None:
    url = f"http://127.0.0.1:{loopback_service.server_address[1]}/admin"
    warden = _stored_then_refused(tmp_path, url)
    supervisor = IngestSupervisor(warden, worker_id="solo", rebalance_seconds=0.1)
    try:
        supervisor.start()
        assert _wait(lambda: [s.state for s in supervisor.states().values()] == ["error"])
        (status,) = supervisor.states().values()
        assert "FACEWARDEN_CAMERA_ALLOWED_NETWORKS" in (status.error or "")
        assert "/admin" not in (status.error or "")
    finally:
        supervisor.stop()
        warden.close()
    assert loopback_service.hits == 0  # type: ignore[attr-defined]


@pytest.mark.parametrize("host", ["127.0.0.1", "[127.0.0.1]", ""])  # FFmpeg reaches each
def test_the_worker_never_connects_to_a_stored_refused_stream(
    tmp_path: Path, loopback_service: ThreadingHTTPServer, host: str
) -> None:
    url = f"http://{host}:{loopback_service.server_address[1]}/admin"
    warden = _stored_then_refused(tmp_path, url)
    worker = IngestWorker(warden, ["relay"], max_attempts=1)
    try:
        worker.start()
        assert _wait(lambda: worker.states()["relay"].state == "error")
        assert "loopback" in (worker.states()["relay"].error or "")
    finally:
        worker.stop()
        warden.close()
    assert loopback_service.hits == 0  # type: ignore[attr-defined]
