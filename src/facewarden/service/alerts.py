"""Webhook alerts: a JSON POST to an operator's URL, never raising into the frame loop.

:class:`SightingAlert` tells a watchlist's owner that a subject was sighted:
the sighting, camera and watchlist ids and the time, never a name or a
face (who it is stays behind the API's roles and audit). Occupancy alerts
are in :mod:`facewarden.service.crowd`.
"""

from __future__ import annotations

import json
import logging
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

__all__ = ["Post", "SightingAlert", "check_webhook_url", "post_json"]

logger = logging.getLogger(__name__)

Post = Callable[[str, bytes], None]
"""Sends a JSON body to a URL (tests and other transports replace :func:`post_json`)."""


def check_webhook_url(url: str) -> str:
    """``url`` if it is an http(s) URL.

    Raises:
        ValueError: any other scheme (``file:``, ``ftp:``, ...).
    """
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"a webhook must be an http(s) URL, got {url!r}")
    return url


def post_json(url: str, body: bytes) -> None:
    """POST ``body`` as JSON to ``url`` (5 s timeout)."""
    request = urllib.request.Request(  # noqa: S310 - checked by check_webhook_url
        url, data=body, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
        response.read()


def send(post: Post, url: str, payload: dict[str, object]) -> bool:
    """Send ``payload``; False (logged) when the webhook fails."""
    try:
        post(url, json.dumps(payload).encode())
    except OSError as exc:
        logger.warning("alert to %s failed: %s", url, exc)
        return False
    return True


@dataclass
class SightingAlert:
    """Posts ``{"event": "sighting", "sighting", "camera", "watchlist", "at"}`` per new sighting.

    Attributes:
        url: where to POST.
        post: how to send.
        sent: how many alerts went out.
    """

    url: str
    post: Post = post_json
    sent: int = 0

    def __post_init__(self) -> None:
        check_webhook_url(self.url)

    def notify(self, sighting_id: str, camera_id: str, watchlist_id: str, when: datetime) -> bool:
        """Send the alert of one new sighting; True when it went out."""
        payload: dict[str, object] = {
            "event": "sighting",
            "sighting": sighting_id,
            "camera": camera_id,
            "watchlist": watchlist_id,
            "at": when.isoformat(),
        }
        if send(self.post, self.url, payload):
            self.sent += 1
            return True
        return False
