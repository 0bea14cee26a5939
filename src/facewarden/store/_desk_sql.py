"""The desk's queries, written once for both stores over a two-item dialect.

Private to the stores: :class:`DeskReads` is mixed into each store and its
transactions, :class:`DeskWrites` into the transactions, each store saying
how a parameter is written (``?`` or ``%s``) and how a time goes in and
comes out (fixed-width UTC text on SQLite, ``timestamptz`` on PostgreSQL).
The contract is :mod:`facewarden.store.desk`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from facewarden.store._sqlite_read import ts_parse, ts_text
from facewarden.store.desk import AlertDecisionRow, HistoryNoteRow

__all__ = ["PgDeskReads", "PgDeskWrites", "SqliteDeskReads", "SqliteDeskWrites"]


class _Dialect:
    """What a store says about its SQL: the parameter mark and time conversions."""

    _mark: str = "?"

    @staticmethod
    def _time_in(when: datetime) -> Any:
        raise NotImplementedError

    @staticmethod
    def _time_out(value: Any) -> datetime:
        raise NotImplementedError

    def _sql(self, text: str) -> str:
        # Queries are written with "?"; PostgreSQL's driver wants "%s".
        return text if self._mark == "?" else text.replace("?", self._mark)

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
        raise NotImplementedError

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> Any:
        raise NotImplementedError


class DeskReads(_Dialect):
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
            rows = self._rows(
                self._sql(query),
                tuple(chunk),
            )
            for r in rows:
                found[r["sighting_id"]] = AlertDecisionRow(
                    r["sighting_id"],
                    r["decision"],
                    r["decided_by"],
                    self._time_out(r["decided_at"]),
                    None if r["note"] is None else bytes(r["note"]),
                )
        return found

    def history_note(self, request_id: str) -> HistoryNoteRow | None:
        r = self._one(
            self._sql(
                "SELECT request_id, reason, refused_by, refused_at "
                "FROM history_request_notes WHERE request_id = ?"
            ),
            (request_id,),
        )
        if r is None:
            return None
        return HistoryNoteRow(
            r["request_id"],
            None if r["reason"] is None else bytes(r["reason"]),
            r["refused_by"],
            None if r["refused_at"] is None else self._time_out(r["refused_at"]),
        )

    def history_request_ids(
        self, *, requested_by: str | None, undecided: bool, since: datetime, limit: int
    ) -> list[str]:
        where = ["h.created_at >= ?"]
        params: list[Any] = [self._time_in(since)]
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
        rows = self._rows(
            self._sql(query),
            (*params, limit),
        )
        return [str(r["request_id"]) for r in rows]

    def count_sightings_between(self, start: datetime, end: datetime) -> int:
        row = self._one(
            self._sql(
                "SELECT COUNT(*) AS n FROM sightings WHERE first_seen >= ? AND first_seen < ?"
            ),
            (self._time_in(start), self._time_in(end)),
        )
        return 0 if row is None else int(row["n"])


class DeskWrites(_Dialect):
    """The writes (see :class:`facewarden.store.desk.DeskWriter`)."""

    def _exec(self, where: str, sql: str, params: tuple[object, ...] = ()) -> int:
        raise NotImplementedError

    def decide_alert(self, row: AlertDecisionRow) -> bool:
        if (
            self._one(
                self._sql("SELECT 1 FROM sightings WHERE sighting_id = ?"), (row.sighting_id,)
            )
            is None
        ):
            return False
        return (
            self._exec(
                "decide alert",
                self._sql(
                    "INSERT INTO alert_decisions "
                    "(sighting_id, decision, decided_by, decided_at, note) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (sighting_id) DO NOTHING"
                ),
                (
                    row.sighting_id,
                    row.decision,
                    row.decided_by,
                    self._time_in(row.decided_at),
                    row.note,
                ),
            )
            > 0
        )

    def set_history_reason(self, request_id: str, reason: bytes) -> None:
        self._exec(
            "keep history reason",
            self._sql(
                "INSERT INTO history_request_notes (request_id, reason) VALUES (?, ?) "
                "ON CONFLICT (request_id) DO UPDATE SET reason = excluded.reason"
            ),
            (request_id, reason),
        )

    def refuse_history_request(self, request_id: str, refused_by: str, when: datetime) -> bool:
        pending = self._one(
            self._sql(
                "SELECT 1 FROM history_requests h "
                "LEFT JOIN history_request_notes n ON n.request_id = h.request_id "
                "WHERE h.request_id = ? AND h.approved_by IS NULL AND n.refused_by IS NULL"
            ),
            (request_id,),
        )
        if pending is None:
            return False
        self._exec(
            "refuse history request",
            self._sql(
                "INSERT INTO history_request_notes (request_id, refused_by, refused_at) "
                "VALUES (?, ?, ?) ON CONFLICT (request_id) DO UPDATE SET "
                "refused_by = excluded.refused_by, refused_at = excluded.refused_at"
            ),
            (request_id, refused_by, self._time_in(when)),
        )
        return True

    def update_watchlist(self, watchlist_id: str, *, purpose: str, lawful_basis: str) -> bool:
        return (
            self._exec(
                "update watchlist",
                self._sql(
                    "UPDATE watchlists SET purpose = ?, lawful_basis = ? WHERE watchlist_id = ?"
                ),
                (purpose, lawful_basis, watchlist_id),
            )
            > 0
        )

    def delete_watchlist(self, watchlist_id: str) -> bool:
        # Memberships go with it (ON DELETE CASCADE); so do its per-watchlist settings.
        self._exec(
            "delete watchlist settings",
            self._sql("DELETE FROM meta WHERE key IN (?, ?)"),
            (f"alert_severity:{watchlist_id}", f"sighting_retention_hours:{watchlist_id}"),
        )
        return (
            self._exec(
                "delete watchlist",
                self._sql("DELETE FROM watchlists WHERE watchlist_id = ?"),
                (watchlist_id,),
            )
            > 0
        )


def _aware_utc(when: datetime) -> datetime:
    if when.tzinfo is None:
        raise ValueError("store times must be timezone-aware")
    return when.astimezone(UTC)


class _Sqlite(_Dialect):
    _mark = "?"

    @staticmethod
    def _time_in(when: datetime) -> Any:
        return ts_text(when)

    @staticmethod
    def _time_out(value: Any) -> datetime:
        return ts_parse(str(value))


class _Postgres(_Dialect):
    _mark = "%s"

    @staticmethod
    def _time_in(when: datetime) -> Any:
        return _aware_utc(when)

    @staticmethod
    def _time_out(value: Any) -> datetime:
        return _aware_utc(value)


class SqliteDeskReads(_Sqlite, DeskReads):
    """The desk's reads on SQLite."""


class SqliteDeskWrites(_Sqlite, DeskWrites):
    """The desk's writes on SQLite."""


class PgDeskReads(_Postgres, DeskReads):
    """The desk's reads on PostgreSQL."""


class PgDeskWrites(_Postgres, DeskWrites):
    """The desk's writes on PostgreSQL."""
