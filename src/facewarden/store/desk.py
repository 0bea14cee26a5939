"""The store's part for the security desk: alert decisions, history-request notes, watchlist edits.

Part of the :mod:`facewarden.store.base` contract (its ``Reader`` and
``Transaction`` include these protocols). An alert is a sighting shown at
the desk; its decision (acknowledged or dismissed, by whom, when, with an
optional note sealed by the service) hangs off the sighting and goes with it
(expiry, erasure). A location-history request may carry a reason (sealed)
and a refusal; both hang off the request, which hangs off its subject.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from facewarden.store.cameras import SightingRow

__all__ = [
    "ALERT_DECISIONS",
    "AlertDecisionRow",
    "AlertNoteRow",
    "DeskReader",
    "DeskWriter",
    "HistoryNoteRow",
]

ALERT_DECISIONS = ("acknowledged", "dismissed", "escalated")
"""What an operator decides about an alert: handled, a false match, or handed on."""


@dataclass(frozen=True)
class AlertDecisionRow:
    """An operator's decision about one alert (a sighting).

    Attributes:
        sighting_id: the alert's sighting.
        decision: ``acknowledged`` or ``dismissed``.
        decided_by: the actor who decided.
        note: ciphertext of the note typed with it (subject's data key), or None.
    """

    sighting_id: str
    decision: str
    decided_by: str
    decided_at: datetime
    note: bytes | None = field(default=None, repr=False)


@dataclass(frozen=True)
class AlertNoteRow:
    """A note added to an alert after its decision (append-only).

    Attributes:
        note_id: random opaque id.
        sighting_id: the decided alert's sighting.
        written_by: the actor who wrote it.
        written_at: when.
        note: ciphertext of the note (subject's data key).
    """

    note_id: str
    sighting_id: str
    written_by: str
    written_at: datetime
    note: bytes = field(repr=False)


@dataclass(frozen=True)
class HistoryNoteRow:
    """What the desk adds to a location-history request: its reason and its refusal.

    Attributes:
        reason: ciphertext of the reason typed with it (subject's data key), or None.
        refused_by: the actor who refused it, or None.
    """

    request_id: str
    reason: bytes | None = field(default=None, repr=False)
    refused_by: str | None = None
    refused_at: datetime | None = None


class DeskReader(Protocol):
    """Reads of alert decisions, history-request notes and lists, and counts."""

    def alert_decisions(self, sighting_ids: Sequence[str]) -> dict[str, AlertDecisionRow]:
        """The decisions taken about these sightings, by sighting id."""
        ...

    def alert_sightings(
        self, camera_id: str, after: datetime, until: datetime
    ) -> list[SightingRow]:
        """Sightings at ``camera_id`` first seen in ``(after, until]``, oldest first (indexed)."""
        ...

    def alerts_decided_since(
        self, camera_id: str, after: datetime, until: datetime, decided_since: datetime
    ) -> list[tuple[str, AlertDecisionRow]]:
        """Decisions taken at or after ``decided_since`` on sightings at ``camera_id`` first
        seen in ``(after, until]``, each with its sighting's watchlist id (no note)."""
        ...

    def sightings_recorded(self, after_seq: int, upto_seq: int) -> list[tuple[int, str]]:
        """``(seq, sighting_id)`` of the sightings recorded by the audit entries numbered
        in ``(after_seq, upto_seq]`` (``sighting.record``), in the order they were committed."""
        ...

    def last_audit_seq(self) -> int:
        """The number of the audit log's latest entry (0 when it is empty)."""
        ...

    def alert_notes(self, sighting_id: str) -> list[AlertNoteRow]:
        """The notes added to an alert after its decision, oldest first."""
        ...

    def history_note(self, request_id: str) -> HistoryNoteRow | None:
        """The request's reason and refusal, or None."""
        ...

    def history_request_ids(
        self, *, requested_by: str | None, undecided: bool, since: datetime, limit: int
    ) -> list[str]:
        """Ids of requests made since ``since``, newest first, at most ``limit``.

        Args:
            requested_by: only this actor's requests (None: everyone's).
            undecided: only those neither approved nor refused.
            since: the oldest creation time.
            limit: how many at most.
        """
        ...

    def count_sightings_between(self, start: datetime, end: datetime) -> int:
        """How many sightings were first seen in ``[start, end)`` (a number, no one in it)."""
        ...


class DeskWriter(Protocol):
    """Writes of alert decisions and history-request notes."""

    def decide_alert(self, row: AlertDecisionRow) -> bool:
        """Record a decision; False when the sighting is gone or already decided."""
        ...

    def add_alert_note(self, row: AlertNoteRow) -> bool:
        """Add a note to a decided alert; False when it has no decision (or is gone)."""
        ...

    def set_history_reason(self, request_id: str, reason: bytes) -> None:
        """Keep the (sealed) reason of a request."""
        ...

    def refuse_history_request(self, request_id: str, refused_by: str, when: datetime) -> bool:
        """Refuse a request; False when it is missing, approved or already refused."""
        ...

    def update_watchlist(self, watchlist_id: str, *, purpose: str, lawful_basis: str) -> bool:
        """Change a watchlist's declared purpose and lawful basis; False if it is gone."""
        ...

    def delete_watchlist(self, watchlist_id: str) -> bool:
        """Delete a watchlist with its memberships; False if it did not exist."""
        ...
