"""The queries of users, API keys, sessions and subject aliases, written once for both stores.

Private to the stores: parts of :class:`~facewarden.store._read.Reads` and
:class:`~facewarden.store._write.Writes`. The contract is :mod:`facewarden.store.access`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from facewarden.errors import ConflictError, NotFoundError
from facewarden.store._queries import Queries
from facewarden.store.access import AliasRow, ApiKeyRow, LockoutRow, SessionRow, UserRow

__all__ = ["AccessReads", "AccessWrites"]


class AccessReads(Queries):
    """The reads (see :class:`facewarden.store.access.AccessReader`)."""

    def get_user(self, username: str) -> UserRow | None:
        return self._get(UserRow, "SELECT * FROM users WHERE username = ?", (username,))

    def list_users(self) -> list[UserRow]:
        return self._all(UserRow, "SELECT * FROM users ORDER BY username")

    def get_api_key(self, key_id: str) -> ApiKeyRow | None:
        return self._get(ApiKeyRow, "SELECT * FROM api_keys WHERE key_id = ?", (key_id,))

    def list_api_keys(self) -> list[ApiKeyRow]:
        return self._all(ApiKeyRow, "SELECT * FROM api_keys ORDER BY created_at, key_id")

    def get_session(self, token_hash: str) -> SessionRow | None:
        return self._get(SessionRow, "SELECT * FROM sessions WHERE token_hash = ?", (token_hash,))

    def subject_by_alias(self, kind: str, token: str) -> str | None:
        return self._text(
            "SELECT subject_id FROM subject_aliases WHERE kind = ? AND token = ?", (kind, token)
        )

    def alias_of(self, kind: str, subject_id: str) -> str | None:
        return self._text(
            "SELECT token FROM subject_aliases WHERE kind = ? AND subject_id = ?",
            (kind, subject_id),
        )

    def list_aliases(
        self, kind: str, *, after: str | None = None, limit: int = 100
    ) -> list[AliasRow]:
        return self._all(
            AliasRow,
            "SELECT * FROM subject_aliases WHERE kind = ? AND subject_id > ? "
            "ORDER BY subject_id LIMIT ?",
            (kind, after or "", limit),
        )

    def alias_faces(
        self, kind: str, *, subject_id: str | None = None, offset: int = 0, limit: int = 100
    ) -> tuple[list[tuple[str, str]], int]:
        where = "a.kind = ?" + ("" if subject_id is None else " AND a.subject_id = ?")
        params: Sequence[Any] = (kind,) if subject_id is None else (kind, subject_id)
        joined = f"FROM subject_aliases a JOIN faces f ON f.subject_id = a.subject_id WHERE {where}"
        rows = self._rows(
            f"SELECT f.face_id, f.subject_id {joined} "
            "ORDER BY f.created_at, f.face_id LIMIT ? OFFSET ?",
            (*params, limit, offset),
        )
        total = self._count(f"SELECT COUNT(*) AS n {joined}", params)
        return [(str(r["face_id"]), str(r["subject_id"])) for r in rows], total

    def count_aliases(self, kind: str) -> int:
        return self._count("SELECT COUNT(*) AS n FROM subject_aliases WHERE kind = ?", (kind,))

    def lockout(self, key_hash: str) -> LockoutRow | None:
        return self._get(LockoutRow, "SELECT * FROM lockouts WHERE key_hash = ?", (key_hash,))


class AccessWrites(Queries):
    """The writes (see :class:`facewarden.store.access.AccessWriter`)."""

    def insert_user(self, row: UserRow) -> None:
        if self._exists("SELECT 1 FROM users WHERE username = ?", (row.username,)):
            raise ConflictError(f"the username {row.username!r} is taken")
        self._insert("insert user", "users", self._fields(row))

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
        self._insert("insert API key", "api_keys", self._fields(row))

    def revoke_api_key(self, key_id: str, revoked_at: datetime) -> bool:
        return self._changed(
            "revoke API key",
            "UPDATE api_keys SET revoked_at = ? WHERE key_id = ? AND revoked_at IS NULL",
            (self._dialect.time_in(revoked_at), key_id),
        )

    def insert_session(self, row: SessionRow) -> None:
        if not self._exists("SELECT 1 FROM users WHERE username = ?", (row.username,)):
            raise NotFoundError(f"no user {row.username!r}")
        self._insert("insert session", "sessions", self._fields(row))

    def delete_session(self, token_hash: str) -> bool:
        return self._changed(
            "end session", "DELETE FROM sessions WHERE token_hash = ?", (token_hash,)
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
        self._insert("insert alias", "subject_aliases", self._fields(row))

    def delete_alias(self, kind: str, subject_id: str) -> bool:
        return self._changed(
            "delete alias",
            "DELETE FROM subject_aliases WHERE kind = ? AND subject_id = ?",
            (kind, subject_id),
        )

    def put_lockout(self, key_hash: str, row: LockoutRow | None) -> None:
        if row is None:
            self._exec("forget lockout", "DELETE FROM lockouts WHERE key_hash = ?", (key_hash,))
        else:
            lockout = {"key_hash": key_hash, **self._fields(row)}
            self._insert("count failure", "lockouts", lockout, upsert=["key_hash"])

    def forget_lockouts(self, now: datetime, *, keep: int | None) -> int:
        gone = self._exec(
            "forget lockouts",
            "DELETE FROM lockouts WHERE forget_at <= ?",
            (self._dialect.time_in(now),),
        )
        return (
            gone
            if keep is None
            else gone
            + self._exec(
                "cap lockouts",
                "DELETE FROM lockouts WHERE forget_at <= "
                "(SELECT forget_at FROM lockouts ORDER BY forget_at DESC LIMIT 1 OFFSET ?)",
                (keep,),
            )
        )
