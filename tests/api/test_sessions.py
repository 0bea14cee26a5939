"""Sessions, CSRF, rate limits, security headers and the one error shape, over HTTP."""

from __future__ import annotations

import logging
import socket

import httpx
import pytest

from facewarden.service.registry import Registry

from ._live import LiveServer

PASSWORD = "operator passphrase 1"


@pytest.fixture(scope="module")
def operator(live: LiveServer) -> str:
    live.warden.access.create_user("olivia", PASSWORD, "operator")
    return "olivia"


def _login(client: httpx.Client, username: str, password: str) -> httpx.Response:
    return client.post("/v1/auth/login", json={"username": username, "password": password})


def test_a_session_needs_its_csrf_token_for_writes(live: LiveServer, operator: str) -> None:
    with live.client(None) as browser:
        signed_in = _login(browser, operator, PASSWORD)
        assert signed_in.status_code == 200
        cookie = signed_in.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/" in cookie
        csrf = signed_in.json()["csrf_token"]
        assert signed_in.json()["user"] == {"username": operator, "role": "operator"}
        assert browser.get("/v1/watchlists").status_code == 200  # reads need no token
        body = {"name": "lobby", "purpose": "site access", "lawful_basis": "art. 6(1)(f)"}
        refused = browser.post("/v1/watchlists", json=body)
        assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["error"]["message"]
        wrong = browser.post("/v1/watchlists", json=body, headers={"X-CSRF-Token": "0" * 64})
        assert wrong.status_code == 403
        created = browser.post("/v1/watchlists", json=body, headers={"X-CSRF-Token": csrf})
        assert created.status_code == 201
        assert browser.get("/v1/auth/me").json()["csrf_token"] == csrf
        assert browser.get("/v1/users").status_code == 403  # an operator is no admin
        out = browser.post("/v1/auth/logout", headers={"X-CSRF-Token": csrf})
        assert out.status_code == 204
        assert browser.get("/v1/watchlists").status_code == 401


def test_failed_sign_ins_are_limited(live: LiveServer) -> None:
    live.warden.access.create_user("victim", PASSWORD, "auditor")
    with live.client(None) as client:
        statuses = [_login(client, "victim", f"guess {i}").status_code for i in range(6)]
        assert statuses == [401] * 5 + [429]
        limited = _login(client, "victim", PASSWORD)
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) > 0
        assert limited.json()["error"]["type"] == "RateLimitedError"


def test_a_stranger_cannot_lock_a_user_out(live: LiveServer) -> None:
    # Issue 13 finding 10, the attack: from another address, fail until the account locks.
    live.warden.access.create_user("target", PASSWORD, "auditor")
    stranger = httpx.HTTPTransport(local_address="127.0.0.2")
    with httpx.Client(base_url=live.url, transport=stranger) as client:
        statuses = [_login(client, "target", f"guess {i}").status_code for i in range(5)]
        assert statuses == [401] * 5
        # During the lockout even the right password is refused; a flood of attempts
        # is audited once (the rest are counted, and summed up when the lock is over).
        statuses = [_login(client, "target", PASSWORD).status_code for _ in range(100)]
        assert statuses == [429] * 100
    with live.client(None) as own:  # the user, from their own address
        assert _login(own, "target", PASSWORD).status_code == 200
    entries = live.warden.audit.entries(limit=500)
    locked = [e for e in entries if e.object_id == "target" and e.outcome == "locked"]
    assert [(e.action, e.details["client"]) for e in locked] == [("auth.login", "127.0.0.2")]


def test_bad_api_keys_are_limited(live: LiveServer) -> None:
    limit = live.settings.api_key_max_failures
    with httpx.Client(base_url=live.url, headers={"X-API-Key": "fwk_0_0"}) as client:
        statuses = {client.get("/v1/subjects").status_code for _ in range(limit)}
        assert statuses == {401}
        assert client.get("/v1/subjects").status_code == 429
    rejected = [e for e in live.warden.audit.entries(limit=100) if e.action == "auth.api_key"]
    assert rejected and all(e.outcome == "denied" for e in rejected)


def test_security_headers_on_every_response(live: LiveServer) -> None:
    with live.client(None) as client:
        for response in (client.get("/health"), client.get("/v1/subjects"), client.get("/x")):
            headers = response.headers
            assert headers["content-security-policy"].startswith("default-src 'self'")
            assert headers["x-content-type-options"] == "nosniff"
            assert headers["x-frame-options"] == "DENY"
            assert headers["referrer-policy"] == "no-referrer"
            assert headers["cache-control"] == "no-store"
            assert "strict-transport-security" not in headers  # plain HTTP on loopback


def test_a_public_path_under_another_method_is_not_an_authentication_failure(
    live: LiveServer,
) -> None:
    # Load balancers probe with HEAD; a wrong method on /health is a 405, not a 401.
    with live.client(None) as anonymous:
        assert anonymous.head("/health").status_code in (200, 405)
        assert anonymous.post("/health").status_code == 405
        assert anonymous.post("/v1/subjects").status_code == 401


def test_the_openapi_document_and_docs_need_a_key(live: LiveServer) -> None:
    with live.client(None) as anonymous, live.client("auditor") as auditor:
        assert anonymous.get("/openapi.json").status_code == 401
        assert anonymous.get("/docs").status_code == 401
        assert anonymous.get("/redoc").status_code == 401
        document = auditor.get("/openapi.json").json()
        assert "/v1/identify" in document["paths"]
        page = auditor.get("/docs")
        assert (
            page.status_code == 200 and "/v1/identify" in page.text and "<script" not in page.text
        )


def test_an_unexpected_error_shows_no_details(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(Registry, "subjects", broken)
    with caplog.at_level(logging.ERROR), live.client("operator") as client:
        response = client.get("/v1/subjects")
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["type"] == "InternalError"
    assert "secret" not in response.text and "Traceback" not in response.text
    reference = error["message"].rsplit(" ", 1)[-1]
    assert any(reference in r.getMessage() and r.exc_info for r in caplog.records)


def _exchange(sock: socket.socket, request: bytes) -> tuple[str, dict[str, str]]:
    """Send one request on an open connection; its status line and headers (body read whole)."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        piece = sock.recv(65536)
        if not piece:
            raise ConnectionError(f"the server closed the connection (read {data!r})")
        data += piece
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    while len(body) < int(headers.get("content-length", "0")):
        piece = sock.recv(65536)
        if not piece:
            raise ConnectionError("the server closed the connection inside a body")
        body += piece
    return status, headers


def test_an_unexpected_error_has_the_security_headers_and_keeps_the_connection(
    live: LiveServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A 500 was rendered by Starlette's outermost layer, past the security
    # headers: no CSP, no X-Frame-Options, and no Cache-Control (a proxy could
    # keep it). And the error was raised on to uvicorn, which then closed the
    # keep-alive connection: a client's next request on it failed.
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(Registry, "subjects", broken)
    host, port = live.url.removeprefix("http://").split(":")
    key = live.keys["operator"]
    request = f"GET {{}} HTTP/1.1\r\nHost: {host}\r\nX-API-Key: {key}\r\n\r\n"
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        status, headers = _exchange(sock, request.format("/v1/subjects").encode())
        assert status.split()[1] == "500"
        assert headers["content-security-policy"].startswith("default-src 'self'")
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["cache-control"] == "no-store"
        assert headers.get("connection", "").lower() != "close"
        status, _ = _exchange(sock, request.format("/v1/watchlists").encode())
        assert status.split()[1] == "200"
