"""The HTTP/1.1 connections of ``facewarden serve``: uvicorn's h11, guarded against slow heads.

uvicorn counts every open connection against ``limit_concurrency`` and
answers 503 beyond it, and it waits for a request head for ever: a client
that opens ``max_connections`` sockets and sends nothing (or a byte of a
head now and then, the "slowloris" attack) held the server at 503 for
everyone, indefinitely. :func:`guarded_h11` makes uvicorn's protocol class:

* a connection waiting for a request head (just opened, or idle between
  requests) is not counted against ``limit_concurrency``; only connections
  with a request in hand are;
* the head must arrive whole within ``head_timeout`` seconds of the
  connection opening or of the previous response ending, else the
  connection is closed;
* one client address may hold at most ``max_waiting_per_address`` new
  connections waiting for their first head; more are closed at once, so
  that one address cannot take every file descriptor either. (Clients send
  a head as soon as they connect, a reverse proxy too; connections kept
  alive between requests are not counted.) A trusted reverse proxy is not
  capped: every client behind it comes from its address, and a burst of
  them opens more new connections at once than one client ever does.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections import Counter
from collections.abc import Sequence
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["MAX_WAITING_PER_ADDRESS", "guarded_h11"]

MAX_WAITING_PER_ADDRESS = 16
"""New connections one client address may hold open before their first request head."""


def guarded_h11(
    *,
    head_timeout: float,
    max_waiting_per_address: int = MAX_WAITING_PER_ADDRESS,
    uncapped: Sequence[str] = (),
) -> type[H11Protocol]:
    """A uvicorn ``http`` protocol class for one server (its own count of waiting connections).

    Args:
        head_timeout: seconds a request head may take to arrive whole.
        max_waiting_per_address: new connections one address may hold before their first head.
        uncapped: addresses or networks (the trusted reverse proxies) exempt from that cap;
            their heads are still due within ``head_timeout``.
    """
    waiting: Counter[str] = Counter()
    proxies = [ipaddress.ip_network(item, strict=False) for item in uncapped]

    def capped(address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return True  # not an IP address (a Unix socket's peer): one client
        return not any(ip in network for network in proxies)

    class GuardedH11Protocol(H11Protocol):
        """uvicorn's h11 protocol, counting a connection only while it has a request in hand."""

        _address = ""
        _awaited_cycle: Any = None
        _awaiting = False  # a request head is due
        _fresh = False  # ... and it would be the connection's first
        _head_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._address = self.client[0] if self.client else ""
            if capped(self._address):
                if waiting[self._address] >= max_waiting_per_address:
                    self.connections.discard(self)
                    transport.close()
                    return
                waiting[self._address] += 1
                self._fresh = True
            self._await_head()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self._awaiting and self.cycle is not self._awaited_cycle:
                self._stop_awaiting()
                if not self.transport.is_closing():
                    self.connections.add(self)

        def on_response_complete(self) -> None:
            answered = self.cycle
            super().on_response_complete()
            if not self.transport.is_closing() and self.cycle is answered:
                self._await_head()  # no pipelined request was waiting behind it

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_awaiting()
            super().connection_lost(exc)

        def _await_head(self) -> None:
            # Not counted against limit_concurrency while it has no request in hand.
            self.connections.discard(self)
            self._awaiting = True
            self._awaited_cycle = self.cycle
            self._head_timer = self.loop.call_later(head_timeout, self._head_timed_out)

        def _stop_awaiting(self) -> None:
            self._awaiting = False
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None
            if self._fresh:
                self._fresh = False
                waiting[self._address] -= 1
                if waiting[self._address] <= 0:
                    del waiting[self._address]

        def _head_timed_out(self) -> None:
            self._head_timer = None
            if self._awaiting and not self.transport.is_closing():
                self.transport.close()

    return GuardedH11Protocol
