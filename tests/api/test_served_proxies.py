"""``X-Forwarded-For`` names the client only from a proxy in ``FACEWARDEN_TRUSTED_PROXIES``.

A real ``facewarden serve`` on loopback, its per-address sign-in lockout set
to three failures. Configured to trust 127.0.0.1 (a reverse proxy on the same
host), two forwarded addresses lock out separately, and the proxy's own
address is locked by neither. Unconfigured, the header is ignored: a client
that sends a different forwarded address with each guess stays one address
and is locked out at the limit all the same. An IPv6 client behind the proxy
is counted by its /64: a fresh address of it for each guess is locked out at
the limit too, sign-ins and bad API keys alike, and the next /64 is not.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
from click.testing import CliRunner

from facewarden.cli import cli

from .test_serve_postgres import Served, start_serve

LIMITS = {
    "FACEWARDEN_LOGIN_MAX_FAILURES_PER_ADDRESS": "3",
    "FACEWARDEN_LOGIN_MAX_FAILURES": "100",  # only the per-address limit is under test
}


def _serve(tmp_path: Path, env: dict[str, str]) -> tuple[Served, str]:
    served = start_serve(
        "--init", "--data-dir", tmp_path / "data", "--key-dir", tmp_path / "keys", env=env
    )
    found = re.search(r"password: (\S+)", "".join(served.out))
    assert found, "".join(served.out + served.err)
    return served, found.group(1)


def _login(client: httpx.Client, password: str, forwarded: str | None) -> int:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    body = {"username": "admin", "password": password}
    return client.post("/v1/auth/login", json=body, headers=headers).status_code


def test_behind_a_trusted_proxy_each_forwarded_client_is_locked_out_alone(
    tmp_path: Path,
) -> None:
    served, password = _serve(tmp_path, LIMITS | {"FACEWARDEN_TRUSTED_PROXIES": "127.0.0.1"})
    try:
        with httpx.Client(base_url=served.url, timeout=60.0) as client:
            stranger, colleague = "203.0.113.7", "198.51.100.20"
            assert [_login(client, "a wrong guess", stranger) for _ in range(3)] == [401] * 3
            assert _login(client, password, stranger) == 429
            # A second client behind the same proxy, and the proxy itself, are not locked.
            assert _login(client, password, colleague) == 200
            assert _login(client, password, None) == 200
            # A forged entry before the proxy's does not move the stranger elsewhere:
            # the right-most untrusted address is the client.
            assert _login(client, password, f"{colleague}, {stranger}") == 429
    finally:
        assert served.stop() == 0
    assert "Traceback" not in "".join(served.err)


def test_behind_a_trusted_proxy_an_ipv6_client_rotating_its_64_is_locked_out(
    tmp_path: Path,
) -> None:
    env = LIMITS | {
        "FACEWARDEN_TRUSTED_PROXIES": "127.0.0.1",
        "FACEWARDEN_API_KEY_MAX_FAILURES": "2",
    }
    served, password = _serve(tmp_path, env)
    try:
        with httpx.Client(base_url=served.url, timeout=60.0) as client:
            rotating = [f"2001:db8:7:1::{n:x}" for n in range(1, 4)]
            assert [_login(client, "a wrong guess", f) for f in rotating] == [401] * 3
            assert _login(client, password, "2001:db8:7:1:dead:beef:0:1") == 429
            assert _login(client, password, "2001:db8:7:2::1") == 200  # the next /64
            bad = {"X-API-Key": "fwk_not_a_key"}
            keys = [
                client.get("/v1/subjects", headers=bad | {"X-Forwarded-For": f"2001:db8:9::{n}"})
                for n in range(1, 4)
            ]
            assert [r.status_code for r in keys] == [401, 401, 429]
    finally:
        assert served.stop() == 0
    assert "Traceback" not in "".join(served.err)


def test_without_trusted_proxies_a_client_cannot_choose_its_address(tmp_path: Path) -> None:
    served, password = _serve(tmp_path, dict(LIMITS))
    try:
        with httpx.Client(base_url=served.url, timeout=60.0) as client:
            dodges = ["203.0.113.7", "203.0.113.8", "203.0.113.9"]
            assert [_login(client, "a wrong guess", f) for f in dodges] == [401] * 3
            assert _login(client, password, "198.51.100.20") == 429
            assert _login(client, password, None) == 429
    finally:
        assert served.stop() == 0
    assert "Traceback" not in "".join(served.err)


def test_a_trusted_proxy_that_is_no_address_is_refused_at_start(tmp_path: Path) -> None:
    env = {"FACEWARDEN_TRUSTED_PROXIES": "127.0.0.1,proxy.example", "FACEWARDEN_WORKERS": "1"}
    result = CliRunner().invoke(
        cli,
        ["serve", "--data-dir", str(tmp_path / "data"), "--key-dir", str(tmp_path / "k")],
        env=env,
    )
    assert result.exit_code == 2, result.output
    assert "FACEWARDEN_TRUSTED_PROXIES" in result.output
    assert "Traceback" not in result.output
