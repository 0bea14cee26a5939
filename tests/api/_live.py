"""The real app under uvicorn, on a loopback socket, in a thread; and where the photos are."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

from facewarden.api import create_app
from facewarden.config import Settings
from facewarden.service.roles import ROLES
from facewarden.service.warden import Warden

FACES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "faces"
EXAMPLES = FACES / "face_recognition" / "examples"
KNN = EXAMPLES / "knn_examples"


FAST = {"mode": "fast", "enroll_mode": "fast"}
"""Settings for the fast pipelines, where a test's point is not the models."""


@dataclass
class LiveServer:
    """A running server: its URL, its deployment, and an API key per role."""

    url: str
    warden: Warden
    settings: Settings
    keys: dict[str, str] = field(default_factory=dict)
    app: Any = None
    """The served FastAPI app (tests reach its ``ServerState`` as ``app.state.server``)."""

    def add_key(self, name: str, role: str) -> str:
        """Issue one more API key of ``role``, usable as ``client(name)``."""
        self.keys[name] = self.warden.access.create_api_key(f"test {name}", role).secret
        return self.keys[name]

    def client(self, role: str | None = "admin", **kwargs: Any) -> httpx.Client:
        """An HTTP client for ``role``, or a key added by name (None: unauthenticated)."""
        headers = {"X-API-Key": self.keys[role]} if role else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=60.0, **kwargs)


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _serve(app: Any, host: str = "127.0.0.1") -> tuple[uvicorn.Server, threading.Thread, int]:
    # uvicorn binds the port itself: handed a pre-bound socket instead, its
    # answers arrive about 40 ms late (Nagle against delayed ACKs).
    port = _free_port(host)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        ws="none",
        lifespan="on",
        timeout_keep_alive=5,
        limit_concurrency=64,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    return server, thread, port


@contextmanager
def serving(
    root: Path, *, history_approval: bool = False, **overrides: Any
) -> Iterator[LiveServer]:
    """A fresh deployment under ``root`` served on loopback, a key per role; stopped on leaving.

    Args:
        root: the deployment's folder (data and keys).
        history_approval: location histories need a second person's approval
            (``history_needs_approval``), and ``investigator2`` is issued to give it.
        **overrides: Settings fields.
    """
    values: dict[str, Any] = {
        "data_dir": root / "data",
        "key_dir": root / "keys",
        "workers": 1,
        "compreface_lawful_basis": "consent form on file (test)",
        "history_needs_approval": history_approval,
    }
    settings = Settings(**(values | overrides))
    warden = Warden.open(settings, create=True, actor="test:setup")
    try:
        keys = {role: warden.access.create_api_key(f"test {role}", role).secret for role in ROLES}
        app = create_app(settings, warden=warden)
        server, thread, port = _serve(app)
        try:
            live = LiveServer(f"http://127.0.0.1:{port}", warden, settings, keys, app)
            if history_approval:
                live.add_key("investigator2", "investigator")
            yield live
        finally:
            server.should_exit = True
            thread.join(timeout=30)
    finally:
        warden.close()
