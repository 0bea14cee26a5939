"""SQLite reads and writes of users, API keys, sessions and subject aliases.

Private to :mod:`facewarden.store.sqlite`: :class:`AccessReads` is mixed
into the store and its transactions, :class:`AccessWrites` into the
transactions. The
contract is :mod:`facewarden.store.access`.
"""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from facewarden.errors import ConflictError, NotFoundError
from facewarden.store._dialect import ts_parse, ts_text
from facewarden.store.access import AliasRow, ApiKeyRow, SessionRow, UserRow

__all__ = ["AccessReads", "AccessWrites"]


def _maybe_ts(text: str | None) -> datetime | None:
    return None if text is None else ts_parse(text)


def _maybe_text(when: datetime | None) -> str | None:
    return None if when is None else ts_text(when)


def _user(row: sqlite3.Row) -> UserRow:
    return UserRow(
        row["username"],
        row["password_hash"],
        row["role"],
        ts_parse(row["created_at"]),
        bool(row["disabled"]),
    )


def _api_key(row: sqlite3.Row) -> ApiKeyRow:
    return ApiKeyRow(
        row["key_id"],
        row["name"],
        row["role"],
        row["secret_hash"],
        ts_parse(row["created_at"]),
        _maybe_ts(row["expires_at"]),
        _maybe_ts(row["revoked_at"]),
        row["created_by"],
    )


class AccessReads:
    """The reads; the class it is mixed into provides ``_rows`` and ``_one``."""

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        raise NotImplementedError

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        raise NotImplementedError

    def get_user(self, username: str) -> UserRow | None:
        row = self._one("SELECT * FROM users WHERE username = ?", (username,))
        return None if row is None else _user(row)

    def list_users(self) -> list[UserRow]:
        return [_user(r) for r in self._rows("SELECT * FROM users ORDER BY username")]

    def get_api_key(self, key_id: str) -> ApiKeyRow | None:
        row = self._one("SELECT * FROM api_keys WHERE key_id = ?", (key_id,))
        return None if row is None else _api_key(row)

    def list_api_keys(self) -> list[ApiKeyRow]:
        rows = self._rows("SELECT * FROM api_keys ORDER BY created_at, key_id")
        return [_api_key(r) for r in rows]

    def get_session(self, token_hash: str) -> SessionRow | None:
        row = self._one("SELECT * FROM sessions WHERE token_hash = ?", (token_hash,))
        if row is None:
            return None
        return SessionRow(
            row["token_hash"],
            row["username"],
            ts_parse(row["created_at"]),
            ts_parse(row["expires_at"]),
        )

    def subject_by_alias(self, kind: str, token: str) -> str | None:
        row = self._one(
            "SELECT subject_id FROM subject_aliases WHERE kind = ? AND token = ?", (kind, token)
        )
        return None if row is None else str(row["subject_id"])

    def alias_of(self, kind: str, subject_id: str) -> str | None:
        row = self._one(
            "SELECT token FROM subject_aliases WHERE kind = ? AND subject_id = ?",
            (kind, subject_id),
        )
        return None if row is None else str(row["token"])

    def list_aliases(
        self, kind: str, *, after: str | None = None, limit: int = 100
    ) -> list[AliasRow]:
        rows = self._rows(
            "SELECT * FROM subject_aliases WHERE kind = ? AND subject_id > ? "
            "ORDER BY subject_id LIMIT ?",
            (kind, after or "", limit),
        )
        return [
            AliasRow(r["kind"], r["token"], r["subject_id"], ts_parse(r["created_at"]))
            for r in rows
        ]

    def alias_faces(
        self, kind: str, *, subject_id: str | None = None, offset: int = 0, limit: int = 100
    ) -> tuple[list[tuple[str, str]], int]:
        where = "a.kind = ?" + ("" if subject_id is None else " AND a.subject_id = ?")
        params: tuple[object, ...] = (kind,) if subject_id is None else (kind, subject_id)
        joined = f"FROM subject_aliases a JOIN faces f ON f.subject_id = a.subject_id WHERE {where}"
        rows = self._rows(
            f"SELECT f.face_id, f.subject_id {joined} "
            "ORDER BY a.subject_id, f.created_at, f.face_id LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        total = self._one(f"SELECT COUNT(*) AS n {joined}", params)
        return (
            [(str(r["face_id"]), str(r["subject_id"])) for r in rows],
            0 if total is None else int(total["n"]),
        )

    def count_aliases(self, kind: str) -> int:
        row = self._one("SELECT COUNT(*) AS n FROM subject_aliases WHERE kind = ?", (kind,))
        return 0 if row is None else int(row["n"])


class AccessWrites:
    """The writes; the transaction it is mixed into provides ``_exec`` and the reads."""

    def _exec(self, where: str, sql: str, params: tuple[object, ...] = ()) -> int:
        raise NotImplementedError

    def _one(self, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Row | None:
        raise NotImplementedError

    def _exists(self, sql: str, params: tuple[Any, ...]) -> bool:
        return self._one(sql, params) is not None

    def insert_user(self, row: UserRow) -> None:
        if self._exists("SELECT 1 FROM users WHERE username = ?", (row.username,)):
            raise ConflictError(f"the username {row.username!r} is taken")
        self._exec(
            "insert user",
            "INSERT INTO users VALUES (?, ?, ?, ?, ?)",
            (row.username, row.password_hash, row.role, ts_text(row.created_at), row.disabled),
        )

    def update_user(
        self,
        username: str,
        *,
        password_hash: str | None = None,
        role: str | None = None,
        disabled: bool | None = None,
    ) -> None:
        if not self._exists("SELECT 1 FROM users WHERE username = ?", (username,)):
            raise NotFoundError(f"no user {username!r}")
        for column, value in (
            ("password_hash", password_hash),
            ("role", role),
            ("disabled", disabled),
        ):
            if value is not None:
                self._exec(
                    "update user",
                    f"UPDATE users SET {column} = ? WHERE username = ?",  # noqa: S608 - fixed names
                    (value, username),
                )

    def insert_api_key(self, row: ApiKeyRow) -> None:
        if self._exists("SELECT 1 FROM api_keys WHERE key_id = ?", (row.key_id,)):
            raise ConflictError(f"the API key id {row.key_id} is taken")
        self._exec(
            "insert API key",
            "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                row.key_id,
                row.name,
                row.role,
                row.secret_hash,
                ts_text(row.created_at),
                _maybe_text(row.expires_at),
                _maybe_text(row.revoked_at),
                row.created_by,
            ),
        )

    def revoke_api_key(self, key_id: str, revoked_at: datetime) -> bool:
        changed = self._exec(
            "revoke API key",
            "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
            (ts_text(revoked_at), key_id),
        )
        return changed > 0

    def insert_session(self, row: SessionRow) -> None:
        if not self._exists("SELECT 1 FROM users WHERE username = ?", (row.username,)):
            raise NotFoundError(f"no user {row.username!r}")
        self._exec(
            "insert session",
            "INSERT INTO sessions VALUES (?, ?, ?, ?)",
            (row.token_hash, row.username, ts_text(row.created_at), ts_text(row.expires_at)),
        )

    def delete_session(self, token_hash: str) -> bool:
        return (
            self._exec("end session", "DELETE FROM sessions WHERE token_hash = ?", (token_hash,))
            > 0
        )

    def delete_sessions_of(self, username: str) -> int:
        return self._exec("end sessions", "DELETE FROM sessions WHERE username = ?", (username,))

    def delete_sessions_before(self, cutoff: datetime) -> int:
        return self._exec(
            "forget sessions", "DELETE FROM sessions WHERE expires_at < ?", (ts_text(cutoff),)
        )

    def insert_alias(self, row: AliasRow) -> None:
        if not self._exists("SELECT 1 FROM subjects WHERE subject_id = ?", (row.subject_id,)):
            raise NotFoundError(f"no subject {row.subject_id}")
        self._exec(
            "insert alias",
            "INSERT INTO subject_aliases VALUES (?, ?, ?, ?)",
            (row.kind, row.token, row.subject_id, ts_text(row.created_at)),
        )

    def delete_alias(self, kind: str, subject_id: str) -> bool:
        removed = self._exec(
            "delete alias",
            "DELETE FROM subject_aliases WHERE kind = ? AND subject_id = ?",
            (kind, subject_id),
        )
        return removed > 0
