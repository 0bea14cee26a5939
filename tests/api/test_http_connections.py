"""Tests for facewarden.api.http_connections: slow and idle connections against real uvicorn.

A real uvicorn server (the protocol class ``facewarden serve`` uses, a
concurrency limit of 4, heads due within 1 s) serves a tiny ASGI app on
loopback; the clients are raw sockets that open and send nothing, or send a
head a byte at a time, as slowloris does. Before the guard, 4 idle sockets
made uvicorn answer 503 to everyone for as long as they stayed open.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
import uvicorn

from facewarden.api.http_connections import guarded_h11

HEAD_TIMEOUT = 1.0
LIMIT = 4


async def _app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(scope="module")
def port() -> Iterator[int]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = int(probe.getsockname()[1])
    config = uvicorn.Config(
        _app,
        host="127.0.0.1",
        port=free,
        http=guarded_h11(
            head_timeout=HEAD_TIMEOUT, max_waiting_per_address=16, uncapped=("127.0.0.3/32",)
        ),
        limit_concurrency=LIMIT,
        timeout_keep_alive=30,  # longer than the head timeout: the guard must act alone
        lifespan="off",
        log_level="warning",
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline and thread.is_alive(), "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield free
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    return sock


def _closed_within(sock: socket.socket, seconds: float, trickle: bool = False) -> float | None:
    """Seconds until the server closes ``sock`` (sending a byte a tick if ``trickle``)."""
    start = time.monotonic()
    sock.settimeout(0.2)
    while time.monotonic() - start < seconds:
        try:
            if not sock.recv(4096):
                return time.monotonic() - start
        except TimeoutError:
            if trickle:
                try:
                    sock.sendall(b"X")
                except OSError:
                    return time.monotonic() - start
        except OSError:
            return time.monotonic() - start
    return None


def _is_closed(sock: socket.socket) -> bool:
    """Whether the server has closed ``sock`` already (looked at without waiting)."""
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError:  # reset
        return True


def test_idle_and_trickling_connections_do_not_shut_everyone_out(port: int) -> None:
    with ExitStack() as held:
        idle = [held.enter_context(_connect(port)) for _ in range(LIMIT * 2)]
        for _ in range(LIMIT):
            trickling = held.enter_context(_connect(port))
            trickling.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        time.sleep(0.2)
        assert len(idle) == 2 * LIMIT
        answer = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert (answer.status_code, answer.text) == (200, "ok")


def test_a_head_that_never_completes_is_closed_at_its_deadline(port: int) -> None:
    with _connect(port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
        closed = _closed_within(sock, HEAD_TIMEOUT + 4, trickle=True)
    assert closed is not None, "a head trickled a byte at a time was waited on for ever"
    assert HEAD_TIMEOUT - 0.3 < closed < HEAD_TIMEOUT + 2


def test_a_silent_connection_is_closed_at_the_deadline(port: int) -> None:
    with _connect(port) as sock:
        closed = _closed_within(sock, HEAD_TIMEOUT + 4)
    assert closed is not None and closed < HEAD_TIMEOUT + 2


def test_between_requests_the_next_head_is_due_too(port: int) -> None:
    with _connect(port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert b"200 OK" in sock.recv(4096)
        sock.sendall(b"GET / HTTP/1.1\r\n")  # then a byte now and then, never the end
        closed = _closed_within(sock, HEAD_TIMEOUT + 4, trickle=True)
    assert closed is not None and closed < HEAD_TIMEOUT + 2


def test_kept_alive_and_pipelined_requests_are_served(port: int) -> None:
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
        for _ in range(3):
            assert client.get("/").text == "ok"
            time.sleep(HEAD_TIMEOUT / 2)  # each wait shorter than the deadline, together longer
    with _connect(port) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" * 2 + b"GET / HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.1)
        sock.sendall(b"Connection: close\r\n\r\n")
        answers = b""
        while chunk := sock.recv(4096):
            answers += chunk
    assert answers.count(b"HTTP/1.1 200 OK") == 3


def test_one_address_holds_at_most_its_share_of_new_connections(port: int) -> None:
    # 127.0.0.2 is the address that floods; the server still serves 127.0.0.1.
    with ExitStack() as held:
        socks = [
            held.enter_context(
                socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.2", 0))
            )
            for _ in range(24)
        ]
        time.sleep(0.3)
        assert sum(_is_closed(s) for s in socks) == 24 - 16
        answer = httpx.get(f"http://127.0.0.1:{port}/", timeout=5)
        assert answer.status_code == 200
    # Connections kept alive between requests are not new: many may wait.
    clients = [httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5) for _ in range(20)]
    try:
        assert all(c.get("/").text == "ok" for c in clients)
        assert all(c.get("/").text == "ok" for c in clients)
    finally:
        for client in clients:
            client.close()


def test_a_trusted_proxys_burst_of_new_connections_is_not_capped(port: int) -> None:
    # Every client behind a reverse proxy comes from its address: a burst of them is
    # more new connections at once than one client opens, and must not be closed.
    with ExitStack() as held:
        socks = [
            held.enter_context(
                socket.create_connection(("127.0.0.1", port), source_address=("127.0.0.3", 0))
            )
            for _ in range(24)
        ]
        time.sleep(0.3)
        assert not any(_is_closed(s) for s in socks)
        # Their heads are still due on time.
        assert _closed_within(socks[0], HEAD_TIMEOUT + 2) is not None
