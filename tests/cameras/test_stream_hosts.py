"""Camera streams at this machine or the cloud's metadata service are never fetched.

Over HTTP, registration is refused (tests/api/test_cameras_api.py); here the
rule itself, and the workers' second look as they open a stream stored
before (or allowed then, and no longer): a real loopback HTTP server counts
whether anyone connected to it.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import pytest

from facewarden.errors import InvalidInputError
from facewarden.service import Warden
from facewarden.service.ingest import CameraStatus, IngestWorker
from facewarden.service.stream_hosts import check_stream_host, stream_targets
from facewarden.service.supervisor import IngestSupervisor

from ._rtsp import RtspCamera
from ._video import background
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


@pytest.mark.parametrize(
    ("source", "resolve", "targets"),
    [
        # A name is pinned to each address judged, in the resolver's order (FFmpeg
        # tries them in turn); everything else of the URL is kept.
        (
            "rtsp://viewer:p@ss@cam7.site.example:8554/live?channel=1#x",
            _resolving_to("10.0.0.7", "10.0.0.8", "10.0.0.7"),
            [
                "rtsp://viewer:p@ss@10.0.0.7:8554/live?channel=1#x",
                "rtsp://viewer:p@ss@10.0.0.8:8554/live?channel=1#x",
            ],
        ),
        ("HTTP://cam7.site.example./mjpeg", _resolving_to("10.0.0.7"), ["HTTP://10.0.0.7/mjpeg"]),
        ("rtsp://cam7.site.example", _resolving_to("2001:db8::7"), ["rtsp://[2001:db8::7]"]),
        ("rtsp://[cam7.site.example]:554/x", _resolving_to("10.0.0.7"), ["rtsp://10.0.0.7:554/x"]),
        ("http://cam7.site.example/", _resolving_to("::ffff:10.0.0.7"), ["http://10.0.0.7/"]),
        # Unresolved now: nothing to connect to (FFmpeg would look it up itself).
        ("rtsp://unknown.invalid/x", lambda _name: None, []),
        # An address stays; TLS keeps its name (the server picks its certificate by it).
        ("rtsp://10.0.0.7:554/x", None, ["rtsp://10.0.0.7:554/x"]),
        ("http://[2001:db8::7]:8080/x", None, ["http://[2001:db8::7]:8080/x"]),
        ("https://cams.example.com/1.m3u8", _resolving_to("203.0.113.7"), ["https://cams.example.com/1.m3u8"]),
        ("rtsps://cams.example.com/1", _resolving_to("203.0.113.7"), ["rtsps://cams.example.com/1"]),
        ("/srv/videos/lobby.mp4", None, ["/srv/videos/lobby.mp4"]),
    ],
)  # fmt: skip
def test_a_stream_is_handed_to_ffmpeg_at_the_addresses_judged(
    source: str, resolve: Callable[[str], list[str] | None] | None, targets: list[str]
) -> None:
    assert stream_targets(source, resolve=resolve) == targets
    with pytest.raises(InvalidInputError, match="loopback"):
        stream_targets("http://rebind.example/", resolve=_resolving_to("10.0.0.7", "127.0.0.1"))


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


class _Redirecting(BaseHTTPRequestHandler):
    """An HTTP camera (allowed) that answers with a redirect to somewhere refused."""

    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", self.server.target)  # type: ignore[attr-defined]
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


class _Mjpeg(BaseHTTPRequestHandler):
    """An HTTP camera streaming MJPEG; remembers the Host header each request came with."""

    def do_GET(self) -> None:
        self.server.hosts.append(self.headers.get("Host"))  # type: ignore[attr-defined]
        self.send_response(200)
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=frame")
        self.end_headers()
        _ok, jpeg = cv2.imencode(".jpg", background(320, 240))
        data = jpeg.tobytes()
        try:
            while not self.server.stopping.is_set():  # type: ignore[attr-defined]
                self.wfile.write(
                    b"--frame\r\nContent-Type: image/jpeg\r\nContent-Length: "
                    + str(len(data)).encode()
                    + b"\r\n\r\n"
                    + data
                    + b"\r\n"
                )
                time.sleep(0.05)
        except (BrokenPipeError, ConnectionResetError):
            return

    def log_message(self, format: str, *args: object) -> None:
        return


class _Listener:
    """A TCP service on 127.0.0.2 (refused: only 127.0.0.1 is allowed in these tests) that
    counts the connections it gets, whatever they speak: the cloud's metadata service."""

    def __init__(self) -> None:
        self._socket = socket.create_server(("127.0.0.2", 0))
        self.port = int(self._socket.getsockname()[1])
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._socket.accept()
            except OSError:
                return
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._socket.close()


@contextmanager
def _http_camera(handler: type[BaseHTTPRequestHandler], **attributes: object) -> Iterator[int]:
    """An HTTP camera on 127.0.0.1 with ``handler``; its port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.stopping = threading.Event()  # type: ignore[attr-defined]
    for name, value in attributes.items():
        setattr(server, name, value)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield int(server.server_address[1])
    finally:
        server.stopping.set()  # type: ignore[attr-defined]
        server.shutdown()
        server.server_close()


@contextmanager
def _rtsp_camera(redirect_to: str | None = None) -> Iterator[RtspCamera]:
    camera = RtspCamera()
    camera.redirect_to = redirect_to
    try:
        yield camera
    finally:
        camera.stop()


def _run_worker(root: Path, source: str, done: Callable[[CameraStatus], bool]) -> CameraStatus:
    """A camera at ``source`` run by a real ingest worker (127.0.0.1 allowed) until ``done``."""
    settings = make_settings(root, camera_allowed_networks=("127.0.0.1/32",))
    with Warden.open(settings, create=True, actor="test:pytest") as warden:
        warden.cameras.add("door", location="gate", source=source)
        worker = IngestWorker(warden, ["door"], max_attempts=2)
        worker.start()
        try:
            _wait(lambda: done(worker.states()["door"]))
            return worker.states()["door"]
        finally:
            worker.stop()


def _given_up(status: CameraStatus) -> bool:
    return status.state in ("failed", "ended", "error")


@pytest.mark.parametrize("scheme", ["http", "rtsp"])
def test_a_redirect_to_a_refused_host_is_not_followed(tmp_path: Path, scheme: str) -> None:
    # The camera's host is allowed and checked; its answer sends FFmpeg elsewhere
    # (in the attack, the cloud's metadata service or a port of this machine).
    # FFmpeg followed it without asking anyone, over HTTP and over RTSP alike.
    metadata = _Listener()
    target = f"{scheme}://127.0.0.2:{metadata.port}/latest/meta-data/"
    try:
        if scheme == "http":
            with _http_camera(_Redirecting, target=target) as port:
                status = _run_worker(tmp_path, f"http://127.0.0.1:{port}/cam", _given_up)
        else:
            with _rtsp_camera(redirect_to=target) as camera:
                status = _run_worker(tmp_path, camera.url, _given_up)
                assert "DESCRIBE" in camera.requests
        assert _given_up(status), status
    finally:
        metadata.close()
    assert metadata.connections == 0


@pytest.mark.parametrize("scheme", ["http", "rtsp"])
def test_a_worker_connects_to_the_address_it_checked_never_to_the_name_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scheme: str
) -> None:
    # DNS rebinding: the name answered an allowed address when it was checked,
    # and FFmpeg then looked it up again (in the attack, the answer is now this
    # machine). Here the checked answer comes from the attacker's zone (the
    # resolver stands for it) and the system resolver knows no such name
    # (.invalid): the camera streams only if FFmpeg is handed the address checked.
    asked: list[str] = []

    def attackers_zone(name: str) -> list[str] | None:
        asked.append(name)
        return ["127.0.0.1"] if name == "cam.rebind.invalid" else None

    monkeypatch.setattr("facewarden.service.stream_hosts._resolve", attackers_zone)

    def streaming(status: CameraStatus) -> bool:
        return status.frames >= 3 or _given_up(status)

    if scheme == "http":
        hosts: list[str] = []
        with _http_camera(_Mjpeg, hosts=hosts) as port:
            url = f"http://viewer:pw@cam.rebind.invalid:{port}/video"
            status = _run_worker(tmp_path, url, streaming)
        assert set(hosts) == {f"127.0.0.1:{port}"}
    else:
        with _rtsp_camera() as camera:
            url = camera.url.replace("127.0.0.1", "viewer:pw@cam.rebind.invalid")
            status = _run_worker(tmp_path, url, streaming)
            assert camera.requests[:4] == ["OPTIONS", "DESCRIBE", "SETUP", "PLAY"]
    assert status.frames >= 3, status
    assert "cam.rebind.invalid" in asked


def test_a_name_that_turns_to_a_refused_address_is_not_reconnected_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Rebinding at a reconnection: the stream runs from the address first judged,
    # drops, and the name now answers this machine. Each attempt is judged anew.
    answer = ["127.0.0.1"]
    monkeypatch.setattr(
        "facewarden.service.stream_hosts._resolve",
        lambda name: list(answer) if name == "cam.rebind.invalid" else None,
    )
    drop = threading.Event()
    with _http_camera(_Mjpeg, hosts=[], stopping=drop) as port:
        refused = socket.create_server(("127.0.0.2", port))  # where the name leads next
        refused.settimeout(0.1)
        settings = make_settings(tmp_path, camera_allowed_networks=("127.0.0.1/32",))
        with Warden.open(settings, create=True, actor="test:pytest") as warden:
            source = f"http://cam.rebind.invalid:{port}/video"
            warden.cameras.add("door", location="gate", source=source)
            worker = IngestWorker(warden, ["door"])
            worker.start()
            try:
                assert _wait(lambda: worker.states()["door"].frames >= 3)
                answer[:] = ["127.0.0.2"]
                drop.set()  # the camera ends the stream: the worker reconnects
                assert _wait(lambda: worker.states()["door"].state == "failed")
                error = worker.states()["door"].error or ""
            finally:
                worker.stop()
        with pytest.raises(TimeoutError):
            refused.accept()
        refused.close()
    assert "127.0.0.2" in error and "loopback" in error, error


def test_a_name_whose_first_address_does_not_answer_streams_from_the_next(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # FFmpeg, handed a name, tries each address it resolves to; handed one address
    # it would try only that one. A worker hands it each address judged in turn.
    monkeypatch.setattr(
        "facewarden.service.stream_hosts._resolve",
        lambda name: ["127.0.0.3", "127.0.0.1"] if name == "cam.pair.invalid" else None,
    )
    with _http_camera(_Mjpeg, hosts=[]) as port:  # on 127.0.0.1 only: 127.0.0.3 refuses
        settings = make_settings(tmp_path, camera_allowed_networks=("127.0.0.1/32", "127.0.0.3/32"))
        with Warden.open(settings, create=True, actor="test:pytest") as warden:
            warden.cameras.add("door", location="gate", source=f"http://cam.pair.invalid:{port}/v")
            worker = IngestWorker(warden, ["door"], max_attempts=2)
            worker.start()
            try:
                assert _wait(lambda: worker.states()["door"].frames >= 3), worker.states()
            finally:
                worker.stop()


class _Playlist(BaseHTTPRequestHandler):
    """A stream camera answering an HLS playlist whose one segment is a file of this machine."""

    def do_GET(self) -> None:
        body = (
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n"
            f"#EXTINF:3.0,\nfile:{self.server.segment}\n#EXT-X-ENDLIST\n"  # type: ignore[attr-defined]
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.apple.mpegurl")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


def test_a_streams_playlist_cannot_make_the_server_read_its_own_files(tmp_path: Path) -> None:
    # A camera registered by its URL (an operator's key may) answering a playlist
    # that names a video on the server's disk, outside any folder cameras may
    # read (FACEWARDEN_CAMERA_VIDEO_DIR): its frames would be the camera's, shown
    # in its live view. FFmpeg refuses file: segments of an http playlist by
    # default; a protocol whitelist naming "file" (for video-file cameras) let
    # them through.
    footage = tmp_path / "elsewhere" / "other-site-footage.avi"
    footage.parent.mkdir()
    writer = cv2.VideoWriter(str(footage), cv2.VideoWriter_fourcc(*"MJPG"), 10, (320, 240))
    for _ in range(30):
        writer.write(cv2.cvtColor(background(320, 240), cv2.COLOR_RGB2BGR))
    writer.release()
    with _http_camera(_Playlist, segment=footage) as port:
        status = _run_worker(
            tmp_path, f"http://127.0.0.1:{port}/live.m3u8", lambda s: s.frames > 0 or _given_up(s)
        )
    assert status.frames == 0 and _given_up(status), status
    # The guards were FFmpeg's for the stream alone: this process's own OpenCV still
    # opens a video by its name (the whitelist without "file" was left set for all).
    assert "protocol_whitelist" not in os.environ.get("OPENCV_FFMPEG_CAPTURE_OPTIONS", "")
    by_name = cv2.VideoCapture(str(footage))
    assert by_name.isOpened() and by_name.grab()
    by_name.release()
