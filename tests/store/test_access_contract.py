"""The Store contract for users, API keys, sessions and subject aliases (store/access.py).

Part of the contract every backend passes unchanged: round trips, ordering,
uniqueness, revocation once, sessions ending with their user's, expired
sessions forgotten, aliases unique per kind and gone with their subject,
lockout rows replaced, forgotten when due and capped.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import pytest

from facewarden.errors import ConflictError, NotFoundError
from facewarden.store import (
    AliasRow,
    ApiKeyRow,
    FaceRow,
    SessionRow,
    Store,
    SubjectRow,
    UserRow,
)
from facewarden.store.access import LockoutRow

T0 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def _user(name: str = "alice", role: str = "operator") -> UserRow:
    return UserRow(name, "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", role, T0)


def _key(key_id: str | None = None, **changes: object) -> ApiKeyRow:
    row = ApiKeyRow(
        key_id or secrets.token_hex(8), "gate reader", "operator", "ab" * 32, T0, None, None,
        "user:alice",
    )  # fmt: skip
    return ApiKeyRow(**{**row.__dict__, **changes})  # type: ignore[arg-type]


def _subject() -> SubjectRow:
    return SubjectRow(
        f"sub_{secrets.token_hex(8)}", secrets.token_bytes(62), None, {"full_name": b"x"}, T0, T0
    )


def test_users_round_trip_in_order(store: Store) -> None:
    with store.transaction() as tx:
        tx.insert_user(_user("bob", "auditor"))
        tx.insert_user(_user("alice"))
        with pytest.raises(ConflictError):
            tx.insert_user(_user("alice"))
    assert [u.username for u in store.list_users()] == ["alice", "bob"]
    assert store.get_user("bob") == _user("bob", "auditor")
    assert store.get_user("carol") is None
    with store.transaction() as tx:
        tx.update_user("alice", password_hash="$argon2id$new", role="admin", disabled=True)
        with pytest.raises(NotFoundError):
            tx.update_user("carol", disabled=True)
    alice = store.get_user("alice")
    assert alice is not None and alice.disabled and alice.role == "admin"
    assert alice.password_hash == "$argon2id$new"


def test_api_keys_round_trip_and_revoke_once(store: Store) -> None:
    expiring = _key("00" * 8, expires_at=T0 + timedelta(days=30))
    with store.transaction() as tx:
        tx.insert_api_key(expiring)
        tx.insert_api_key(_key("ff" * 8, created_at=T0 + timedelta(seconds=1)))
        with pytest.raises(ConflictError):
            tx.insert_api_key(_key("00" * 8))
    assert [k.key_id for k in store.list_api_keys()] == ["00" * 8, "ff" * 8]
    assert store.get_api_key("00" * 8) == expiring
    with store.transaction() as tx:
        assert tx.revoke_api_key("00" * 8, T0 + timedelta(hours=1))
        assert not tx.revoke_api_key("00" * 8, T0 + timedelta(hours=2))
        assert not tx.revoke_api_key("nope", T0)
    revoked = store.get_api_key("00" * 8)
    assert revoked is not None and revoked.revoked_at == T0 + timedelta(hours=1)


def test_sessions_end_alone_with_their_user_or_when_expired(store: Store) -> None:
    with store.transaction() as tx:
        tx.insert_user(_user("alice"))
        tx.insert_user(_user("bob"))
        tx.insert_session(SessionRow("a1", "alice", T0, T0 + timedelta(hours=1)))
        tx.insert_session(SessionRow("a2", "alice", T0, T0 + timedelta(hours=8)))
        tx.insert_session(SessionRow("b1", "bob", T0, T0 + timedelta(hours=8)))
        with pytest.raises(NotFoundError):
            tx.insert_session(SessionRow("c1", "carol", T0, T0 + timedelta(hours=1)))
        with pytest.raises(ConflictError):
            tx.insert_session(SessionRow("a1", "bob", T0, T0 + timedelta(hours=1)))
    assert store.get_session("a1") == SessionRow("a1", "alice", T0, T0 + timedelta(hours=1))
    with store.transaction() as tx:
        assert tx.delete_sessions_before(T0 + timedelta(hours=2)) == 1
        assert tx.delete_session("b1") and not tx.delete_session("b1")
        assert tx.delete_sessions_of("alice") == 1
    assert all(store.get_session(t) is None for t in ("a1", "a2", "b1"))


def test_aliases_are_unique_per_kind_and_go_with_their_subject(store: Store) -> None:
    first, second = _subject(), _subject()
    with store.transaction() as tx:
        tx.insert_subject(first)
        tx.insert_subject(second)
        tx.insert_alias(AliasRow("compreface", "t1", first.subject_id, T0))
        tx.insert_alias(AliasRow("other", "t1", second.subject_id, T0))
        with pytest.raises(ConflictError):
            tx.insert_alias(AliasRow("compreface", "t1", second.subject_id, T0))
        with pytest.raises(ConflictError):
            tx.insert_alias(AliasRow("compreface", "t2", first.subject_id, T0))
        with pytest.raises(NotFoundError):
            tx.insert_alias(AliasRow("compreface", "t3", "sub_missing", T0))
    assert store.subject_by_alias("compreface", "t1") == first.subject_id
    assert store.subject_by_alias("other", "t1") == second.subject_id
    assert store.alias_of("compreface", first.subject_id) == "t1"
    assert store.alias_of("compreface", second.subject_id) is None
    assert store.count_aliases("compreface") == 1
    assert [a.subject_id for a in store.list_aliases("compreface")] == [first.subject_id]
    assert store.list_aliases("compreface", after=first.subject_id) == []
    with store.transaction() as tx:
        assert tx.delete_subject(first.subject_id)
        assert tx.delete_alias("other", second.subject_id)
        assert not tx.delete_alias("other", second.subject_id)
    assert store.subject_by_alias("compreface", "t1") is None
    assert store.count_aliases("compreface") == store.count_aliases("other") == 0


def test_the_faces_of_aliased_subjects_come_a_page_at_a_time(store: Store) -> None:
    # In the order the faces were added, whatever their subjects (as CompreFace
    # lists a collection): each subject's second face is a day after every first one.
    subjects = sorted((_subject() for _ in range(3)), key=lambda r: r.subject_id, reverse=True)
    outsider = _subject()
    faces: list[tuple[str, str]] = []
    with store.transaction() as tx:
        for i, row in enumerate([*subjects, outsider]):
            tx.insert_subject(row)
            kind = "other" if row is outsider else "compreface"
            tx.insert_alias(AliasRow(kind, f"t{i}", row.subject_id, T0))
        for n in range(2):
            for i, row in enumerate([*subjects, outsider]):
                face = FaceRow(f"face_{n}_{i}", row.subject_id, "m", b"t", T0 + timedelta(n))
                tx.insert_face(face)
                if row is not outsider:
                    faces.append((face.face_id, row.subject_id))
    pages = [store.alias_faces("compreface", offset=o, limit=4) for o in (0, 4, 8)]
    assert [p[1] for p in pages] == [6, 6, 6]
    assert [pair for page, _ in pages for pair in page] == faces
    one, total = store.alias_faces("compreface", subject_id=subjects[1].subject_id)
    assert (one, total) == ([faces[1], faces[4]], 2)
    assert store.alias_faces("compreface", subject_id=outsider.subject_id) == ([], 0)


def test_a_failed_transaction_leaves_no_user(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.insert_user(_user("alice"))
        raise RuntimeError("crash")
    assert store.get_user("alice") is None


def test_lockouts_are_replaced_forgotten_when_due_and_capped(store: Store) -> None:
    def row(minutes: int, failures: int = 1) -> LockoutRow:
        until = T0 + timedelta(minutes=minutes)
        return LockoutRow(failures, until, None, 0, until)

    with store.transaction() as tx:
        assert tx.lockout("a" * 64) is None
        tx.put_lockout("a" * 64, row(15))
        tx.put_lockout("a" * 64, LockoutRow(0, None, T0, 2, T0 + timedelta(minutes=45)))
        assert tx.lockout("a" * 64) == LockoutRow(0, None, T0, 2, T0 + timedelta(minutes=45))
        tx.put_lockout("a" * 64, None)
        assert tx.lockout("a" * 64) is None
        for n in range(6):
            tx.put_lockout(f"{n:064x}", row(n + 1, failures=n))
        assert tx.forget_lockouts(T0 + timedelta(minutes=2), keep=None) == 2
        assert tx.forget_lockouts(T0, keep=3) == 1  # the soonest forgotten beyond three
        assert [tx.lockout(f"{n:064x}") is not None for n in range(6)] == [False] * 3 + [True] * 3
        assert tx.lockout(f"{5:064x}") == row(6, failures=5)
    # Read outside a transaction too (a limiter refuses a locked key after a read alone).
    assert store.lockout(f"{5:064x}") == row(6, failures=5) and store.lockout("b" * 64) is None
