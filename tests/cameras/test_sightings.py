"""Acceptance 3 and 4 of issue 5: sightings expire; location history is guarded.

Sightings are written through the service the frame processor uses, with an
injected clock; the video path that writes them is covered by
test_acceptance_video.py.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from facewarden.config import Settings
from facewarden.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from facewarden.privacy import ManualClock
from facewarden.service import Warden
from facewarden.store.cameras import CameraRow

from .conftest import T0, enroll, make_settings


def _camera(warden: Warden, name: str = "door", **kwargs: object) -> CameraRow:
    warden.cameras.add(name, location="north entrance", watchlists=["entrance"], **kwargs)  # type: ignore[arg-type]
    row = warden.store.camera_by_name(name)
    assert row is not None
    return row


@pytest.fixture
def subject(warden: Warden, knn: Path) -> str:
    warden.watchlists.create("entrance", purpose="site access", lawful_basis="test")
    return enroll(warden, "Barack Obama", knn / "obama" / "obama.jpg", ("entrance",))


def _db_bytes(warden: Warden) -> bytes:
    path = Path(warden.store.location)
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def test_sightings_expire_after_24_hours_and_their_bytes_leave_the_disk(
    warden: Warden, subject: str, clock: ManualClock
) -> None:
    camera = _camera(warden, keep_thumbnails=True)
    thumbnail = b"\xff\xd8 a jpeg of a face " + bytes(range(64))
    sid = warden.sightings.open_visit(
        camera, subject, camera.watchlists[0], T0, T0 + timedelta(seconds=5), 0.95, thumbnail
    )
    row = warden.store.get_sighting(sid)
    assert row is not None and row.thumbnail is not None
    assert thumbnail not in row.thumbnail  # encrypted with the subject's data key
    assert row.expires_at == T0 + timedelta(seconds=5, hours=24)
    sealed = row.thumbnail
    warden.store.checkpoint()
    assert sealed in _db_bytes(warden)

    clock.advance(timedelta(hours=23))
    assert warden.purge().deleted["sightings"] == 0
    assert warden.store.get_sighting(sid) is not None

    clock.advance(timedelta(hours=1, seconds=5))
    report = warden.purge()
    assert report.deleted["sightings"] == 1
    assert warden.store.count_sightings() == 0
    assert sealed not in _db_bytes(warden)
    assert "retention.purge" in [e.action for e in warden.audit.entries(limit=1000)]


def test_retention_follows_the_shortest_of_camera_watchlist_and_default(
    warden: Warden, subject: str
) -> None:
    camera = _camera(warden, retention_hours=6)
    wl = camera.watchlists[0]
    assert warden.sightings.retention(camera, wl) == timedelta(hours=6)
    warden.sightings.set_watchlist_retention("entrance", 2)
    assert warden.sightings.retention(camera, wl) == timedelta(hours=2)
    warden.sightings.set_watchlist_retention("entrance", None)
    assert warden.sightings.retention(camera, wl) == timedelta(hours=6)
    with pytest.raises(InvalidInputError):
        warden.sightings.set_watchlist_retention("entrance", 0)


def test_erasing_the_subject_erases_its_sightings(warden: Warden, subject: str) -> None:
    camera = _camera(warden)
    warden.sightings.open_visit(camera, subject, camera.watchlists[0], T0, T0, 0.95)
    warden.registry.erase(subject)
    assert warden.store.count_sightings() == 0


def test_location_history_needs_the_investigator_role_and_a_case_reference(
    warden: Warden, subject: str, clock: ManualClock
) -> None:
    camera = _camera(warden)
    warden.sightings.open_visit(camera, subject, camera.watchlists[0], T0, T0, 0.95)
    clock.advance(timedelta(hours=2))
    with pytest.raises(PermissionDeniedError, match="investigator role"):
        warden.sightings.history(subject, 24, role="operator", case_reference="CASE-1")
    with pytest.raises(PermissionDeniedError, match="case reference"):
        warden.sightings.history(subject, 24, role="investigator", case_reference="  ")
    denied = [e for e in warden.audit.about(subject) if e.action == "sightings.history"]
    assert [e.outcome for e in denied] == ["denied", "denied"]

    result = warden.sightings.history(subject, 24, role="investigator", case_reference="CASE-1")
    assert not result.pending and len(result.sightings) == 1
    assert result.sightings[0].camera_id == camera.camera_id
    allowed = [e for e in warden.audit.about(subject) if e.action == "sightings.history"][-1]
    assert (allowed.outcome, allowed.purpose, allowed.actor) == ("ok", "CASE-1", "test:pytest")
    assert allowed.details["sightings"] == 1
    # Only the last N hours.
    assert (
        warden.sightings.history(subject, 1, role="investigator", case_reference="CASE-1").sightings
        == ()
    )


def test_a_sighting_past_its_retention_is_not_read_before_the_purge_deletes_it(
    warden: Warden, subject: str, clock: ManualClock
) -> None:
    # Sightings expire after 24 hours; the purge that deletes them runs every
    # hour (and a restored archive holds those that expired since it was
    # written until its first purge). A history request in between read them.
    camera = _camera(warden)
    warden.sightings.open_visit(camera, subject, camera.watchlists[0], T0, T0, 0.95)
    clock.advance(timedelta(hours=23))
    kept = warden.sightings.history(subject, 48, role="investigator", case_reference="CASE-1")
    assert len(kept.sightings) == 1
    clock.advance(timedelta(hours=2))  # past its expiry, not yet purged
    assert warden.store.sightings_of(subject, T0 - timedelta(hours=1), None)  # still stored

    late = warden.sightings.history(subject, 48, role="investigator", case_reference="CASE-1")

    assert late.sightings == ()
    entry = [e for e in warden.audit.about(subject) if e.action == "sightings.history"][-1]
    assert entry.details["sightings"] == 0


def test_location_history_waits_for_a_second_approver_when_configured(
    tmp_path: Path, knn: Path, clock: ManualClock
) -> None:
    settings: Settings = make_settings(tmp_path, history_needs_approval=True)
    with Warden.open(settings, clock=clock, create=True, actor="user:ann") as ann:
        ann.watchlists.create("entrance", purpose="site access", lawful_basis="test")
        subject = enroll(ann, "Barack Obama", knn / "obama" / "obama.jpg", ("entrance",))
        camera = _camera(ann)
        ann.sightings.open_visit(camera, subject, camera.watchlists[0], T0, T0, 0.95)

        pending = ann.sightings.history(subject, 24, role="investigator", case_reference="C-7")
        assert pending.pending and pending.sightings == () and pending.request_id
        request = pending.request_id
        with pytest.raises(PermissionDeniedError, match="waits for a second approver"):
            ann.sightings.history(
                subject, 24, role="investigator", case_reference="C-7", request_id=request
            )
        with pytest.raises(PermissionDeniedError, match="second person"):
            ann.sightings.approve(request, role="investigator")
        bob = ann.with_actor("user:bob")
        with pytest.raises(PermissionDeniedError, match="investigator role"):
            bob.sightings.approve(request, role="analyst")
        with pytest.raises(NotFoundError):
            bob.sightings.approve("req_0000000000000000", role="investigator")
        bob.sightings.approve(request, role="investigator")
        # Bob cannot use Ann's approval, nor Ann reuse it for another query.
        with pytest.raises(PermissionDeniedError, match="not for this query"):
            bob.sightings.history(
                subject, 24, role="investigator", case_reference="C-7", request_id=request
            )
        with pytest.raises(PermissionDeniedError, match="not for this query"):
            ann.sightings.history(
                subject, 48, role="investigator", case_reference="C-7", request_id=request
            )
        result = ann.sightings.history(
            subject, 24, role="investigator", case_reference="C-7", request_id=request
        )
        assert len(result.sightings) == 1
        actions = [(e.actor, e.action) for e in ann.audit.entries(limit=1000)]
        assert ("user:ann", "sightings.history_request") in actions
        assert ("user:bob", "sightings.history_approve") in actions
        assert ("user:ann", "sightings.history") in actions


def test_an_approved_history_covers_the_hours_before_it_was_asked_not_after(
    tmp_path: Path, knn: Path, clock: ManualClock
) -> None:
    """Promise 18: an approval lets one look back, not follow the person on afterwards."""
    # Kept a week: the sightings must still be held when the request is used days later
    # (one past its retention is read by no one, purged or not).
    settings: Settings = make_settings(
        tmp_path, history_needs_approval=True, sighting_retention_hours=7 * 24
    )
    with Warden.open(settings, clock=clock, create=True, actor="user:ann") as ann:
        ann.watchlists.create("entrance", purpose="site access", lawful_basis="test")
        subject = enroll(ann, "Barack Obama", knn / "obama" / "obama.jpg", ("entrance",))
        camera = _camera(ann)
        wl = camera.watchlists[0]
        # Seen a day and more before the request (out of its 24 h), then just before it (in).
        early = T0 - timedelta(hours=28)
        ann.sightings.open_visit(camera, subject, wl, early, early + timedelta(hours=1), 0.95)
        ann.sightings.open_visit(camera, subject, wl, T0, T0 + timedelta(hours=1), 0.95)
        clock.advance(timedelta(hours=2))
        query = {"role": "investigator", "case_reference": "C-9"}
        request = ann.sightings.history(subject, 24, **query).request_id
        ann.with_actor("user:bob").sightings.approve(request, role="investigator")

        # Days later, still within the request's 31 days, the person comes back.
        clock.advance(timedelta(days=3))
        later = clock() - timedelta(minutes=1)
        ann.sightings.open_visit(camera, subject, wl, later, later, 0.97)
        result = ann.sightings.history(subject, 24, request_id=request, **query)
        seen = [s.first_seen for s in result.sightings]
        assert seen == [T0], f"the approved window reached past the request: {seen}"
        # Without approval required, the same query reads the last 24 h from now.
        assert [
            s.first_seen
            for s in ann.sightings.history(subject, 24, request_id=None, **query).sightings
        ] in ([], [later])


def test_who_accessed_the_person_shows_who_listed_the_requests_about_them(
    tmp_path: Path, knn: Path, clock: ManualClock
) -> None:
    # A list of location-history requests shows whose movements are asked for,
    # the case and the reason (sealed under the person's key): its entry named
    # no one, so `audit list --about` could not show who read it.
    settings: Settings = make_settings(tmp_path, history_needs_approval=True)
    with Warden.open(settings, clock=clock, create=True, actor="user:ann") as ann:
        ann.watchlists.create("entrance", purpose="site access", lawful_basis="test")
        subject = enroll(ann, "Barack Obama", knn / "obama" / "obama.jpg", ("entrance",))
        ann.sightings.history(subject, 24, role="investigator", case_reference="C-9")
        bob = ann.with_actor("user:bob")
        assert [v.subject_id for v in bob.history_requests.pending(role="investigator")] == [
            subject
        ]
        assert [v.subject_id for v in ann.history_requests.mine(role="investigator")] == [subject]
        listed = [
            e for e in ann.audit.entries(about=subject) if e.action == "sightings.history_requests"
        ]
        assert [(e.actor, list(e.details["subjects"])) for e in listed] == [
            ("user:bob", [subject]),
            ("user:ann", [subject]),
        ]


def test_who_was_seen_at_a_camera_is_for_site_roles_and_audited(
    warden: Warden, subject: str
) -> None:
    camera = _camera(warden)
    warden.sightings.open_visit(
        camera, subject, camera.watchlists[0], T0, T0 + timedelta(minutes=2), 0.95
    )
    window = (T0 + timedelta(minutes=1), T0 + timedelta(minutes=3))
    with pytest.raises(PermissionDeniedError):
        warden.sightings.at_camera("entrance", "door", *window, role="analyst")
    seen = warden.sightings.at_camera("entrance", "door", *window, role="operator")
    assert [s.subject_id for s in seen] == [subject]
    later = (T0 + timedelta(minutes=5), T0 + timedelta(minutes=9))
    assert warden.sightings.at_camera("entrance", "door", *later, role="operator") == []
    assert [e.action for e in warden.audit.entries(limit=1000)].count("sightings.at_camera") == 2


def test_who_accessed_the_person_shows_an_operator_saw_them_at_a_camera(
    warden: Warden, subject: str
) -> None:
    # "Who is at this camera" put the person's name on an operator's screen, but
    # its entry named only the camera: `audit list --about` (and the person's
    # export) could not show it. It names the subjects shown, by id, as a
    # listing's entry does; an empty answer names no one.
    camera = _camera(warden)
    warden.sightings.open_visit(
        camera, subject, camera.watchlists[0], T0, T0 + timedelta(minutes=2), 0.95
    )
    shown = warden.sightings.at_camera(
        "entrance", "door", T0 + timedelta(minutes=1), T0 + timedelta(minutes=3), role="operator"
    )
    assert [s.subject_id for s in shown] == [subject]
    warden.sightings.at_camera(
        "entrance", "door", T0 + timedelta(minutes=5), T0 + timedelta(minutes=9), role="operator"
    )
    about = [e for e in warden.audit.entries(about=subject) if e.action == "sightings.at_camera"]
    assert len(about) == 1 and about[0].object_id == camera.camera_id
    assert list(about[0].details["subjects"]) == [subject]
    (empty,) = [
        e
        for e in warden.audit.entries(limit=1000)
        if e.action == "sightings.at_camera" and e.details["sightings"] == 0
    ]
    assert list(empty.details["subjects"]) == []
    # A caller that shows only part of the answer (the route's limit): those are named.
    warden.sightings.at_camera(
        "entrance", "door", T0, T0 + timedelta(minutes=3), role="operator", shown=0
    )
    last = warden.audit.entries(limit=1000)[-1]
    assert last.action == "sightings.at_camera" and last.details["sightings"] == 1
    assert list(last.details["subjects"]) == []
    # The alert feeds (the sightings' and the desk's) held their whereabouts too.
    assert [
        s.subject_id
        for s in warden.sightings.recent(
            T0 - timedelta(minutes=1), T0 + timedelta(minutes=3), role="operator"
        )
    ] == [subject]
    desk = warden.alert_desk.alerts(role="operator")
    assert [a.sighting.subject_id for a in desk.alerts] == [subject]
    about = [e for e in warden.audit.entries(about=subject) if e.action == "sightings.alerts"]
    assert len(about) == 2 and all(list(e.details["subjects"]) == [subject] for e in about)
    exported = warden.registry.export(subject)["audit"]
    actions = [e["action"] for e in exported]  # type: ignore[union-attr]
    assert "sightings.at_camera" in actions and "sightings.alerts" in actions
