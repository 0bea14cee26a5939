"""Attacks on the real ``facewarden serve`` process over loopback (issue 13, findings 7 and 10).

* A large probe photo in a multipart upload must never reach a disk, not even
  a temporary file during the request (SECURITY.md promise 10): while the
  upload is in flight, every file the server process holds open is read
  through ``/proc/<pid>/fd`` (as an attacker with the service account would),
  and none may hold the photo's bytes. Native ``/v1`` and CompreFace ``/api/v1``.
* Request heads over 64 KiB are refused, as docs/http-api.md says.
* ``GET /console`` with a forged ``Host`` header never redirects to that host.

The server runs as a real subprocess (``python -m facewarden.cli serve``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from PIL import Image

from facewarden.config import Settings
from facewarden.service.warden import Warden

from ._live import EXAMPLES

pytestmark = pytest.mark.skipif(
    not Path("/proc/self/fd").is_dir(), reason="needs Linux /proc to look into the server"
)


@dataclass
class Served:
    url: str
    port: int
    process: subprocess.Popen[bytes]
    api_key: str


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, faces_dir: Path) -> Iterator[Served]:
    root = tmp_path_factory.mktemp("served")
    settings = Settings(
        data_dir=root / "data",
        key_dir=root / "keys",
        compreface_lawful_basis="consent form on file (test)",
    )
    with Warden.open(settings, create=True, actor="test:setup") as warden:
        api_key = warden.access.create_api_key("test admin", "admin").secret
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEWARDEN_")}
    env |= {
        "FACEWARDEN_KEY_DIR": str(settings.key_dir),
        "FACEWARDEN_COMPREFACE_LAWFUL_BASIS": "consent form on file (test)",
    }
    command = [sys.executable, "-m", "facewarden.cli", "serve", "--port", str(port)]
    log = (root / "server.log").open("wb")
    process = subprocess.Popen(
        [*command, "--data-dir", str(settings.data_dir)], stdout=log, stderr=log, env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, (root / "server.log").read_text()
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not answer"
            time.sleep(0.2)
        yield Served(url, port, process, api_key)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def big_photo() -> bytes:
    """A real face photo as an uncompressed PNG of some MiB (over the 1 MiB spool size)."""
    with Image.open(EXAMPLES / "obama.jpg") as photo:
        buffer = io.BytesIO()
        photo.convert("RGB").save(buffer, format="PNG", compress_level=0)
    data = buffer.getvalue()
    assert 2 * 1024 * 1024 < len(data) < Settings().max_image_bytes
    return data


def _server_rx_queue(port: int, client_port: int) -> int | None:
    """Bytes waiting in the server side's receive queue of one loopback connection."""
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, queues = fields[1], fields[2], fields[4]
            if int(local.rsplit(":", 1)[1], 16) == port and (
                int(remote.rsplit(":", 1)[1], 16) == client_port
            ):
                return int(queues.split(":")[1], 16)
    return None


def _open_files_holding(pid: int, needle: bytes) -> list[str]:
    """The server's open regular files (deleted or not) whose bytes contain ``needle``."""
    found = []
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        try:
            if not stat.S_ISREG(fd.stat().st_mode):
                continue
            target = os.readlink(fd)
            with fd.open("rb") as file:  # reopens the file itself, even when it was deleted
                if needle in file.read():
                    found.append(target)
        except OSError:  # closed meanwhile
            continue
    return found


def _multipart(
    files: dict[str, tuple[str, bytes]], fields: dict[str, str] | None = None
) -> tuple[str, bytes]:
    boundary = "fwboundary7d1e"
    body = b""
    for name, value in (fields or {}).items():
        body += (
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
    for name, (filename, data) in files.items():
        body += (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{filename}"\r\nContent-Type: image/png\r\n\r\n'
            ).encode()
            + data
            + b"\r\n"
        )
    body += f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", body


def _upload_and_look(
    served: Served,
    path: str,
    files: dict[str, tuple[str, bytes]],
    fields: dict[str, str] | None = None,
) -> int:
    """Send all but the last bytes of an upload, look into the server's files, then finish.

    Returns the response's status; asserts that no open file held the photo.
    """
    content_type, body = _multipart(files, fields)
    photo = next(iter(files.values()))[1]
    needle = photo[len(photo) // 2 : len(photo) // 2 + 4096]
    held_back = 64
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\n"
        f"X-API-Key: {served.api_key}\r\nx-api-key: {served.api_key}\r\n"
        f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", served.port), timeout=60) as sock:
        sock.sendall(head + body[:-held_back])
        client_port = sock.getsockname()[1]
        # The server has read everything sent so far once its receive queue is
        # empty; its multipart parser has then seen the photo's bytes.
        deadline = time.monotonic() + 30
        while _server_rx_queue(served.port, client_port) != 0:
            assert time.monotonic() < deadline, "the server never read the upload"
            time.sleep(0.05)
        holding: list[str] = []
        settle = time.monotonic() + 1.0
        while not holding and time.monotonic() < settle:
            holding = _open_files_holding(served.process.pid, needle)
            time.sleep(0.1)
        sock.sendall(body[-held_back:])
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert holding == [], f"the upload was written to {holding}"
    return int(answer.split(b" ", 2)[1])


def test_a_large_native_probe_never_touches_a_disk(served: Served, big_photo: bytes) -> None:
    small = (EXAMPLES / "obama2.jpg").read_bytes()
    files = {"image_a": ("probe.png", big_photo), "image_b": ("other.jpg", small)}
    assert _upload_and_look(served, "/v1/verify/images", files) == 200


def test_a_large_enrollment_photo_never_touches_a_disk(served: Served, big_photo: bytes) -> None:
    record = json.dumps({"full_name": "Spooled Person", "lawful_basis": "consent form 12"})
    files = {"file": ("enrol.png", big_photo)}
    status = _upload_and_look(served, "/v1/subjects", files, {"record": record, "face": "1"})
    assert status == 201


def test_a_large_compreface_probe_never_touches_a_disk(served: Served, big_photo: bytes) -> None:
    files = {"file": ("probe.png", big_photo)}
    assert _upload_and_look(served, "/api/v1/recognition/recognize", files) in (200, 400)


@pytest.mark.parametrize("size", [70_000, 100_000])
def test_request_heads_over_64_kib_are_refused(served: Served, size: int) -> None:
    padding = {"X-Padding": "a" * size}
    with httpx.Client(base_url=served.url, timeout=30) as client:
        answer = client.get("/v1/auth/me", headers={"X-API-Key": served.api_key} | padding)
        assert answer.status_code == 431
        # The connection may be gone, but the server is not: the next request is served.
        me = client.get("/v1/auth/me", headers={"X-API-Key": served.api_key})
        assert me.status_code == 200


def test_a_head_just_under_64_kib_is_served(served: Served) -> None:
    padding = {"X-Padding": "a" * 60_000}
    with httpx.Client(base_url=served.url, timeout=30) as client:
        answer = client.get("/v1/auth/me", headers={"X-API-Key": served.api_key} | padding)
        assert answer.status_code == 200


@pytest.mark.parametrize("path", ["/console", "/console/pages", "/v1/subjects/"])
def test_a_forged_host_is_never_redirected_to(served: Served, path: str) -> None:
    with socket.create_connection(("127.0.0.1", served.port), timeout=30) as sock:
        sock.sendall(
            f"GET {path} HTTP/1.1\r\nHost: evil.example\r\n"
            f"X-API-Key: {served.api_key}\r\nConnection: close\r\n\r\n".encode()
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").lower()
    assert "evil.example" not in head
    for line in head.split("\r\n"):
        if line.startswith("location:"):
            assert line.split(":", 1)[1].strip().startswith("/")


def test_malformed_uploads_leave_the_server_log_alone(served: Served) -> None:
    # Found by hand: the multipart parser logged three WARNING lines for every
    # malformed body (each answered 400), so any client could fill the log.
    log = Path(os.readlink(f"/proc/{served.process.pid}/fd/2"))
    before = len(log.read_bytes())
    body = (
        b'--b\r\nContent-Disposition: form-data; name="file"; filename="a.jpg"\r\n\r\n'
        b"x\r\n--b--\r\n"
    )
    for path in ("/v1/detect", "/api/v1/detection/detect"):
        for _ in range(3):
            answer = httpx.post(
                served.url + path,
                content=body,
                headers={
                    "X-API-Key": served.api_key,
                    "Content-Type": "multipart/form-data; boundary=zz",
                },
            )
            assert answer.status_code == 400, answer.text
    time.sleep(0.5)
    assert "multipart" not in log.read_bytes()[before:].decode(errors="replace")


def test_idle_sockets_do_not_make_the_server_refuse_everyone(served: Served) -> None:
    # Found by probing: 64 sockets opened and left silent (max_connections' default)
    # made the real server answer every other client 503, for as long as they stayed
    # open (uvicorn waits for a head for ever, and counts such sockets as busy). The
    # attacker here is 127.0.0.2 (loopback's other addresses reach the server too).
    def attacker_socket() -> socket.socket:
        return socket.create_connection(
            ("127.0.0.1", served.port), timeout=30, source_address=("127.0.0.2", 0)
        )

    with contextlib.ExitStack() as held:
        for _ in range(80):
            held.enter_context(attacker_socket())
        for _ in range(8):
            held.enter_context(attacker_socket()).sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.5)
        answer = httpx.get(f"{served.url}/health", timeout=10)
        assert answer.status_code == 200, answer.text


def _exchange(served: Served, request: bytes) -> bytes:
    """Everything the server sends back on one connection until it closes it."""
    with socket.create_connection(("127.0.0.1", served.port), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def _status_and_error(answer: bytes) -> tuple[int, dict[str, str]]:
    """The status, and the error (native shape, or CompreFace's ``message`` and ``code``)."""
    head, _, body = answer.partition(b"\r\n\r\n")
    shown = json.loads(body)
    return int(head.split(b" ", 2)[1]), shown.get("error", shown)


def test_content_length_with_chunked_is_refused_and_the_connection_closed(served: Served) -> None:
    # Found with a smuggling probe: a body framed by both Content-Length and
    # Transfer-Encoding was read as chunked, and the connection kept serving, so
    # the request pipelined after it (here GET /health; behind a proxy that frames
    # by Content-Length, another client's request) was answered too: the CL.TE
    # desync. RFC 9112 6.3: reject it, or close the connection after answering.
    smuggled = b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    for declared in (4, 5 + len(smuggled)):
        answer = _exchange(
            served,
            b"POST /v1/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n%s"
            % (declared, smuggled),
        )
        assert answer.count(b"HTTP/1.1 ") == 1, answer
        status, error = _status_and_error(answer)
        assert status == 400 and "Content-Length and Transfer-Encoding" in error["message"]
        assert b'"status":"ok"' not in answer


@pytest.mark.parametrize("path", ["/v1/auth/me", "/api/v1/recognition/subjects"])
def test_two_api_key_headers_are_refused_whichever_comes_first(served: Served, path: str) -> None:
    # Found by probing: with two X-API-Key headers the first alone was checked, so
    # what a proxy or gateway validated (often the last) need not be what was used.
    # Spring (CompreFace) joins the two values, which no key matches: 401 there too.
    # The same key twice is not ambiguous (the uploads above send it so).
    for first, second in ((served.api_key, "fwk_x_wrong"), ("fwk_x_wrong", served.api_key)):
        answer = _exchange(
            served,
            f"GET {path} HTTP/1.1\r\nHost: x\r\nX-API-Key: {first}\r\n"
            f"x-api-key: {second}\r\nConnection: close\r\n\r\n".encode(),
        )
        status, error = _status_and_error(answer)
        assert status == 401, answer
        assert "one X-API-Key header" in error["message"]
    alone = _exchange(
        served,
        f"GET {path} HTTP/1.1\r\nHost: x\r\nX-API-Key: {served.api_key}\r\n"
        "Connection: close\r\n\r\n".encode(),
    )
    assert alone.startswith(b"HTTP/1.1 200 ")
