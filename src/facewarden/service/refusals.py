"""Attempts refused during a lockout: audited when the lock first bites, counted, summed up.

A locked-out address (or account) may keep trying. Each try is refused
before any password is checked (:class:`~facewarden.service.ratelimit.FailureLimiter`
refuses after a read alone), but one audit entry per try would still make a
flood of them a flood of writes on the single writer. So, for each lock of
each (action, account, address), the address as the limiter counts it (an
IPv6 client by its /64, :func:`~facewarden.service.ratelimit.client_key`):

* the **first** refusal is audited at once (outcome ``locked``, reason
  ``locked_out``, with how long the lock lasts): the trail shows the lockout
  the moment it bites;
* every **further** refusal while that lock lasts is only counted, in this
  process's memory;
* once the lock has ended, the count is written as **one summary** entry
  (outcome ``locked``, reason ``locked_out_summary``: ``refused``, every
  refusal of the lock, the first included; the first and last refusal's
  time), with the next refusal this process audits, or when the deployment
  closes. A lock that refused once has no summary.

So a lock costs at most two audit writes per process however many attempts
it refuses; the attempts that lead up to it (each a real password check,
each audited) are bounded by the limiter's own limits. Memory is bounded
too: beyond :data:`MAX_TRACKED` locks at once, refusals are counted on one
shared tally (account and address shown as ``(others)``). A process killed
during a lock loses its count, not the first entry.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from facewarden.service.ratelimit import client_key

if TYPE_CHECKING:
    from facewarden.service.audit import AuditLog
    from facewarden.service.context import Context
    from facewarden.store.base import Transaction

__all__ = ["MAX_TRACKED", "LockoutRefusals", "Tally", "audit_refusal", "write_summaries"]

MAX_TRACKED = 10_000
"""Locks counted one by one at once; refusals beyond them share one tally."""
OTHERS = "(others)"


@dataclass
class Tally:
    """The refusals of one lock: the first is audited at once, the count once the lock ends."""

    action: str
    object_type: str
    object_id: str
    client: str
    until: datetime
    first_at: datetime
    last_at: datetime
    refused: int = 1


class LockoutRefusals:
    """The refusals of the locks under way in this process, by (action, account, address)."""

    def __init__(self, max_tracked: int = MAX_TRACKED) -> None:
        self._tallies: dict[tuple[str, str, str], Tally] = {}
        self._max = max_tracked
        self._lock = threading.Lock()

    def refused(
        self,
        action: str,
        *,
        object_type: str,
        object_id: str,
        client: str,
        until: datetime,
        now: datetime,
    ) -> tuple[bool, list[Tally]]:
        """Note one refusal; whether to audit it now (its lock's first), and the summaries due.

        The first refusal's own entry names the address it came from; the
        summary names the client as counted (an IPv6 client's /64).

        The summaries due are those of locks that have ended (this one's
        earlier lock included); they leave this object, to be written.
        """
        # One client is one key, as the limiter counts it: an IPv6 client sending
        # each try from a fresh address of its /64 gets no entry per address.
        client = client_key(client) if client else client
        with self._lock:
            due = self._take(lambda t: t.until <= now)
            key = (action, object_id, client)
            tally = self._tallies.get(key)
            if tally is None and len(self._tallies) >= self._max:
                key = (action, OTHERS, OTHERS)
                tally = self._tallies.get(key)
                object_id = client = OTHERS
            if tally is None:
                self._tallies[key] = Tally(action, object_type, object_id, client, until, now, now)
                return True, due
            tally.refused += 1
            tally.until = max(tally.until, until)
            tally.last_at = now
            return False, due

    def due(self, now: datetime) -> list[Tally]:
        """Take the summaries of the locks that have ended by ``now``."""
        with self._lock:
            return self._take(lambda t: t.until <= now)

    def drain(self) -> list[Tally]:
        """Take every summary, ended or not (the deployment closes)."""
        with self._lock:
            return self._take(lambda t: True)

    def _take(self, ended: Callable[[Tally], bool]) -> list[Tally]:
        # A lock that refused only once has its one entry already: no summary.
        gone = [key for key, tally in self._tallies.items() if ended(tally)]
        return [t for t in (self._tallies.pop(key) for key in gone) if t.refused > 1]


def audit_refusal(
    ctx: Context,
    audit: AuditLog,
    action: str,
    *,
    object_type: str,
    object_id: str,
    client: str,
    retry_after: int,
) -> None:
    """Audit a refusal during a lockout as this module's notes say (one write, or none)."""
    now = ctx.clock()
    first, due = ctx.refusals.refused(
        action,
        object_type=object_type,
        object_id=object_id,
        client=client,
        until=now + timedelta(seconds=retry_after),
        now=now,
    )
    if not (first or due):
        return
    with ctx.writing() as tx:
        if first:
            details: dict[str, object] = {"reason": "locked_out", "locked_for_s": retry_after}
            if client:
                details["client"] = client
            audit.append(
                tx,
                action,
                object_type=object_type,
                object_id=object_id,
                outcome="locked",
                details=details,
            )
        _append_summaries(audit, tx, due)


def write_summaries(ctx: Context, audit: AuditLog, tallies: list[Tally]) -> None:
    """Write the given summaries (those :meth:`LockoutRefusals.drain` took), in one transaction."""
    if tallies:
        with ctx.writing() as tx:
            _append_summaries(audit, tx, tallies)


def _append_summaries(audit: AuditLog, tx: Transaction, tallies: list[Tally]) -> None:
    for tally in tallies:
        details: dict[str, object] = {
            "reason": "locked_out_summary",
            "refused": tally.refused,
            "first_at": tally.first_at.isoformat(),
            "last_at": tally.last_at.isoformat(),
        }
        if tally.client:
            details["client"] = tally.client
        audit.append(
            tx,
            tally.action,
            object_type=tally.object_type,
            object_id=tally.object_id,
            outcome="locked",
            details=details,
        )
