"""Webhook alerts: a JSON POST to an operator's URL, never raising into the frame loop.

:class:`SightingAlert` tells a watchlist's owner that a subject was sighted:
the sighting, camera and watchlist ids and the time, never a name or a
face (who it is stays behind the API's roles and audit). Occupancy alerts
are in :mod:`facewarden.service.crowd`.

Sighting alerts are delivered off the frame loop: :meth:`SightingAlert.notify`
only puts the alert on an :class:`AlertQueue` (bounded; when full the
oldest waiting alert is dropped, counted and logged at the 1st, 2nd, 4th,
8th ... drop), and one daemon thread per queue posts it with a short
timeout and a few retries with exponential backoff. Every failure (a
refused connection, a timeout, an HTTP error status, a malformed response,
a bad URL) is caught and counted; an alert given up is logged as a
warning (a retried try at INFO), with the URL redacted to its scheme and
host. By default every alert of a
process shares one queue (:func:`shared_queue`), closed at interpreter exit.
"""

from __future__ import annotations

import atexit
import http.client
import json
import logging
import threading
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from facewarden.vision.sources import redact_url

__all__ = [
    "AlertQueue",
    "Post",
    "SightingAlert",
    "check_webhook_url",
    "post_json",
    "shared_queue",
]

logger = logging.getLogger(__name__)

Post = Callable[[str, bytes], None]
"""Sends a JSON body to a URL (tests and other transports replace :func:`post_json`)."""

DELIVERY_ERRORS = (OSError, http.client.HTTPException, ValueError)
"""What a failed POST raises: URLError, HTTPError, timeouts and resets are OSErrors;
a malformed or cut response is an HTTPException; a malformed URL a ValueError."""


def check_webhook_url(url: str) -> str:
    """``url`` if it is an http(s) URL naming a host.

    Raises:
        ValueError: any other scheme (``file:``, ``ftp:``, ...), no host, or a URL
            that cannot be parsed (a bad IPv6 address or port). The message
            never repeats credentials the URL carries.
    """
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"a webhook must be an http(s) URL, got {redact_url(url)!r}")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is the check
    except ValueError:
        raise ValueError("a webhook URL that cannot be parsed (its host or port)") from None
    if not parts.hostname:
        raise ValueError("a webhook URL must name a host")
    return url


def post_json(url: str, body: bytes, *, timeout: float = 5.0) -> None:
    """POST ``body`` as JSON to ``url``."""
    request = urllib.request.Request(  # noqa: S310 - checked by check_webhook_url
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        response.read()


def send(post: Post, url: str, payload: dict[str, object]) -> bool:
    """Send ``payload`` now; False (logged) when the webhook fails, whatever the failure."""
    try:
        post(url, json.dumps(payload).encode())
    except DELIVERY_ERRORS as exc:
        logger.warning("alert to %s failed: %s", redact_url(url), _reason(exc))
        return False
    return True


def _reason(exc: BaseException) -> str:
    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code}"
    if isinstance(exc, urllib.error.URLError):
        return f"{type(exc.reason).__name__}: {exc.reason}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _retryable(exc: BaseException) -> bool:
    """A client error (4xx) or a malformed URL will fail again; anything else may not."""
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code >= 500 or exc.code in (408, 429)
    return not isinstance(exc, ValueError)


@dataclass
class _Delivery:
    url: str
    body: bytes
    post: Post | None
    done: Callable[[bool], None] | None


class AlertQueue:
    """A bounded queue of webhook posts and the one daemon thread that delivers them.

    Args:
        capacity: alerts waiting at most; a new one beyond it drops the oldest.
        timeout: seconds each POST of the default transport may take.
        attempts: tries per alert (the first and the retries).
        backoff: the first and the longest wait (seconds) between two tries.
        name: the delivery thread's name.

    Attributes:
        delivered: alerts that went out.
        failed: alerts given up after their last try.
        dropped: alerts dropped unsent (the queue was full, or closed).
    """

    def __init__(
        self,
        *,
        capacity: int = 256,
        timeout: float = 3.0,
        attempts: int = 3,
        backoff: tuple[float, float] = (0.5, 4.0),
        name: str = "webhook-delivery",
    ) -> None:
        if capacity < 1 or attempts < 1 or timeout <= 0:
            raise ValueError("capacity and attempts must be at least 1, timeout positive")
        self.capacity = capacity
        self.timeout = timeout
        self.attempts = attempts
        self.backoff = backoff
        self.name = name
        self.delivered = 0
        self.failed = 0
        self.dropped = 0
        self._items: deque[_Delivery] = deque()
        self._cond = threading.Condition()
        self._busy = False
        self._closed = False
        self._abort = threading.Event()
        self._thread: threading.Thread | None = None

    def submit(
        self,
        url: str,
        body: bytes,
        *,
        post: Post | None = None,
        done: Callable[[bool], None] | None = None,
    ) -> bool:
        """Queue one POST; returns at once. False when the queue is closed (dropped).

        Args:
            url: where to POST.
            body: the JSON body.
            post: the transport (default: :func:`post_json` with this queue's timeout).
            done: called from the delivery thread with whether it went out
                (also with False when it is dropped).
        """
        item = _Delivery(url, body, post, done)
        with self._cond:
            if self._closed:
                self.dropped += 1
                logger.warning("alert to %s dropped: the queue is closed", redact_url(url))
                oldest = None
                item_dropped = True
            else:
                item_dropped = False
                oldest = self._items.popleft() if len(self._items) >= self.capacity else None
                if oldest is not None:
                    self.dropped += 1
                if oldest is not None and self.dropped & (self.dropped - 1) == 0:
                    # Logged at the 1st, 2nd, 4th, 8th ... drop: a dead webhook
                    # must not flood the log with one line per alert.
                    logger.warning(
                        "alert queue full (%d waiting): dropped the oldest alert, to %s "
                        "(%d dropped so far)",
                        self.capacity,
                        redact_url(oldest.url),
                        self.dropped,
                    )
                self._items.append(item)
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                    self._thread.start()
                self._cond.notify_all()
        for dropped in (oldest, item if item_dropped else None):
            if dropped is not None:
                _call(dropped, ok=False)
        return not item_dropped

    @property
    def pending(self) -> int:
        """Alerts waiting or being delivered."""
        with self._cond:
            return len(self._items) + (1 if self._busy else 0)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every queued alert was delivered or given up; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._items and not self._busy, timeout)

    def close(self, timeout: float = 5.0) -> None:
        """Stop taking alerts, deliver what waits for up to ``timeout`` s, drop the rest."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        drained = self.flush(timeout)
        self._abort.set()  # cut a backoff wait short: what is left is dropped
        with self._cond:
            left = list(self._items)
            self._items.clear()
            self.dropped += len(left)
            self._cond.notify_all()
            thread = self._thread
        if left:
            logger.warning("alert queue closed: %d alert(s) dropped unsent", len(left))
        for item in left:
            _call(item, ok=False)
        if thread is not None:
            thread.join(timeout if drained else self.timeout + 1)

    def _run(self) -> None:
        while True:
            with self._cond:
                self._cond.wait_for(lambda: bool(self._items) or self._closed)
                if not self._items:
                    return  # closed and drained
                item = self._items.popleft()
                self._busy = True
            ok = False
            try:
                ok = self._deliver(item)
            except Exception:  # a broken transport must not kill the thread
                logger.exception("alert to %s failed", redact_url(item.url))
            finally:
                with self._cond:
                    if ok:
                        self.delivered += 1
                    else:
                        self.failed += 1
                    self._busy = False
                    self._cond.notify_all()
            _call(item, ok=ok)

    def _deliver(self, item: _Delivery) -> bool:
        delay = self.backoff[0]
        for attempt in range(1, self.attempts + 1):
            try:
                if item.post is None:
                    post_json(item.url, item.body, timeout=self.timeout)
                else:
                    item.post(item.url, item.body)
            except DELIVERY_ERRORS as exc:
                last = attempt == self.attempts or not _retryable(exc) or self._abort.is_set()
                logger.log(
                    logging.WARNING if last else logging.INFO,
                    "alert to %s failed (try %d of %d%s): %s",
                    redact_url(item.url),
                    attempt,
                    self.attempts,
                    ", giving up" if last else "",
                    _reason(exc),
                )
                if last or self._abort.wait(delay):
                    return False
                delay = min(delay * 2, self.backoff[1])
            else:
                return True
        return False


def _call(item: _Delivery, *, ok: bool) -> None:
    if item.done is None:
        return
    try:
        item.done(ok)
    except Exception:
        logger.exception("alert callback failed")


_shared: AlertQueue | None = None
_shared_lock = threading.Lock()


def shared_queue() -> AlertQueue:
    """This process's alert queue (its thread starts with the first alert; closed at exit)."""
    global _shared  # noqa: PLW0603 - one queue per process, made on first use
    with _shared_lock:
        if _shared is None:
            _shared = AlertQueue()
            atexit.register(_shared.close, 2.0)
        return _shared


@dataclass
class SightingAlert:
    """Posts ``{"event": "sighting", "sighting", "camera", "watchlist", "at"}`` per new sighting.

    :meth:`notify` returns at once; the POST happens on ``queue``'s thread.

    Attributes:
        url: where to POST.
        post: how to send (None: :func:`post_json` with the queue's timeout).
        queue: the delivery queue (default: :func:`shared_queue`).
        sent: alerts that went out.
        failed: alerts that did not (failed after their retries, or dropped).
    """

    url: str
    post: Post | None = None
    queue: AlertQueue | None = None
    sent: int = 0
    failed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        check_webhook_url(self.url)

    def notify(self, sighting_id: str, camera_id: str, watchlist_id: str, when: datetime) -> bool:
        """Queue the alert of one new sighting; True when it was queued (never blocks)."""
        payload: dict[str, object] = {
            "event": "sighting",
            "sighting": sighting_id,
            "camera": camera_id,
            "watchlist": watchlist_id,
            "at": when.isoformat(),
        }
        queue = self.queue or shared_queue()
        return queue.submit(self.url, json.dumps(payload).encode(), post=self.post, done=self._done)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait (at most ``timeout`` s) for the queued alerts to be delivered or given up."""
        return (self.queue or shared_queue()).flush(timeout)

    def _done(self, ok: bool) -> None:
        with self._lock:
            if ok:
                self.sent += 1
            else:
                self.failed += 1
