"""The registry, watchlists and recognition services beyond the acceptance cases."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from facewarden.errors import ConflictError, FacewardenError, InvalidInputError, NotFoundError
from facewarden.privacy import ManualClock
from facewarden.service import SubjectRecord, Warden

from ._data import KNN
from .conftest import make_settings

OBAMA = sorted((KNN / "train" / "obama").iterdir())
BIDEN = sorted((KNN / "train" / "biden").iterdir())

Enroll = Callable[..., object]


def _audit_text(warden: Warden) -> str:
    return json.dumps([e.to_record() for e in warden.audit.entries(limit=1000)])


def test_enroll_read_update_with_audit_and_no_personal_data_in_it(
    warden: Warden, enroll: Enroll, clock: ManualClock, faces_dir: Path
) -> None:
    warden.watchlists.create("staff", purpose="site access", lawful_basis="contract")
    obama = enroll(
        warden,
        "Barack Obama",
        OBAMA,
        watchlists=["staff"],
        id_number="US-44",
        date_of_birth="1961-08-04",
        address="1600 Pennsylvania Ave",
    )
    sid = obama.subject_id  # type: ignore[attr-defined]
    assert sid.startswith("sub_") and len(sid) == 20
    subject = warden.registry.get(sid, purpose="case 7")
    assert subject.record.full_name == "Barack Obama"
    assert subject.record.date_of_birth == "1961-08-04"
    assert len(subject.faces) == 2 and subject.watchlists == (
        warden.watchlists.get("staff").watchlist_id,
    )
    clock.advance(timedelta(hours=1))
    updated = warden.registry.update(
        sid, {"id_number": "US 45", "address": None, "employer": "USA"}
    )
    assert updated.record.address is None and updated.record.employer == "USA"
    assert updated.updated_at == subject.updated_at + timedelta(hours=1)
    assert warden.registry.find_by_id_number("us-45").subject_id == sid
    with pytest.raises(NotFoundError):
        warden.registry.find_by_id_number("US-44")
    with pytest.raises(InvalidInputError, match="unknown field"):
        warden.registry.update(sid, {"shoe_size": "11"})
    actions = [e.action for e in warden.audit.entries(limit=100)]
    assert actions[-6:] == [
        "subject.enroll",
        "subject.read",
        "subject.update",
        "subject.lookup",
        "subject.read",
        "subject.lookup",
    ]
    read = warden.audit.entries(limit=100)[-5]
    assert (read.actor, read.object_id, read.purpose) == ("test:pytest", sid, "case 7")
    text = _audit_text(warden)
    for personal in ("Obama", "US-44", "US 45", "1961", "Pennsylvania", "USA"):
        assert personal not in text


def test_faces_are_added_replaced_and_removed_but_never_the_last(
    warden: Warden, enroll: Enroll, faces_dir: Path
) -> None:
    warden.watchlists.create("staff", purpose="t", lawful_basis="t")
    sid = enroll(warden, "Barack Obama", OBAMA[:1], watchlists=["staff"]).subject_id  # type: ignore[attr-defined]
    [first] = [f.face_id for f in warden.registry.get(sid).faces]
    added = warden.faces.add(sid, OBAMA[1])
    replaced = warden.faces.replace(sid, added, KNN / "test" / "obama1.jpg")
    assert {f.face_id for f in warden.registry.get(sid).faces} == {first, replaced}
    warden.faces.remove(sid, replaced)
    with pytest.raises(ConflictError, match="only face"):
        warden.faces.remove(sid, first)
    with pytest.raises(NotFoundError):
        warden.faces.remove(sid, added)
    assert warden.recognition.identify(KNN / "test" / "obama1.jpg", "staff").matched_subjects == (
        sid,
    )


def test_export_holds_everything_and_its_own_audit_entry(
    tmp_path: Path, clock: ManualClock
) -> None:
    with Warden.open(
        make_settings(tmp_path, keep_enrollment_photos=True), clock=clock, create=True
    ) as warden:
        warden.watchlists.create("staff", purpose="site access", lawful_basis="contract")
        sid = warden.registry.enroll(
            SubjectRecord(full_name="Barack Obama", lawful_basis="consent 9", notes="VIP"),
            [OBAMA[0]],
            watchlists=["staff"],
        ).subject_id
        export = warden.registry.export(sid, purpose="art. 15 request")
        assert export["record"]["notes"] == "VIP"  # type: ignore[index]
        [face] = export["faces"]  # type: ignore[misc]
        assert not [k for k in face if "template" in k]  # never a template (promise 8)
        photo = base64.b64decode(face["photo_jpeg_base64"])
        assert photo.startswith(b"\xff\xd8\xff") and b"Exif" not in photo[:4096]
        assert export["watchlists"] == [
            {  # type: ignore[comparison-overlap]
                "watchlist_id": warden.watchlists.get("staff").watchlist_id,
                "name": "staff",
                "purpose": "site access",
                "lawful_basis": "contract",
            }
        ]
        actions = [e["action"] for e in export["audit"]]  # type: ignore[index, union-attr]
        assert actions == ["subject.enroll", "subject.export"]
        json.dumps(export)  # plain JSON all the way down


def test_listing_is_paged_capped_and_audited(
    tmp_path: Path, clock: ManualClock, enroll: Enroll, faces_dir: Path
) -> None:
    with Warden.open(make_settings(tmp_path, max_page_size=2), clock=clock, create=True) as warden:
        ids = sorted(
            enroll(warden, f"Person {i}", OBAMA[:1]).subject_id  # type: ignore[attr-defined]
            for i in range(3)
        )
        page = warden.registry.subjects(limit=50)  # capped at max_page_size
        assert [s.subject_id for s in page] == ids[:2]
        rest = warden.registry.subjects(after=ids[1])
        assert [(s.subject_id, s.faces, s.watchlists) for s in rest] == [(ids[2], 1, 0)]
        entry = warden.store.last_audit()
        assert entry is not None and entry.action == "subject.list"
        assert list(entry.details["subjects"]) == ids[2:]
        assert len(warden.audit.entries(limit=1000)) == 2  # capped too


def test_identify_caps_top_k_and_audits_revealed_names(
    warden: Warden, enroll: Enroll, faces_dir: Path
) -> None:
    warden.watchlists.create("staff", purpose="site access", lawful_basis="t")
    sid = enroll(warden, "Barack Obama", OBAMA, watchlists=["staff"]).subject_id  # type: ignore[attr-defined]
    enroll(warden, "Joe Biden", BIDEN, watchlists=["staff"])
    with pytest.raises(InvalidInputError, match="top_k"):
        warden.recognition.identify(KNN / "test" / "obama1.jpg", "staff", top_k=10_000)
    result = warden.recognition.identify(
        KNN / "test" / "obama1.jpg", "staff", include_names=True, purpose="case 12"
    )
    [face] = result.faces
    assert face.matches[0].display_name == "Barack Obama"
    assert face.candidates[1].display_name is None  # not a match: name not read
    entry = warden.audit.entries(limit=100)[-1]
    assert (entry.action, entry.purpose) == ("identify", "case 12")
    assert list(entry.details["names_shown"]) == [sid]


def test_a_failed_read_keeps_the_gallery_loaded(warden: Warden, enroll: Enroll) -> None:
    # A lookup of an unknown id must not make the next search decrypt every
    # template again (a cheap way to slow everyone down).
    warden.watchlists.create("staff", purpose="site access", lawful_basis="t")
    enroll(warden, "Barack Obama", OBAMA, watchlists=["staff"])
    warden.recognition.identify(KNN / "test" / "obama1.jpg", "staff")
    gallery = warden._ctx.gallery  # the state under test is private
    version = gallery.version
    assert version is not None
    with pytest.raises(NotFoundError):
        warden.registry.get("sub_0000000000000000")
    assert gallery.version == version


def test_verify_against_a_subject_and_between_two_images(
    warden: Warden, enroll: Enroll, faces_dir: Path
) -> None:
    sid = enroll(warden, "Barack Obama", OBAMA).subject_id  # type: ignore[attr-defined]
    same = warden.recognition.verify(KNN / "test" / "obama1.jpg", sid)
    assert same.is_match and same.similarity >= same.threshold
    other = warden.recognition.verify(BIDEN[0], sid)
    assert not other.is_match
    pair = warden.recognition.verify_images(KNN / "test" / "obama1.jpg", OBAMA[1])
    assert pair.is_match and pair.subject_id is None
    with pytest.raises(NotFoundError):
        warden.recognition.verify(OBAMA[0], "sub_0123456789abcdef")
    actions = [e.action for e in warden.audit.entries(limit=100)]
    assert actions[-3:] == ["verify", "verify", "verify.images"]


def test_two_processes_share_one_deployment(
    tmp_path: Path, clock: ManualClock, enroll: Enroll, faces_dir: Path
) -> None:
    settings = make_settings(tmp_path)
    server = Warden.open(settings, clock=clock, create=True, actor="api:alice")
    cli = Warden.open(settings, clock=clock, actor="cli:bob")
    try:
        assert server.warm_up() == 0
        cli.watchlists.create("staff", purpose="t", lawful_basis="t")
        sid = enroll(cli, "Barack Obama", OBAMA, watchlists=["staff"]).subject_id  # type: ignore[attr-defined]
        probe = KNN / "test" / "obama1.jpg"
        assert server.recognition.identify(probe, "staff").matched_subjects == (sid,)
        cli.keys.rotate_templates()  # the server's transform is now stale: it must notice
        assert server.recognition.identify(probe, "staff").matched_subjects == (sid,)
        cli.registry.erase(sid)
        assert server.recognition.identify(probe, "staff").matched_subjects == ()
        actors = {e.actor for e in server.audit.entries(limit=100)}
        assert {"api:alice", "cli:bob"} <= actors
    finally:
        server.close()
        cli.close()


def test_views_act_for_another_actor_and_close_is_final(warden: Warden) -> None:
    view = warden.with_actor("api:carol")
    view.watchlists.create("staff", purpose="t", lawful_basis="t")
    assert warden.audit.entries(limit=10)[-1].actor == "api:carol"
    warden.close()
    warden.close()
    calls = (
        warden.registry.subjects,
        view.watchlists.all,
        view.audit.verify,
        lambda: warden.with_actor("x"),
    )
    for call in calls:
        with pytest.raises(FacewardenError, match="closed"):
            call()


def test_watchlists_need_a_purpose_a_basis_and_a_calibrated_fmr(warden: Warden) -> None:
    with pytest.raises(InvalidInputError, match="purpose"):
        warden.watchlists.create("a", purpose=" ", lawful_basis="t")
    with pytest.raises(InvalidInputError, match="lawful basis"):
        warden.watchlists.create("a", purpose="t", lawful_basis="")
    with pytest.raises(InvalidInputError, match="FMR"):
        warden.watchlists.create("a", purpose="t", lawful_basis="t", fmr=0.5)
    created = warden.watchlists.create("a", purpose="t", lawful_basis="t", fmr=1e-4)
    with pytest.raises(ConflictError):
        warden.watchlists.create("a", purpose="t", lawful_basis="t")
    assert warden.watchlists.get(created.watchlist_id).name == "a"
    assert (
        warden.watchlists.threshold("a")
        > warden.watchlists.create("b", purpose="t", lawful_basis="t", fmr=1e-2).fmr
    )
