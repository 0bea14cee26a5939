"""The queries of users, API keys, sessions and subject aliases, written once for both stores.

Private to the stores: :class:`AccessReads` is mixed into each store and its
transactions, :class:`AccessWrites` into the transactions; the store's
dialect (:mod:`facewarden.store._dialect`) says how they are spoken. The
contract is :mod:`facewarden.store.access`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from facewarden.errors import ConflictError, NotFoundError
from facewarden.store._dialect import Queries, Row
from facewarden.store.access import AliasRow, ApiKeyRow, SessionRow, UserRow

__all__ = ["AccessReads", "AccessWrites"]


class AccessReads(Queries):
    """The reads (see :class:`facewarden.store.access.AccessReader`)."""

    def get_user(self, username: str) -> UserRow | None:
        row = self._one("SELECT * FROM users WHERE username = ?", (username,))
        return None if row is None else self._user(row)

    def list_users(self) -> list[UserRow]:
        return [self._user(r) for r in self._rows("SELECT * FROM users ORDER BY username")]

    def get_api_key(self, key_id: str) -> ApiKeyRow | None:
        row = self._one("SELECT * FROM api_keys WHERE key_id = ?", (key_id,))
        return None if row is None else self._api_key(row)

    def list_api_keys(self) -> list[ApiKeyRow]:
        rows = self._rows("SELECT * FROM api_keys ORDER BY created_at, key_id")
        return [self._api_key(r) for r in rows]

    def get_session(self, token_hash: str) -> SessionRow | None:
        row = self._one("SELECT * FROM sessions WHERE token_hash = ?", (token_hash,))
        if row is None:
            return None
        return SessionRow(
            row["token_hash"],
            row["username"],
            self._dialect.time_out(row["created_at"]),
            self._dialect.time_out(row["expires_at"]),
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
            AliasRow(
                r["kind"], r["token"], r["subject_id"], self._dialect.time_out(r["created_at"])
            )
            for r in rows
        ]

    def alias_faces(
        self, kind: str, *, subject_id: str | None = None, offset: int = 0, limit: int = 100
    ) -> tuple[list[tuple[str, str]], int]:
        where = "a.kind = ?" + ("" if subject_id is None else " AND a.subject_id = ?")
        params: Sequence[Any] = (kind,) if subject_id is None else (kind, subject_id)
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

    def _user(self, row: Row) -> UserRow:
        return UserRow(
            row["username"],
            row["password_hash"],
            row["role"],
            self._dialect.time_out(row["created_at"]),
            bool(row["disabled"]),
        )

    def _api_key(self, row: Row) -> ApiKeyRow:
        return ApiKeyRow(
            row["key_id"],
            row["name"],
            row["role"],
            row["secret_hash"],
            self._dialect.time_out(row["created_at"]),
            self._dialect.maybe_time_out(row["expires_at"]),
            self._dialect.maybe_time_out(row["revoked_at"]),
            row["created_by"],
        )


class AccessWrites(Queries):
    """The writes (see :class:`facewarden.store.access.AccessWriter`)."""

    def _exists(self, sql: str, params: Sequence[Any]) -> bool:
        return self._one(sql, params) is not None

    def insert_user(self, row: UserRow) -> None:
        if self._exists("SELECT 1 FROM users WHERE username = ?", (row.username,)):
            raise ConflictError(f"the username {row.username!r} is taken")
        self._exec(
            "insert user",
            "INSERT INTO users VALUES (?, ?, ?, ?, ?)",
            (
                row.username,
                row.password_hash,
                row.role,
                self._dialect.time_in(row.created_at),
                row.disabled,
            ),
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
                self._dialect.time_in(row.created_at),
                self._dialect.maybe_time_in(row.expires_at),
                self._dialect.maybe_time_in(row.revoked_at),
                row.created_by,
            ),
        )

    def revoke_api_key(self, key_id: str, revoked_at: datetime) -> bool:
        changed = self._exec(
            "revoke API key",
            "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
            (self._dialect.time_in(revoked_at), key_id),
        )
        return changed > 0

    def insert_session(self, row: SessionRow) -> None:
        if not self._exists("SELECT 1 FROM users WHERE username = ?", (row.username,)):
            raise NotFoundError(f"no user {row.username!r}")
        self._exec(
            "insert session",
            "INSERT INTO sessions VALUES (?, ?, ?, ?)",
            (
                row.token_hash,
                row.username,
                self._dialect.time_in(row.created_at),
                self._dialect.time_in(row.expires_at),
            ),
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
            "forget sessions",
            "DELETE FROM sessions WHERE expires_at < ?",
            (self._dialect.time_in(cutoff),),
        )

    def insert_alias(self, row: AliasRow) -> None:
        if not self._exists("SELECT 1 FROM subjects WHERE subject_id = ?", (row.subject_id,)):
            raise NotFoundError(f"no subject {row.subject_id}")
        self._exec(
            "insert alias",
            "INSERT INTO subject_aliases VALUES (?, ?, ?, ?)",
            (row.kind, row.token, row.subject_id, self._dialect.time_in(row.created_at)),
        )

    def delete_alias(self, kind: str, subject_id: str) -> bool:
        removed = self._exec(
            "delete alias",
            "DELETE FROM subject_aliases WHERE kind = ? AND subject_id = ?",
            (kind, subject_id),
        )
        return removed > 0
