"""Rows read back hold the Python types their dataclasses declare, on every backend.

The contract compares rows with ``==``, which a ``memoryview`` passes for
``bytes``, an ``int`` for a ``bool`` and an ``int`` for a ``float``; the row
mapping (``store/_queries.py``) converts only where a driver's value is not
already of the declared type, and this is what says it need not.
"""

from __future__ import annotations

import dataclasses
import secrets
import types
from datetime import UTC, datetime, timedelta
from typing import Any, Union, get_args, get_origin, get_type_hints

import pytest

from facewarden.store import FaceRow, PhotoRow, Store, SubjectRow, UserRow, WatchlistRow
from facewarden.store._dialect import ts_parse, ts_text
from facewarden.store.access import LockoutRow

T0 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def _exact(value: Any, hint: Any, where: str) -> None:
    """``value`` is of the type ``hint`` names, exactly (not a subclass, not a look-alike)."""
    if get_origin(hint) in (Union, types.UnionType):
        options = [h for h in get_args(hint) if h is not type(None)]
        if value is None:
            assert type(None) in get_args(hint), where
            return
        assert len(options) == 1, where
        hint = options[0]
    if hint in (bytes, str, int, float, bool):
        assert type(value) is hint, f"{where}: {type(value).__name__}, not {hint.__name__}"
    elif hint is datetime:
        assert type(value) is datetime and value.tzinfo is not None, where
    elif get_origin(hint) is not None and get_args(hint)[-1] is bytes:  # Mapping[str, bytes]
        assert all(type(v) is bytes for v in value.values()), where


def _check(row: Any) -> None:
    hints = get_type_hints(type(row))
    for field in dataclasses.fields(row):
        _exact(getattr(row, field.name), hints[field.name], f"{type(row).__name__}.{field.name}")


def test_rows_read_back_hold_their_declared_types(store: Store) -> None:
    subject = SubjectRow(
        f"sub_{secrets.token_hex(8)}",
        secrets.token_bytes(62),
        "index-token",
        {"full_name": b"\x01ciphertext", "notes": b"\x02more"},
        T0,
        T0,
    )
    face = FaceRow(f"face_{secrets.token_hex(8)}", subject.subject_id, "m", b"\x00t", T0)
    other = FaceRow(f"face_{secrets.token_hex(8)}", subject.subject_id, "m", b"\x01u", T0)
    watchlist = WatchlistRow(f"wl_{secrets.token_hex(8)}", "door", "security", "6(1)(f)", 0.001, T0)
    lockout = LockoutRow(3, T0 + timedelta(minutes=5), T0, 2, T0 + timedelta(hours=1))
    with store.transaction() as tx:
        tx.insert_subject(subject)
        tx.insert_face(face)
        tx.insert_face(other)
        tx.insert_photo(PhotoRow(face.face_id, b"jpeg-ciphertext", T0))
        tx.insert_watchlist(watchlist)
        tx.insert_user(UserRow("alice", "$argon2id$hash", "admin", T0, disabled=True))
        tx.insert_user(UserRow("bob", "$argon2id$hash", "viewer", T0))
        tx.put_lockout("a" * 64, lockout)
    rows: list[Any] = [
        store.get_subject(subject.subject_id),
        *store.faces_of(subject.subject_id),
        *store.photos_of(subject.subject_id),
        *store.iter_templates(),
        store.get_watchlist(watchlist.watchlist_id),
        store.get_user("alice"),
        store.get_user("bob"),
        store.lockout("a" * 64),
    ]
    assert None not in rows and len(rows) == 10
    for row in rows:
        _check(row)
    faces = store.faces_of(subject.subject_id)
    assert {f.face_id: f.has_photo for f in faces} == {face.face_id: True, other.face_id: False}
    assert [u.disabled for u in (store.get_user("alice"), store.get_user("bob")) if u] == [
        True,
        False,
    ]


def test_store_time_text_reads_back_to_the_microsecond_and_refuses_other_forms() -> None:
    for when in (T0, T0.replace(microsecond=0), T0 + timedelta(days=3650)):
        back = ts_parse(ts_text(when))
        assert back == when and back.utcoffset() == timedelta(0)
    for bad in ("2026-01-02T03:04:05.678901", "2026-01-02 03:04:05+01:00", "yesterday Z", ""):
        with pytest.raises(ValueError):
            ts_parse(bad)
