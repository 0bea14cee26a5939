"""The desk's queries, written once for both stores.

Private to the stores: parts of :class:`~facewarden.store._read.Reads` and
:class:`~facewarden.store._write.Writes`. The contract is :mod:`facewarden.store.desk`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from facewarden.store._queries import Queries
from facewarden.store.cameras import SightingRow
from facewarden.store.desk import AlertDecisionRow, AlertNoteRow, HistoryNoteRow

__all__ = ["DeskReads", "DeskWrites"]


class DeskReads(Queries):
    """The reads (see :class:`facewarden.store.desk.DeskReader`)."""

    def alert_decisions(self, sighting_ids: Sequence[str]) -> dict[str, AlertDecisionRow]:
        rows = self._rows_in(
            "SELECT * FROM alert_decisions WHERE sighting_id IN ({marks})",
            list(dict.fromkeys(sighting_ids)),
        )
        return {r["sighting_id"]: self._load(AlertDecisionRow, r) for r in rows}

    def alert_sightings(
        self, camera_id: str, after: datetime, until: datetime
    ) -> list[SightingRow]:
        # Both ends bound the index range (camera_id, first_seen): the live window
        # only, never every sighting the camera kept over the retention period.
        return self._all(
            SightingRow,
            "SELECT * FROM sightings WHERE camera_id = ? AND first_seen > ? AND first_seen <= ? "
            "ORDER BY first_seen, sighting_id",
            (camera_id, self._dialect.time_in(after), self._dialect.time_in(until)),
        )

    def alerts_decided_since(
        self, camera_id: str, after: datetime, until: datetime, decided_since: datetime
    ) -> list[tuple[str, AlertDecisionRow]]:
        rows = self._rows(
            "SELECT d.sighting_id, d.decision, d.decided_by, d.decided_at, s.watchlist_id "
            "FROM sightings s JOIN alert_decisions d ON d.sighting_id = s.sighting_id "
            "WHERE s.camera_id = ? AND s.first_seen > ? AND s.first_seen <= ? "
            "AND d.decided_at >= ?",
            (
                camera_id,
                self._dialect.time_in(after),
                self._dialect.time_in(until),
                self._dialect.time_in(decided_since),
            ),
        )
        return [(r["watchlist_id"], self._load(AlertDecisionRow, r, note=None)) for r in rows]

    def alert_notes(self, sighting_id: str) -> list[AlertNoteRow]:
        return self._all(
            AlertNoteRow,
            "SELECT * FROM alert_notes WHERE sighting_id = ? ORDER BY written_at, note_id",
            (sighting_id,),
        )

    def sightings_recorded(self, after_seq: int, upto_seq: int) -> list[tuple[int, str]]:
        # The audit chain's seq is given under the writers' lock, so it is the order in
        # which sightings were committed; the range bounds the rows visited (unique index).
        rows = self._rows(
            "SELECT seq, object_id FROM audit_log WHERE seq > ? AND seq <= ? "
            "AND action = 'sighting.record' ORDER BY seq",
            (after_seq, upto_seq),
        )
        return [(int(r["seq"]), str(r["object_id"])) for r in rows]

    def last_audit_seq(self) -> int:
        row = self._one("SELECT MAX(seq) AS n FROM audit_log")
        return 0 if row is None or row["n"] is None else int(row["n"])

    def history_note(self, request_id: str) -> HistoryNoteRow | None:
        sql = "SELECT * FROM history_request_notes WHERE request_id = ?"
        return self._get(HistoryNoteRow, sql, (request_id,))

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
        return self._texts(query, (*params, limit))

    def count_sightings_between(self, start: datetime, end: datetime) -> int:
        return self._count(
            "SELECT COUNT(*) AS n FROM sightings WHERE first_seen >= ? AND first_seen < ?",
            (self._dialect.time_in(start), self._dialect.time_in(end)),
        )


class DeskWrites(Queries):
    """The writes (see :class:`facewarden.store.desk.DeskWriter`)."""

    def decide_alert(self, row: AlertDecisionRow) -> bool:
        if not self._exists("SELECT 1 FROM sightings WHERE sighting_id = ?", (row.sighting_id,)):
            return False
        return (
            self._insert("decide alert", "alert_decisions", self._fields(row), or_ignore=True) > 0
        )

    def add_alert_note(self, row: AlertNoteRow) -> bool:
        if not self._exists(
            "SELECT 1 FROM alert_decisions WHERE sighting_id = ?", (row.sighting_id,)
        ):
            return False
        self._insert("add alert note", "alert_notes", self._fields(row))
        return True

    def set_history_reason(self, request_id: str, reason: bytes) -> None:
        note = {"request_id": request_id, "reason": reason}
        self._insert("keep history reason", "history_request_notes", note, upsert=["request_id"])

    def refuse_history_request(self, request_id: str, refused_by: str, when: datetime) -> bool:
        if not self._exists(
            "SELECT 1 FROM history_requests h "
            "LEFT JOIN history_request_notes n ON n.request_id = h.request_id "
            "WHERE h.request_id = ? AND h.approved_by IS NULL AND n.refused_by IS NULL",
            (request_id,),
        ):
            return False
        refused_at = self._dialect.time_in(when)
        note = {"request_id": request_id, "refused_by": refused_by, "refused_at": refused_at}
        self._insert("refuse history request", "history_request_notes", note, upsert=["request_id"])
        return True

    def update_watchlist(self, watchlist_id: str, *, purpose: str, lawful_basis: str) -> bool:
        return self._changed(
            "update watchlist",
            "UPDATE watchlists SET purpose = ?, lawful_basis = ? WHERE watchlist_id = ?",
            (purpose, lawful_basis, watchlist_id),
        )

    def delete_watchlist(self, watchlist_id: str) -> bool:
        # Memberships go with it (ON DELETE CASCADE); so do its per-watchlist settings.
        self._exec(
            "delete watchlist settings",
            "DELETE FROM meta WHERE key IN (?, ?)",
            (f"alert_severity:{watchlist_id}", f"sighting_retention_hours:{watchlist_id}"),
        )
        return self._changed(
            "delete watchlist", "DELETE FROM watchlists WHERE watchlist_id = ?", (watchlist_id,)
        )
