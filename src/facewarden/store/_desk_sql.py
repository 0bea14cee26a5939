"""The desk's queries, written once for both stores.

Private to the stores: :class:`DeskReads` is mixed into each store and its
transactions, :class:`DeskWrites` into the transactions; the store's
dialect (:mod:`facewarden.store._dialect`) says how they are spoken. The
contract is :mod:`facewarden.store.desk`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from facewarden.store._dialect import Queries
from facewarden.store.desk import AlertDecisionRow, HistoryNoteRow

__all__ = ["DeskReads", "DeskWrites"]


class DeskReads(Queries):
    """The reads (see :class:`facewarden.store.desk.DeskReader`)."""

    def alert_decisions(self, sighting_ids: Sequence[str]) -> dict[str, AlertDecisionRow]:
        ids = list(dict.fromkeys(sighting_ids))
        found: dict[str, AlertDecisionRow] = {}
        for start in range(0, len(ids), 100):  # bounded IN lists
            chunk = ids[start : start + 100]
            marks = ", ".join("?" for _ in chunk)
            query = (
                "SELECT sighting_id, decision, decided_by, decided_at, note "  # noqa: S608 - marks only
                f"FROM alert_decisions WHERE sighting_id IN ({marks})"
            )
            for r in self._rows(query, tuple(chunk)):
                found[r["sighting_id"]] = AlertDecisionRow(
                    r["sighting_id"],
                    r["decision"],
                    r["decided_by"],
                    self._dialect.time_out(r["decided_at"]),
                    None if r["note"] is None else bytes(r["note"]),
                )
        return found

    def history_note(self, request_id: str) -> HistoryNoteRow | None:
        r = self._one(
            "SELECT request_id, reason, refused_by, refused_at "
            "FROM history_request_notes WHERE request_id = ?",
            (request_id,),
        )
        if r is None:
            return None
        return HistoryNoteRow(
            r["request_id"],
            None if r["reason"] is None else bytes(r["reason"]),
            r["refused_by"],
            self._dialect.maybe_time_out(r["refused_at"]),
        )

    def history_request_ids(
        self, *, requested_by: str | None, undecided: bool, since: datetime, limit: int
    ) -> list[str]:
        where = ["h.created_at >= ?"]
        params: list[Any] = [self._dialect.time_in(since)]
        if requested_by is not None:
            where.append("h.requested_by = ?")
            params.append(requested_by)
        if undecided:
            where.append("h.approved_by IS NULL AND n.refused_by IS NULL")
        query = (
            "SELECT h.request_id FROM history_requests h "  # noqa: S608 - fixed clauses only
            "LEFT JOIN history_request_notes n ON n.request_id = h.request_id "
            f"WHERE {' AND '.join(where)} "
            "ORDER BY h.created_at DESC, h.request_id DESC LIMIT ?"
        )
        rows = self._rows(query, (*params, limit))
        return [str(r["request_id"]) for r in rows]

    def count_sightings_between(self, start: datetime, end: datetime) -> int:
        row = self._one(
            "SELECT COUNT(*) AS n FROM sightings WHERE first_seen >= ? AND first_seen < ?",
            (self._dialect.time_in(start), self._dialect.time_in(end)),
        )
        return 0 if row is None else int(row["n"])


class DeskWrites(Queries):
    """The writes (see :class:`facewarden.store.desk.DeskWriter`)."""

    def decide_alert(self, row: AlertDecisionRow) -> bool:
        if self._one("SELECT 1 FROM sightings WHERE sighting_id = ?", (row.sighting_id,)) is None:
            return False
        return (
            self._exec(
                "decide alert",
                "INSERT INTO alert_decisions "
                "(sighting_id, decision, decided_by, decided_at, note) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (sighting_id) DO NOTHING",
                (
                    row.sighting_id,
                    row.decision,
                    row.decided_by,
                    self._dialect.time_in(row.decided_at),
                    row.note,
                ),
            )
            > 0
        )

    def set_history_reason(self, request_id: str, reason: bytes) -> None:
        self._exec(
            "keep history reason",
            "INSERT INTO history_request_notes (request_id, reason) VALUES (?, ?) "
            "ON CONFLICT (request_id) DO UPDATE SET reason = excluded.reason",
            (request_id, reason),
        )

    def refuse_history_request(self, request_id: str, refused_by: str, when: datetime) -> bool:
        pending = self._one(
            "SELECT 1 FROM history_requests h "
            "LEFT JOIN history_request_notes n ON n.request_id = h.request_id "
            "WHERE h.request_id = ? AND h.approved_by IS NULL AND n.refused_by IS NULL",
            (request_id,),
        )
        if pending is None:
            return False
        self._exec(
            "refuse history request",
            "INSERT INTO history_request_notes (request_id, refused_by, refused_at) "
            "VALUES (?, ?, ?) ON CONFLICT (request_id) DO UPDATE SET "
            "refused_by = excluded.refused_by, refused_at = excluded.refused_at",
            (request_id, refused_by, self._dialect.time_in(when)),
        )
        return True

    def update_watchlist(self, watchlist_id: str, *, purpose: str, lawful_basis: str) -> bool:
        return (
            self._exec(
                "update watchlist",
                "UPDATE watchlists SET purpose = ?, lawful_basis = ? WHERE watchlist_id = ?",
                (purpose, lawful_basis, watchlist_id),
            )
            > 0
        )

    def delete_watchlist(self, watchlist_id: str) -> bool:
        # Memberships go with it (ON DELETE CASCADE); so do its per-watchlist settings.
        self._exec(
            "delete watchlist settings",
            "DELETE FROM meta WHERE key IN (?, ?)",
            (f"alert_severity:{watchlist_id}", f"sighting_retention_hours:{watchlist_id}"),
        )
        return (
            self._exec(
                "delete watchlist",
                "DELETE FROM watchlists WHERE watchlist_id = ?",
                (watchlist_id,),
            )
            > 0
        )
