"""The Store contract: every backend must pass these tests unchanged.

The values stored here are opaque bytes, as the service layer hands them over
(already encrypted); the contract is about atomicity, uniqueness, cascades,
ordering and round trips, not about what the bytes mean.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from facewarden.errors import ConflictError, FacewardenError, NotFoundError
from facewarden.privacy import AuditChain, AuditEntry, ManualClock
from facewarden.store import FaceRow, PhotoRow, Store, SubjectRow, WatchlistRow

OpenStore = Callable[[], Store]
T0 = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


def _subject(index: str | None = None, at: datetime = T0, **fields: bytes) -> SubjectRow:
    return SubjectRow(
        subject_id=f"sub_{secrets.token_hex(8)}",
        wrapped_key=secrets.token_bytes(62),
        id_index=index,
        fields=fields or {"full_name": b"\x01ciphertext"},
        created_at=at,
        updated_at=at,
    )


def _face(subject_id: str, at: datetime = T0) -> FaceRow:
    return FaceRow(f"face_{secrets.token_hex(8)}", subject_id, "m", secrets.token_bytes(40), at)


def _watchlist(name: str = "entrance") -> WatchlistRow:
    return WatchlistRow(
        f"wl_{secrets.token_hex(8)}", name, "site security", "art. 6(1)(f)", 1e-3, T0
    )


def _entries(count: int, chain: AuditChain | None = None) -> list[AuditEntry]:
    chain = chain or AuditChain(secrets.token_bytes(32))
    clock = ManualClock(T0)
    entries: list[AuditEntry] = []
    for i in range(count):
        prev = entries[-1] if entries else None
        details = {"subjects": [f"sub_{i:016x}"]}
        entries.append(
            chain.make_entry(
                prev, clock=clock, actor="test", action="a", object_id=f"obj_{i}", details=details
            )
        )
        clock.advance(timedelta(seconds=1))
    return entries


def test_subject_round_trip_keeps_every_value(store: Store) -> None:
    row = _subject("tok1", full_name=b"a", notes=b"\x00\xff")
    with store.transaction() as tx:
        tx.insert_subject(row)
    assert store.get_subject(row.subject_id) == row
    assert store.subject_id_by_index("tok1") == row.subject_id
    assert store.get_subject("sub_0000000000000000") is None
    assert store.subject_id_by_index("nope") is None


@pytest.mark.parametrize("clash", ["id", "index"])
def test_duplicate_subject_id_or_id_number_is_a_conflict(store: Store, clash: str) -> None:
    first = _subject("tok")
    second = _subject("tok" if clash == "index" else "other")
    if clash == "id":
        second = SubjectRow(
            first.subject_id,
            *[
                getattr(second, f)
                for f in ("wrapped_key", "id_index", "fields", "created_at", "updated_at")
            ],
        )
    with store.transaction() as tx:
        tx.insert_subject(first)
    with pytest.raises(ConflictError), store.transaction() as tx:
        tx.insert_subject(second)
    assert store.count_subjects() == 1
    assert store.get_subject(first.subject_id) == first


def test_update_replaces_deletes_fields_and_moves_the_index(store: Store) -> None:
    a, b = _subject("ta", full_name=b"1", notes=b"2"), _subject("tb")
    later = T0 + timedelta(days=1)
    with store.transaction() as tx:
        tx.insert_subject(a)
        tx.insert_subject(b)
    with store.transaction() as tx:
        tx.update_subject(
            a.subject_id, updated_at=later, fields={"full_name": b"9", "notes": None}, id_index="tc"
        )
    got = store.get_subject(a.subject_id)
    assert got is not None
    assert dict(got.fields) == {"full_name": b"9"}
    assert got.id_index == "tc" and got.updated_at == later and got.created_at == T0
    assert store.subject_id_by_index("ta") is None
    with pytest.raises(ConflictError), store.transaction() as tx:
        tx.update_subject(a.subject_id, updated_at=later, id_index="tb")
    with store.transaction() as tx:
        tx.update_subject(a.subject_id, updated_at=later, clear_id_index=True)
    assert store.subject_id_by_index("tc") is None
    with pytest.raises(NotFoundError), store.transaction() as tx:
        tx.update_subject("sub_ffffffffffffffff", updated_at=later)


def test_subjects_are_listed_by_id_in_pages(store: Store) -> None:
    rows = [
        _subject(full_name=secrets.token_bytes(9), city=secrets.token_bytes(5)) for _ in range(7)
    ]
    with store.transaction() as tx:
        for row in rows:
            tx.insert_subject(row)
    ids = sorted(r.subject_id for r in rows)
    first = store.list_subjects(limit=4)
    rest = store.list_subjects(after=first[-1].subject_id, limit=4)
    assert [r.subject_id for r in first + rest] == ids
    # Each row carries its own fields (read for the whole page at once).
    assert {r.subject_id: r.fields for r in first + rest} == {r.subject_id: r.fields for r in rows}
    assert store.count_subjects() == 7


def test_subject_counts_for_a_page(store: Store) -> None:
    wl, busy, idle = _watchlist(), _subject(), _subject()
    with store.transaction() as tx:
        tx.insert_watchlist(wl)
        tx.insert_subject(busy)
        tx.insert_subject(idle)
        tx.insert_face(_face(busy.subject_id))
        tx.insert_face(_face(busy.subject_id))
        tx.add_membership(wl.watchlist_id, busy.subject_id, T0)
    counts = store.subject_counts([busy.subject_id, idle.subject_id, "sub_gone"])
    assert counts == {busy.subject_id: (2, 1), idle.subject_id: (0, 0), "sub_gone": (0, 0)}
    assert store.subject_counts([]) == {}


def test_subjects_updated_before_a_cutoff(store: Store) -> None:
    old, new = _subject(at=T0), _subject(at=T0 + timedelta(days=10))
    with store.transaction() as tx:
        tx.insert_subject(old)
        tx.insert_subject(new)
    assert store.subjects_updated_before(T0 + timedelta(days=5)) == [old.subject_id]


def test_faces_photos_and_templates(store: Store) -> None:
    subject = _subject()
    faces = [_face(subject.subject_id, T0 + timedelta(seconds=i)) for i in range(3)]
    with store.transaction() as tx:
        tx.insert_subject(subject)
        for face in faces:
            tx.insert_face(face)
        tx.insert_photo(PhotoRow(faces[0].face_id, b"jpeg-ciphertext", T0))
    stored = store.faces_of(subject.subject_id)
    assert [f.face_id for f in stored] == [f.face_id for f in faces]
    assert [f.has_photo for f in stored] == [True, False, False]
    assert store.get_face(faces[1].face_id) == faces[1]
    assert store.photos_of(subject.subject_id) == [
        PhotoRow(faces[0].face_id, b"jpeg-ciphertext", T0)
    ]
    assert store.get_photo(faces[0].face_id) == PhotoRow(faces[0].face_id, b"jpeg-ciphertext", T0)
    assert store.get_photo(faces[1].face_id) is None
    with store.transaction() as tx:
        tx.set_template(faces[2].face_id, b"renewed")
        assert tx.delete_face(faces[1].face_id)
        assert not tx.delete_face(faces[1].face_id)
    templates = {t.face_id: t for t in store.iter_templates()}
    assert set(templates) == {faces[0].face_id, faces[2].face_id}
    assert templates[faces[2].face_id].template == b"renewed"
    assert templates[faces[0].face_id].wrapped_key == subject.wrapped_key


def test_a_face_needs_an_existing_subject(store: Store) -> None:
    with pytest.raises(NotFoundError), store.transaction() as tx:
        tx.insert_face(_face("sub_0123456789abcdef"))


def test_iteration_spans_pages_and_allows_writes_meanwhile(store: Store) -> None:
    subjects = [_subject() for _ in range(1203)]
    with store.transaction() as tx:
        for s in subjects:
            tx.insert_subject(s)
            tx.insert_face(_face(s.subject_id))
    with store.transaction() as tx:
        seen = 0
        for template in tx.iter_templates():
            tx.set_template(template.face_id, b"x" + template.template)
            seen += 1
        for subject_id, _ in tx.iter_wrapped_keys():
            tx.set_wrapped_key(subject_id, b"rewrapped")
    assert seen == 1203
    assert all(t.template.startswith(b"x") for t in store.iter_templates())
    assert {k for _, k in store.iter_wrapped_keys()} == {b"rewrapped"}


def test_watchlists_and_memberships(store: Store) -> None:
    a, b = _watchlist("b-list"), _watchlist("a-list")
    s1, s2 = _subject(), _subject()
    with store.transaction() as tx:
        tx.insert_watchlist(a)
        tx.insert_watchlist(b)
        tx.insert_subject(s1)
        tx.insert_subject(s2)
        assert tx.add_membership(a.watchlist_id, s1.subject_id, T0)
        assert not tx.add_membership(a.watchlist_id, s1.subject_id, T0)
        tx.add_membership(b.watchlist_id, s1.subject_id, T0)
        tx.add_membership(a.watchlist_id, s2.subject_id, T0)
    assert [w.name for w in store.list_watchlists()] == ["a-list", "b-list"]
    assert store.watchlist_by_name("b-list") == a
    assert store.get_watchlist(b.watchlist_id) == b
    assert sorted(store.watchlists_of(s1.subject_id)) == sorted([a.watchlist_id, b.watchlist_id])
    assert store.count_members(a.watchlist_id) == 2
    assert set(store.iter_memberships()) == {
        (a.watchlist_id, s1.subject_id),
        (b.watchlist_id, s1.subject_id),
        (a.watchlist_id, s2.subject_id),
    }
    with store.transaction() as tx:
        assert tx.remove_membership(a.watchlist_id, s2.subject_id)
        assert not tx.remove_membership(a.watchlist_id, s2.subject_id)
    assert store.count_members(a.watchlist_id) == 1


def test_duplicate_watchlist_name_and_dangling_membership_are_refused(store: Store) -> None:
    wl = _watchlist()
    with store.transaction() as tx:
        tx.insert_watchlist(wl)
    with pytest.raises(ConflictError), store.transaction() as tx:
        tx.insert_watchlist(_watchlist(wl.name))
    with pytest.raises(NotFoundError), store.transaction() as tx:
        tx.add_membership(wl.watchlist_id, "sub_0123456789abcdef", T0)
    with pytest.raises(NotFoundError), store.transaction() as tx:
        tx.add_membership("wl_0123456789abcdef", "sub_0123456789abcdef", T0)


def test_deleting_a_subject_cascades_to_everything_hung_off_it(store: Store) -> None:
    wl, subject, other = _watchlist(), _subject("tok"), _subject()
    face = _face(subject.subject_id)
    with store.transaction() as tx:
        tx.insert_watchlist(wl)
        tx.insert_subject(subject)
        tx.insert_subject(other)
        tx.insert_face(face)
        tx.insert_face(_face(other.subject_id))
        tx.insert_photo(PhotoRow(face.face_id, b"photo", T0))
        tx.add_membership(wl.watchlist_id, subject.subject_id, T0)
        tx.record_import("src-key", subject.subject_id, T0)
    with store.transaction() as tx:
        assert tx.delete_subject(subject.subject_id)
        assert not tx.delete_subject(subject.subject_id)
    assert store.get_subject(subject.subject_id) is None
    assert store.subject_id_by_index("tok") is None
    assert store.faces_of(subject.subject_id) == []
    assert store.get_face(face.face_id) is None
    assert store.photos_of(subject.subject_id) == []
    assert store.watchlists_of(subject.subject_id) == []
    assert store.import_record("src-key") is None
    assert [t.subject_id for t in store.iter_templates()] == [other.subject_id]


def test_a_failed_transaction_leaves_nothing_behind(store: Store) -> None:
    subject = _subject()
    with pytest.raises(RuntimeError), store.transaction() as tx:
        tx.insert_subject(subject)
        tx.insert_face(_face(subject.subject_id))
        tx.append_audit(_entries(1)[0])
        raise RuntimeError("crash in the middle")
    assert store.count_subjects() == 0
    assert list(store.iter_templates()) == []
    assert store.last_audit() is None


def test_a_transaction_sees_its_own_writes_and_ends_with_its_block(store: Store) -> None:
    subject = _subject()
    with store.transaction() as tx:
        tx.insert_subject(subject)
        assert tx.get_subject(subject.subject_id) == subject
        with pytest.raises(FacewardenError), store.transaction():
            pass  # one transaction at a time
    with pytest.raises(FacewardenError):
        tx.insert_subject(_subject())
    assert store.count_subjects() == 1


def test_audit_entries_round_trip_in_stored_order(store: Store) -> None:
    entries = _entries(5)
    with store.transaction() as tx:
        assert tx.last_audit() is None
        for entry in entries:
            tx.append_audit(entry)
            assert tx.last_audit() == entry
    assert list(store.iter_audit()) == entries
    assert store.last_audit() == entries[-1]
    assert store.list_audit(after_seq=2, limit=2) == entries[2:4]
    assert store.list_audit(object_id="obj_3") == [entries[3]]
    assert store.audit_about(f"sub_{1:016x}") == [entries[1]]
    assert store.audit_about("obj_4") == [entries[4]]
    with pytest.raises(ConflictError), store.transaction() as tx:
        tx.append_audit(entries[0])


def test_meta_and_import_records(store: Store) -> None:
    subject = _subject()
    with store.transaction() as tx:
        tx.set_meta("k", "v1")
        tx.set_meta("k", "v2")
        tx.insert_subject(subject)
        tx.record_import("old", subject.subject_id, T0)
        tx.record_import("new", subject.subject_id, T0 + timedelta(days=40))
    assert store.get_meta("k") == "v2" and store.get_meta("missing") is None
    assert store.import_record("old") == subject.subject_id
    assert sorted(store.import_sources_of(subject.subject_id)) == ["new", "old"]
    assert store.import_sources_of("sub_nobody") == []
    with store.transaction() as tx:
        assert tx.delete_imports_before(T0 + timedelta(days=30)) == 1
    assert store.import_record("old") is None
    assert store.import_record("new") == subject.subject_id


def test_photos_expire_by_age(store: Store) -> None:
    subject = _subject()
    old, new = _face(subject.subject_id), _face(subject.subject_id)
    with store.transaction() as tx:
        tx.insert_subject(subject)
        tx.insert_face(old)
        tx.insert_face(new)
        tx.insert_photo(PhotoRow(old.face_id, b"old", T0))
        tx.insert_photo(PhotoRow(new.face_id, b"new", T0 + timedelta(days=9)))
    with store.transaction() as tx:
        assert tx.delete_photos_before(T0 + timedelta(days=5)) == 1
    assert [p.face_id for p in store.photos_of(subject.subject_id)] == [new.face_id]
    assert len(store.faces_of(subject.subject_id)) == 2


def test_committed_data_survives_reopening_and_maintenance(open_store: OpenStore) -> None:
    store = open_store()
    subject = _subject("tok")
    entries = _entries(3)
    with store.transaction() as tx:
        tx.insert_subject(subject)
        for entry in entries:
            tx.append_audit(entry)
    store.checkpoint()
    store.compact()
    assert store.integrity_check() == []
    store.close()
    reopened = open_store()
    assert reopened.get_subject(subject.subject_id) == subject
    assert list(reopened.iter_audit()) == entries
    assert reopened.schema_version >= 1


def test_a_backup_is_a_consistent_copy_and_never_overwrites(
    store: Store, backup_target: tuple[str, Callable[[], Store]]
) -> None:
    subject = _subject("tok")
    entries = _entries(2)
    with store.transaction() as tx:
        tx.insert_subject(subject)
        tx.insert_face(_face(subject.subject_id))
        for entry in entries:
            tx.append_audit(entry)
    destination, restore = backup_target
    store.backup(destination)
    with pytest.raises(ConflictError):
        store.backup(destination)
    copy = restore()
    try:
        assert copy.get_subject(subject.subject_id) == subject
        assert list(copy.iter_audit()) == entries
        assert len(list(copy.iter_templates())) == 1
    finally:
        copy.close()


def test_close_is_idempotent_and_use_after_close_raises(store: Store) -> None:
    store.close()
    store.close()
    with pytest.raises(FacewardenError, match="closed"):
        store.count_subjects()
    with pytest.raises(FacewardenError, match="closed"), store.transaction():
        pass
