"""The real server on loopback for the HTTP benchmarks (``api_load.py``, ``soak.py``).

``create_app`` under uvicorn, configured as ``facewarden serve`` configures it,
runs in its own process over a fresh deployment in a temporary folder, with
an operator API key (and, on request, an operator who signs in with a
password). ``FACEWARDEN_*`` variables of the caller's environment are left
out, so that every run measures the same defaults.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

FACES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "faces"
KNN = FACES / "face_recognition" / "examples" / "knn_examples"
JOHNS = FACES / "dlib" / "examples" / "johns"

# The server process: a deployment, an operator key (and user), then uvicorn as `serve` runs it.
_SERVER = """
import json, sys
from pathlib import Path
import uvicorn
from facewarden.api import create_app
from facewarden.config import Settings
from facewarden.service.warden import Warden

root, port, label, username, password = Path(sys.argv[1]), int(sys.argv[2]), *sys.argv[3:6]
settings = Settings(data_dir=root / "data", key_dir=root / "keys", port=port)
warden = Warden.open(settings, create=True, actor=f"{label}:setup")
key = warden.access.create_api_key(label, "operator").secret
if username:
    warden.access.create_user(username, password, "operator")
print(json.dumps({"key": key}), flush=True)
uvicorn.Server(uvicorn.Config(
    create_app(settings, warden=warden), host="127.0.0.1", port=port, access_log=False,
    log_level="warning", ws="none", lifespan="on", server_header=False,
    timeout_keep_alive=settings.keep_alive_seconds, limit_concurrency=settings.max_connections,
    h11_max_incomplete_event_size=64 * 1024,
)).run()
"""


@dataclass(frozen=True)
class Served:
    """A running server: where it listens, its operator API key, its process id."""

    url: str
    key: str
    pid: int

    def client(self, timeout: float = 120) -> httpx.Client:
        """A client that sends the operator key."""
        return httpx.Client(base_url=self.url, headers={"X-API-Key": self.key}, timeout=timeout)


@contextmanager
def served(label: str, *, username: str = "", password: str = "") -> Iterator[Served]:
    """Start a server on a fresh deployment, wait until it answers, stop it on leaving.

    Args:
        label: names the temporary folder, the API key and the setup actor.
        username: with ``password``, an operator who can sign in to the console.
        password: that operator's password.
    """
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("FACEWARDEN_")}
    with tempfile.TemporaryDirectory(prefix=f"facewarden-{label}-") as root:
        server = subprocess.Popen(
            [sys.executable, "-c", _SERVER, root, str(port), label, username, password],
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert server.stdout is not None
            key = json.loads(server.stdout.readline())["key"]
            _wait_until_up(url, server)
            yield Served(url, key, server.pid)
        finally:
            server.terminate()
            server.wait(timeout=60)


def memory_mib(pid: int, field: str = "VmRSS") -> float:
    """A process's memory from ``/proc``: ``VmRSS`` (now) or ``VmHWM`` (its peak), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def enroll(
    client: httpx.Client, name: str, photo: Path, watchlist: str, lawful_basis: str
) -> httpx.Response:
    """``POST /v1/subjects``: one person with one photo onto ``watchlist``."""
    record = json.dumps({"full_name": name, "lawful_basis": lawful_basis})
    return client.post(
        "/v1/subjects",
        data={"record": record, "watchlist": watchlist},
        files={"file": (photo.name, photo.read_bytes(), "image/jpeg")},
    )


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(url: str, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and server.poll() is None:
        try:
            httpx.get(f"{url}/health", timeout=1).raise_for_status()
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise SystemExit(f"the server did not come up (exit code {server.poll()})")
