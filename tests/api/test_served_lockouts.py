"""Two real ``facewarden serve`` processes on one database share one lockout.

Guesses spread over two server processes (one SQLite file, or one
PostgreSQL database; one key directory) get no more tries than against one:
failed sign-ins and bad API keys sent alternately to each lock both at the
configured limit.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

import httpx
import pytest

from .test_serve_postgres import Served, start_serve

LIMITS = {
    "FACEWARDEN_LOGIN_MAX_FAILURES": "3",
    "FACEWARDEN_API_KEY_MAX_FAILURES": "4",
}


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_two_server_processes_share_the_lockout(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    env = dict(LIMITS)
    folders = [tmp_path / "data", tmp_path / "data"]
    if backend == "postgres":
        server = request.getfixturevalue("pg_server")
        env["FACEWARDEN_DATABASE_URL"] = server.create_database(f"lk_{secrets.token_hex(6)}")
        folders = [tmp_path / "a", tmp_path / "b"]
    keys = tmp_path / "keys"
    servers: list[Served] = []
    try:
        servers.append(start_serve("--init", "--data-dir", folders[0], "--key-dir", keys, env=env))
        servers.append(start_serve("--data-dir", folders[1], "--key-dir", keys, env=env))
        found = re.search(r"password: (\S+)", "".join(servers[0].out))
        assert found, "".join(servers[0].out)
        password = found.group(1)
        clients = [httpx.Client(base_url=s.url, timeout=60.0) for s in servers]
        try:
            bad = {"X-API-Key": "fwk_not_a_key"}
            statuses = [
                clients[n % 2].get("/v1/subjects", headers=bad).status_code for n in range(4)
            ]
            assert statuses == [401] * 4  # two on each server: four in all
            assert [c.get("/v1/subjects", headers=bad).status_code for c in clients] == [429] * 2
            valid = {"X-API-Key": servers[0].api_key()}
            assert clients[1].get("/v1/subjects", headers=valid).status_code == 200

            def login(n: int, secret: str) -> httpx.Response:
                body = {"username": "admin", "password": secret}
                return clients[n % 2].post("/v1/auth/login", json=body)

            assert [login(n, "a wrong guess").status_code for n in range(3)] == [401] * 3
            refused = [login(n, password) for n in range(2)]  # the right one, on either server
            assert [r.status_code for r in refused] == [429] * 2
            assert all(int(r.headers["retry-after"]) > 0 for r in refused)
        finally:
            for client in clients:
                client.close()
    finally:
        codes = [served.stop() for served in servers]
    assert codes == [0] * len(servers)
    assert "Traceback" not in "".join(line for s in servers for line in s.err)
