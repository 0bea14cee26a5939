"""Acceptance 5 at the HTTP level: PostgreSQL unreachable, lost, or unsafe.

* lost while serving: requests that need the database (identify, list,
  enroll) answer 503 in the error shape within seconds, no stack trace, and
  the server stays up; when the database returns, the same requests succeed
  without a restart, and what was acknowledged before the outage is there;
* unreachable at start: ``facewarden serve`` exits with code 1 and one line;
* an unsafe server (``trust`` over TCP): refused at start, exit code 2, the
  reason named.

The PostgreSQL here is a throwaway cluster of this module's own (stopped
and started by the test), not the session's shared one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from facewarden.errors import FacewardenError
from facewarden.store._pg_embedded import EmbeddedPostgres

from .test_serve_postgres import BIDEN, OBAMA, Served, create_watchlist, enroll, identify, matched
from .test_serve_postgres import start_serve as serve_process

OUTAGE_ANSWER_S = 5.0


@pytest.fixture
def cluster() -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL cluster of this test's own, in a short private folder (socket paths)."""
    root = Path(tempfile.mkdtemp(prefix="fwpgf-"))
    try:
        server = EmbeddedPostgres(root).start()
    except FacewardenError as exc:
        shutil.rmtree(root, ignore_errors=True)
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(f"no embedded PostgreSQL server here: {exc.message}")
    try:
        yield server
    finally:
        server.stop_any()
        shutil.rmtree(root, ignore_errors=True)


def _env(url: str) -> dict[str, str]:
    return {"FACEWARDEN_DATABASE_URL": url}


def _run_serve(tmp_path: Path, url: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FACEWARDEN_")}
    # The data one level deeper than the keys: a copy of the data's parent folder
    # does not take the keys, so start-up has no warning to print beside the error.
    return subprocess.run(
        [sys.executable, "-m", "facewarden.cli", "serve", "--init",
         "--data-dir", str(tmp_path / "site" / "data"), "--key-dir", str(tmp_path / "keys")],
        env=environment | _env(url), capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def _unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["type"] == "DatabaseUnavailableError", error
    assert "Traceback" not in error["message"]
    print(f"503: {error['message']}")


def test_a_lost_database_is_a_503_and_the_server_recovers(
    cluster: EmbeddedPostgres, tmp_path: Path, faces_dir: Path
) -> None:
    url = cluster.create_database("faults")
    served: Served = serve_process(
        "--init", "--data-dir", tmp_path / "data", "--key-dir", tmp_path / "keys", env=_env(url)
    )
    try:
        key = served.api_key()
        with served.client(key) as client:
            create_watchlist(client)
            before = enroll(client, OBAMA)
            assert before.status_code == 201, before.text
            subject = before.json()["subject_id"]

            cluster.stop_any()  # pg_ctl stop -m fast: every session is cut
            for attempt in (
                lambda: identify(client),
                lambda: client.get("/v1/subjects"),
                lambda: enroll(client, BIDEN),
            ):
                started = time.monotonic()
                _unavailable(attempt())
                took = time.monotonic() - started
                print(f"503 after {took:.3f} s")
                assert took < OUTAGE_ANSWER_S
            assert served.process.poll() is None, "the server died with its database"
            assert httpx.get(f"{served.url}/health", timeout=5).status_code == 200

            cluster.start()  # the server reconnects by itself
            assert matched(identify(client)) == [subject]
            listed = client.get("/v1/subjects")
            assert listed.status_code == 200
            assert [s["subject_id"] for s in listed.json()["subjects"]] == [subject]
            after = enroll(client, BIDEN)
            assert after.status_code == 201, after.text
            assert len(client.get("/v1/subjects").json()["subjects"]) == 2
    finally:
        code = served.stop()
    assert code == 0
    assert "Traceback" not in "".join(served.err)


def test_serve_exits_with_one_line_when_postgres_is_unreachable(tmp_path: Path) -> None:
    nowhere = tmp_path / "no-server"
    nowhere.mkdir()
    result = _run_serve(tmp_path, f"postgresql://fw:s3cret@/facewarden?host={nowhere}")
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach PostgreSQL"), lines
    assert "s3cret" not in result.stderr and "Traceback" not in result.stderr


def test_serve_refuses_trust_over_tcp(cluster: EmbeddedPostgres, tmp_path: Path) -> None:
    url = cluster.create_database("unsafe")
    hba = cluster.data / "pg_hba.conf"
    hba.write_text(hba.read_text() + "\nhost all all 127.0.0.1/32 trust\n")
    with psycopg.connect(cluster.url(), autocommit=True) as conn:
        conn.execute("SELECT pg_reload_conf()")
    result = _run_serve(tmp_path, url)
    assert result.returncode == 2, result.stderr
    assert "refusing to use the PostgreSQL server" in result.stderr
    assert re.search(r"pg_hba.conf line \d+ lets TCP connections in with 'trust'", result.stderr)
    assert "Traceback" not in result.stderr
