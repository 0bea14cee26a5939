"""``facewarden serve --postgres embedded``: a private PostgreSQL in the data directory.

The server runs as a real subprocess: it starts the cluster (``initdb`` at
first use), serves enroll and identify over HTTP, and on SIGTERM closes the
deployment and stops the cluster; started again, the data is there, and no
PostgreSQL process outlives it. A cluster left running by a killed
facewarden, and a ``postmaster.pid`` left by a crash, are handled at start.

The helpers here (a served subprocess, its API key, enroll and identify
calls) are shared by ``test_postgres_servers.py`` and ``test_postgres_faults.py``.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest

from _embedded_pg import postgres_processes, reachable_folder
from facewarden.errors import ConflictError
from facewarden.store._pg_embedded import EmbeddedPostgres
from facewarden.store.pg_local import LocalPostgres

from ._live import KNN

OBAMA = KNN / "train" / "obama" / "obama.jpg"
OBAMA_PROBE = KNN / "test" / "obama1.jpg"
BIDEN = KNN / "train" / "biden" / "biden.jpg"
LAWFUL = '{"full_name": "Barack Obama", "lawful_basis": "consent form on file (test)"}'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Served:
    """A ``facewarden serve`` subprocess, its output so far, and where it listens."""

    process: subprocess.Popen[str]
    port: int
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)
    pumps: list[threading.Thread] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api_key(self) -> str:
        """The admin API key the first start printed."""
        found = re.search(r"API key:\s+(fwk_\S+)", "".join(self.out))
        assert found, "".join(self.out + self.err)
        return found.group(1)

    def client(self, key: str) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={"X-API-Key": key}, timeout=60.0)

    def stop(self, sig: int = signal.SIGTERM) -> int:
        """Send ``sig`` and wait for the process; its exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(timeout=30)
        for pump in self.pumps:
            pump.join(timeout=10)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()
        return code


def _pump(stream: object, into: list[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        into.append(line)


def start_serve(*args: str | Path, env: dict[str, str] | None = None) -> Served:
    """Start ``facewarden serve ARGS --port <free>`` and wait until /health answers.

    Raises:
        AssertionError: it exited or did not answer within two minutes (output quoted).
    """
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FACEWARDEN_")}
    environment |= {"PYTHONUNBUFFERED": "1", "FACEWARDEN_WORKERS": "1"} | (env or {})
    process = subprocess.Popen(
        [sys.executable, "-m", "facewarden.cli", "serve", "--port", str(port), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    served = Served(process, port)
    for stream, into in ((process.stdout, served.out), (process.stderr, served.err)):
        pump = threading.Thread(target=_pump, args=(stream, into), daemon=True)
        pump.start()
        served.pumps.append(pump)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            served.stop()
            raise AssertionError(
                f"serve exited with {process.returncode}: {''.join(served.out + served.err)}"
            )
        try:
            if httpx.get(f"{served.url}/health", timeout=2).status_code == 200:
                return served
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    served.stop(signal.SIGKILL)
    raise AssertionError(f"serve did not answer: {''.join(served.out + served.err)}")


@contextmanager
def serving_two(
    pg_server: EmbeddedPostgres, tmp_path: Path, name: str, env: dict[str, str] | None = None
) -> Iterator[tuple[Served, Served, str]]:
    """Two ``serve`` processes of one deployment on a new database: ``(a, b, its URL)``.

    A made the admin (``--init``); both share one key directory, each has its
    own data folder. Both are stopped at the end; when the block ended
    normally, each must have exited 0 with no traceback in its log.
    """
    url = pg_server.create_database(f"{name}_{secrets.token_hex(6)}")
    environment = {"FACEWARDEN_DATABASE_URL": url} | (env or {})
    keys = tmp_path / "keys"
    servers: list[Served] = []
    try:
        servers.append(
            start_serve("--init", "--data-dir", tmp_path / "a", "--key-dir", keys, env=environment)
        )
        servers.append(
            start_serve("--data-dir", tmp_path / "b", "--key-dir", keys, env=environment)
        )
        yield servers[0], servers[1], url
    finally:
        codes = [served.stop() for served in servers]
    assert codes == [0] * len(servers)
    assert "Traceback" not in "".join(line for s in servers for line in s.err)


def create_watchlist(client: httpx.Client, name: str = "gate") -> None:
    client.post(
        "/v1/watchlists", json={"name": name, "purpose": "site access", "lawful_basis": "test"}
    ).raise_for_status()


def enroll(client: httpx.Client, photo: Path = OBAMA, watchlist: str = "gate") -> httpx.Response:
    return client.post(
        "/v1/subjects",
        data={"record": LAWFUL, "watchlist": watchlist},
        files={"file": (photo.name, photo.read_bytes(), "image/jpeg")},
    )


def identify(
    client: httpx.Client, photo: Path = OBAMA_PROBE, watchlist: str = "gate"
) -> httpx.Response:
    return client.post(
        "/v1/identify",
        data={"watchlist": watchlist},
        files={"file": (photo.name, photo.read_bytes(), "image/jpeg")},
    )


def matched(response: httpx.Response) -> list[str]:
    """The subject ids the identify response calls matches."""
    response.raise_for_status()
    faces = response.json()["faces"]
    return [c["subject_id"] for f in faces for c in f["candidates"] if c["is_match"]]


def _cli(*args: str, data: Path, keys: Path) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FACEWARDEN_")}
    return subprocess.run(
        [sys.executable, "-m", "facewarden.cli", *args],
        env=environment
        | {
            "FACEWARDEN_POSTGRES": "embedded",
            "FACEWARDEN_DATA_DIR": str(data),
            "FACEWARDEN_KEY_DIR": str(keys),
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def deployment() -> Iterator[Path]:
    """A folder for a deployment that ``nobody`` can reach (PostgreSQL's user under root).

    pytest's own temporary folders are private to root, so this one is made
    under the system's temporary folder, and deleted at the end (any server
    still running in it stopped first).
    """
    with reachable_folder("fw-serve-pg-") as base:
        yield base


def test_serve_runs_its_own_postgres_and_stops_it(deployment: Path, faces_dir: Path) -> None:
    data, keys = deployment / "data", deployment / "keys"
    first = start_serve("--init", "--postgres", "embedded", "--data-dir", data, "--key-dir", keys)
    try:
        key = first.api_key()
        assert postgres_processes(data), "no PostgreSQL runs for the deployment"
        with first.client(key) as client:
            create_watchlist(client)
            enrolled = enroll(client)
            assert enrolled.status_code == 201, enrolled.text
            subject = enrolled.json()["subject_id"]
            assert matched(identify(client)) == [subject]
        # Its own cluster: passwords on the socket too, no TCP listener, no trust.
        cluster = data / "postgres"
        hba = (cluster / "data" / "pg_hba.conf").read_text()
        assert not re.search(r"^\s*(local|host)\S*\s.*\btrust\b", hba, re.MULTILINE)
        assert (cluster / "sock" / ".s.PGSQL.5432").exists()
        with pytest.raises(psycopg.OperationalError, match="password"):
            psycopg.connect(f"dbname=facewarden host={cluster / 'sock'} user=facewarden")
        assert (cluster / "pgpass").stat().st_mode & 0o077 == 0
        # Other commands use the running server (and leave it running).
        listed = _cli("subjects", "list", "--json", data=data, keys=keys)
        assert listed.returncode == 0, listed.stderr
        assert subject in listed.stdout
        with first.client(key) as client:
            assert client.get("/v1/subjects").status_code == 200
    finally:
        code = first.stop()
    assert code == 0, "".join(first.err)
    assert postgres_processes(data) == [], "PostgreSQL outlived facewarden serve"
    assert not (data / "postgres" / "data" / "postmaster.pid").exists()

    # Again, selected by the setting this time: the data is still there.
    second = start_serve(
        "--data-dir", data, "--key-dir", keys, env={"FACEWARDEN_POSTGRES": "embedded"}
    )
    try:
        assert "API key" not in "".join(second.out)  # the admin exists: nothing printed
        with second.client(key) as client:
            assert matched(identify(client)) == [subject]
            listed = client.get("/v1/subjects").json()
            assert [s["subject_id"] for s in listed["subjects"]] == [subject]
    finally:
        code = second.stop(signal.SIGINT)
    assert postgres_processes(data) == [], "PostgreSQL outlived facewarden serve (Ctrl-C)"
    # With no server running, a command starts the cluster for itself and stops it.
    listed = _cli("watchlists", "list", data=data, keys=keys)
    assert listed.returncode == 0 and "gate" in listed.stdout, listed.stderr
    assert postgres_processes(data) == []
    assert "Traceback" not in "".join(first.err + second.err)


def test_an_embedded_postgres_and_a_database_url_are_exclusive(deployment: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "facewarden.cli", "serve", "--postgres", "embedded",
         "--data-dir", str(deployment / "data")],
        env={k: v for k, v in os.environ.items() if not k.startswith("FACEWARDEN_")}
        | {"FACEWARDEN_DATABASE_URL": "postgresql://db.example/fw"},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 2
    assert "FACEWARDEN_DATABASE_URL" in result.stderr and "Traceback" not in result.stderr


def test_a_cluster_left_running_or_a_stale_pid_file_is_taken_over(deployment: Path) -> None:
    data = deployment / "data"
    first = LocalPostgres(data)
    url = first.start()
    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE kept (n int)")
        conn.execute("INSERT INTO kept VALUES (7)")
    with pytest.raises(ConflictError, match="another facewarden process"):
        LocalPostgres(data).start()

    # The owner dies without stopping its server (kill -9): the lock goes, the server stays.
    orphan = postgres_processes(data)
    assert first._lock_file is not None
    first._lock_file.close()
    first._lock_file, first._server = None, None
    second = LocalPostgres(data)
    with second:
        assert not set(orphan) & set(postgres_processes(data)), "the orphan was not restarted"
        with psycopg.connect(second.url) as conn:
            assert conn.execute("SELECT n FROM kept").fetchall() == [(7,)]
    assert postgres_processes(data) == []

    # A crash leaves postmaster.pid naming a pid that now belongs to someone else.
    pid_file = data / "postgres" / "data" / "postmaster.pid"
    pid_file.write_text(f"{os.getpid()}\n{data / 'postgres' / 'data'}\n")
    with LocalPostgres(data) as third, psycopg.connect(third.url) as conn:
        assert conn.execute("SELECT n FROM kept").fetchall() == [(7,)]
    assert postgres_processes(data) == []
