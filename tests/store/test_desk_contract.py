"""The desk part of the Store contract: alert decisions, history-request notes, counts.

Every backend (``store`` is parametrized in conftest.py) passes it unchanged;
the protocols are in :mod:`facewarden.store.desk`.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from facewarden.privacy import AuditChain, AuditEntry, ManualClock
from facewarden.store import Store
from facewarden.store.cameras import HistoryRequestRow
from facewarden.store.desk import AlertDecisionRow, AlertNoteRow, HistoryNoteRow

from .test_cameras_contract import T0, _camera, _sighting, _subject


def _seen(store: Store, start_offset: timedelta = timedelta(0)) -> tuple[str, str]:
    subject = _subject(store)
    camera = _camera(f"cam-{secrets.token_hex(3)}")
    sighting = _sighting(subject, camera.camera_id, T0 + start_offset, hours=1)
    with store.transaction() as tx:
        tx.insert_camera(camera)
        tx.insert_sighting(sighting)
    return subject, sighting.sighting_id


def test_an_alert_is_decided_once_and_goes_with_its_sighting(store: Store) -> None:
    _, sighting = _seen(store)
    first = AlertDecisionRow(sighting, "acknowledged", "user:olivia", T0, b"\x01sealed note")
    with store.transaction() as tx:
        assert tx.decide_alert(first)
        assert not tx.decide_alert(AlertDecisionRow(sighting, "dismissed", "user:bob", T0))
        assert not tx.decide_alert(AlertDecisionRow("sig_gone", "dismissed", "user:bob", T0))
    assert store.alert_decisions([sighting, "sig_other"]) == {sighting: first}
    assert store.alert_decisions([]) == {}
    with store.transaction() as tx:
        assert tx.delete_sightings_expired(T0 + timedelta(days=1)) >= 1
    assert store.alert_decisions([sighting]) == {}


def test_notes_are_added_to_a_decided_alert_only_and_go_with_its_sighting(store: Store) -> None:
    _, sighting = _seen(store)
    notes = [
        AlertNoteRow(f"note_{i}", sighting, "user:ann", T0 + timedelta(minutes=i), b"\x01n%d" % i)
        for i in (2, 1)
    ]
    with store.transaction() as tx:
        assert not tx.add_alert_note(notes[0])  # not decided yet
        assert tx.decide_alert(AlertDecisionRow(sighting, "acknowledged", "user:ann", T0))
        assert all(tx.add_alert_note(n) for n in notes)
        assert not tx.add_alert_note(AlertNoteRow("note_x", "sig_gone", "user:a", T0, b"\x01"))
    assert store.alert_notes(sighting) == notes[::-1]  # oldest first
    assert store.alert_notes("sig_other") == []
    with store.transaction() as tx:
        assert tx.delete_sightings_expired(T0 + timedelta(days=1)) >= 1
    assert store.alert_notes(sighting) == []


def test_sightings_recorded_are_read_in_the_order_of_the_audit_chain(store: Store) -> None:
    chain = AuditChain(secrets.token_bytes(32))
    clock = ManualClock(T0)
    entries: list[AuditEntry] = []
    for i, action in enumerate(["sighting.record", "alert.show", "sighting.record"] * 2):
        entries.append(
            chain.make_entry(
                entries[-1] if entries else None,
                clock=clock,
                actor="test",
                action=action,
                object_type="sighting",
                object_id=f"sig_{i}",
            )
        )
    assert store.last_audit_seq() == 0
    with store.transaction() as tx:
        for entry in entries:
            tx.append_audit(entry)
    assert store.last_audit_seq() == 6
    assert store.sightings_recorded(0, 6) == [
        (1, "sig_0"),
        (3, "sig_2"),
        (4, "sig_3"),
        (6, "sig_5"),
    ]
    assert store.sightings_recorded(1, 4) == [(3, "sig_2"), (4, "sig_3")]  # (after, upto]
    assert store.sightings_recorded(6, 100) == []


def test_the_desks_reads_keep_to_the_first_seen_range_they_are_given(store: Store) -> None:
    # The desk asks for the live window only: sightings first seen before it (kept
    # for the retention period, still overlapping it) or after its end are not read.
    subject = _subject(store)
    camera = _camera(f"cam-{secrets.token_hex(3)}")
    rows = [_sighting(subject, camera.camera_id, T0 + timedelta(minutes=m)) for m in (0, 10, 20)]
    with store.transaction() as tx:
        tx.insert_camera(camera)
        for row in rows:
            tx.insert_sighting(row)
        for row in rows:
            tx.decide_alert(AlertDecisionRow(row.sighting_id, "dismissed", "user:ann", T0))
    after, until = T0, T0 + timedelta(minutes=10)
    assert store.alert_sightings(camera.camera_id, after, until) == [rows[1]]
    assert store.alert_sightings("cam_other", after, until) == []
    decided = store.alerts_decided_since(camera.camera_id, after, until, T0)
    assert decided == [("wl_1", AlertDecisionRow(rows[1].sighting_id, "dismissed", "user:ann", T0))]
    assert store.alerts_decided_since(camera.camera_id, after, until, T0 + timedelta(0, 1)) == []


def test_history_requests_are_listed_refused_and_noted(store: Store) -> None:
    subject = _subject(store)
    rows = [
        HistoryRequestRow(f"req_{i}", subject, 24, "C-1", who, T0 + timedelta(minutes=i))
        for i, who in enumerate(["user:ann", "user:bob", "user:ann"])
    ]
    with store.transaction() as tx:
        for row in rows:
            tx.insert_history_request(row)
        tx.set_history_reason("req_0", b"\x01sealed reason")
        assert tx.approve_history_request("req_2", "user:bob", T0)
        assert tx.refuse_history_request("req_0", "user:bob", T0 + timedelta(hours=1))
        assert not tx.refuse_history_request("req_0", "user:bob", T0)  # already refused
        assert not tx.refuse_history_request("req_2", "user:bob", T0)  # approved
        assert not tx.refuse_history_request("req_x", "user:bob", T0)  # missing
    assert store.history_note("req_0") == HistoryNoteRow(
        "req_0", b"\x01sealed reason", "user:bob", T0 + timedelta(hours=1)
    )
    assert store.history_note("req_1") is None
    since = T0 - timedelta(days=1)
    mine = store.history_request_ids(
        requested_by="user:ann", undecided=False, since=since, limit=10
    )
    assert mine == ["req_2", "req_0"]
    open_ = store.history_request_ids(requested_by=None, undecided=True, since=since, limit=10)
    assert open_ == ["req_1"]
    later = T0 + timedelta(minutes=1, seconds=30)
    assert store.history_request_ids(requested_by=None, undecided=False, since=later, limit=1) == [
        "req_2"
    ]


def test_sightings_are_counted_by_when_they_were_first_seen(store: Store) -> None:
    _seen(store)
    _seen(store, timedelta(hours=2))
    assert store.count_sightings_between(T0, T0 + timedelta(hours=1)) == 1
    assert store.count_sightings_between(T0, T0 + timedelta(hours=3)) == 2
    assert store.count_sightings_between(T0 + timedelta(hours=3), T0 + timedelta(hours=4)) == 0
