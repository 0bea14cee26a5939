"""A subject access export (GDPR Art. 15) holds everything the store holds about the person.

Real photos, the real frame processor writing the sightings of a real frame
(Obama and Biden side by side, at one camera), the real desk deciding and
annotating the alerts, a real location-history request, on SQLite and on the
``pg_server`` fixture's PostgreSQL. Obama's export must hold his sighting
(camera, place, time, the face crop kept), the desk's decision and notes
about it, the history request about him and who read his sighting; and
nothing of Biden, who stood in the same frame.
"""

from __future__ import annotations

import base64
import json
import secrets
import tracemalloc
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from facewarden.imaging import decode
from facewarden.privacy import ManualClock
from facewarden.service import SubjectRecord, Warden
from facewarden.service.audit import REDACTED
from facewarden.service.export import EXPORT_FORMAT
from facewarden.service.frames import FrameProcessor

from ._data import KNN
from .conftest import T0, make_settings

FRAME = KNN / "test" / "obama_and_biden.jpg"


@pytest.fixture(params=["sqlite", "postgres"])
def deployment(
    request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock
) -> Iterator[Warden]:
    overrides: dict[str, object] = {
        "keep_enrollment_photos": True,
        "history_needs_approval": True,
        "mode": "fast",
        "enroll_mode": "fast",
    }
    if request.param == "postgres":
        server = request.getfixturevalue("pg_server")
        overrides["database_url"] = server.create_database(f"x_{secrets.token_hex(6)}")
    settings = make_settings(tmp_path, **overrides)
    with Warden.open(settings, clock=clock, create=True, actor="operator:ann") as warden:
        yield warden


def _enroll(warden: Warden, name: str, photo: Path) -> str:
    record = SubjectRecord(full_name=name, lawful_basis="site policy 4")
    return warden.registry.enroll(record, [photo], watchlists=["entrance"]).subject_id


def _seen_at_the_door(warden: Warden, faces_dir: Path) -> dict[str, str]:
    """Obama and Biden enrolled, then seen together in one frame: subject id -> sighting id."""
    assert faces_dir.exists()
    warden.watchlists.create("entrance", purpose="site access", lawful_basis="contract")
    obama = _enroll(warden, "Barack Obama", KNN / "train" / "obama" / "obama.jpg")
    biden = _enroll(warden, "Joe Biden", KNN / "train" / "biden" / "biden.jpg")
    warden.cameras.add(
        "door",
        location="north entrance",
        latitude=48.8566,
        longitude=2.3522,
        watchlists=["entrance"],
        keep_thumbnails=True,
    )
    processor = FrameProcessor(warden, "door")
    processor.process(decode(FRAME), T0)
    processor.finish(T0 + timedelta(seconds=1))
    seen = {}
    for subject in (obama, biden):
        rows = warden.store.sightings_of(subject, T0 - timedelta(hours=1))
        assert len(rows) == 1, f"{subject} was not seen once"
        seen[subject] = rows[0].sighting_id
    return seen


def test_an_export_holds_the_persons_sightings_decisions_notes_and_history_requests(
    deployment: Warden, faces_dir: Path, clock: ManualClock
) -> None:
    warden = deployment
    seen = _seen_at_the_door(warden, faces_dir)
    obama, biden = seen
    desk = warden.alert_desk
    desk.review(seen[obama], role="operator")
    desk.decide(seen[obama], "escalated", role="operator", note="handed to the site police")
    desk.add_note(seen[obama], "confirmed by the guard on site", role="operator")
    desk.decide(seen[biden], "dismissed", role="operator", note="Biden note: a false match")
    investigator = warden.with_actor("investigator:ines")
    pending = investigator.sightings.history(
        obama, 24, role="investigator", case_reference="case 7/26", reason="theft at the gate"
    )
    assert pending.pending and pending.request_id is not None
    investigator.sightings.history(biden, 2, role="investigator", case_reference="case 8/26")
    warden.recognition.identify(FRAME, "entrance", purpose="door check")
    clock.advance(timedelta(minutes=5))
    before = warden.store.last_audit_seq()

    export = warden.registry.export(obama, purpose="art. 15 request 3")

    assert export["format"] == EXPORT_FORMAT == "facewarden-subject-export/3"
    after = [e for e in warden.audit.entries(after_seq=before, limit=100)]
    assert [e.action for e in after] == ["subject.export"]  # one export event
    [sighting] = export["sightings"]  # type: ignore[misc]
    assert sighting["sighting_id"] == seen[obama]
    assert sighting["camera"] == {
        "camera_id": warden.store.camera_by_name("door").camera_id,  # type: ignore[union-attr]
        "name": "door",
        "location": "north entrance",
        "latitude": 48.8566,
        "longitude": 2.3522,
    }
    assert sighting["watchlist"] == {  # why he was looked for there (Art. 15(1)(a))
        "watchlist_id": warden.watchlists.get("entrance").watchlist_id,
        "name": "entrance",
        "purpose": "site access",
        "lawful_basis": "contract",
    }
    assert sighting["first_seen"] == T0.isoformat()
    assert sighting["expires_at"] > T0.isoformat()
    crop = base64.b64decode(sighting["face_crop_jpeg_base64"])
    assert crop.startswith(b"\xff\xd8\xff")
    assert decode(crop).shape[0] > 20  # a real face crop, decoded
    assert sighting["decision"] == {
        "decision": "escalated",
        "decided_by": "operator:ann",
        "decided_at": (T0).isoformat(),
        "note": "handed to the site police",
    }
    assert sighting["notes"] == [
        {
            "written_by": "operator:ann",
            "written_at": T0.isoformat(),
            "note": "confirmed by the guard on site",
        }
    ]
    # Who read this sighting of him at the desk, and what the desk did with it.
    actions = [e["action"] for e in sighting["audit"]]
    assert actions == ["sighting.record", "alert.show", "alert.escalate", "alert.note"]
    [request] = export["history_requests"]  # type: ignore[misc]
    assert request == {
        "request_id": pending.request_id,
        "hours": 24,
        "requested_by": "investigator:ines",
        "requested_at": T0.isoformat(),
        "status": "pending",
        "decided_by": None,
        "decided_at": None,
        "case_reference": REDACTED,
        "reason": REDACTED,
    }
    history_actions = [e["action"] for e in export["audit"]]  # type: ignore[index, union-attr]
    assert "sightings.history_request" in history_actions and "identify" in history_actions
    text = json.dumps(export, ensure_ascii=False)
    # Nothing of the other person in the frame: not his id, sighting, name or note.
    for other in (biden, seen[biden], "Joe Biden", "Biden note", "case 8/26"):
        assert other not in text
    # No secret: no template, wrapped key, blind-index token or sealed case reference.
    for secret in ("template", "wrapped_key", "id_index", "ft1:"):
        assert secret not in text
    # The typed text of the audit (purposes, case references) stays an admin's to read.
    assert "case 7/26" not in text and "theft at the gate" not in text


def test_an_erased_subjects_sightings_and_desk_notes_are_gone_with_them(
    deployment: Warden, faces_dir: Path
) -> None:
    warden = deployment
    seen = _seen_at_the_door(warden, faces_dir)
    obama, biden = seen
    warden.alert_desk.decide(seen[obama], "acknowledged", role="operator", note="seen, fine")
    warden.registry.erase(obama, purpose="art. 17 request 9")
    assert warden.store.get_sighting(seen[obama]) is None
    assert warden.store.alert_decisions([seen[obama]]) == {}
    assert warden.store.alert_notes(seen[obama]) == []
    export = warden.registry.export(biden)
    assert [s["sighting_id"] for s in export["sightings"]] == [seen[biden]]  # type: ignore[union-attr]


def test_a_person_seen_many_times_is_exported_page_by_page_in_bounded_memory(
    deployment: Warden, faces_dir: Path, tmp_path: Path
) -> None:
    """Every sighting once, in order, across page ends and ties, never all in memory at once.

    Two cameras see him at the same moments (ties on ``last_seen``), each
    sighting keeping a 100 kB face crop; pages of 7 hold about 2 MB where the
    whole export is about 16 MB.
    """
    warden = deployment
    warden.watchlists.create("entrance", purpose="site access", lawful_basis="contract")
    obama = _enroll(warden, "Barack Obama", KNN / "train" / "obama" / "obama.jpg")
    crop = (faces_dir / "face_recognition" / "examples" / "obama-480p.jpg").read_bytes()
    cameras = []
    for name in ("door", "gate"):
        warden.cameras.add(name, location=name, watchlists=["entrance"], keep_thumbnails=True)
        cameras.append(warden.store.camera_by_name(name))
    recorded = []
    for minute in range(40):
        at = T0 + timedelta(minutes=minute)
        for camera in cameras:
            assert camera is not None
            recorded.append(
                warden.sightings.open_visit(
                    camera, obama, camera.watchlists[0], at, at + timedelta(seconds=3), 0.9, crop
                )
            )
    out = tmp_path / "export.json"
    tracemalloc.start()
    try:
        with out.open("w", encoding="utf-8") as handle:
            for chunk in warden.registry.export_chunks(obama, purpose="art. 15", page=7):
                handle.write(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = out.stat().st_size
    assert size > 80 * len(crop)  # every crop is in it (base64)
    assert peak < size / 4, f"{peak} bytes held at once for a {size}-byte export"
    export = json.loads(out.read_text(encoding="utf-8"))
    exported = [s["sighting_id"] for s in export["sightings"]]
    assert sorted(exported) == sorted(recorded)  # each once
    order = [(s["last_seen"], s["sighting_id"]) for s in export["sightings"]]
    assert order == sorted(order)
    assert all(base64.b64decode(s["face_crop_jpeg_base64"]) == crop for s in export["sightings"])


def test_a_person_with_many_kept_photos_is_exported_one_photo_at_a_time(
    deployment: Warden, faces_dir: Path, tmp_path: Path
) -> None:
    """Faces per subject are not capped: their kept photos were all decrypted at once.

    The export's head held every photo (ciphertext, plaintext and base64) in
    memory before the first byte was written. 60 faces kept (67 kB crops of a
    1080p photo) make an export of about 5.4 MB; it is written holding a quarter
    of that at most.
    """
    warden = deployment
    prepared = warden.registry.prepare(
        faces_dir / "face_recognition" / "examples" / "obama-1080p.jpg"
    )
    assert prepared.photo_jpeg is not None and len(prepared.photo_jpeg) > 50_000
    record = SubjectRecord(full_name="Barack Obama", lawful_basis="site policy 4")
    obama = warden.registry.enroll_prepared(record, [prepared] * 60).subject_id
    out = tmp_path / "export.json"
    tracemalloc.start()
    try:
        with out.open("w", encoding="utf-8") as handle:
            for chunk in warden.registry.export_chunks(obama, purpose="art. 15", page=7):
                handle.write(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = out.stat().st_size
    assert size > 60 * len(prepared.photo_jpeg)  # every photo is in it (base64)
    assert peak < size / 4, f"{peak} bytes held at once for a {size}-byte export"
    export = json.loads(out.read_text(encoding="utf-8"))
    assert len(export["faces"]) == 60 and len({f["face_id"] for f in export["faces"]}) == 60
    photos = [base64.b64decode(f["photo_jpeg_base64"]) for f in export["faces"]]
    assert photos == [prepared.photo_jpeg] * 60
    assert export["record"]["full_name"] == "Barack Obama" and export["watchlists"] == []


def test_who_accessed_the_person_names_the_desk_that_showed_and_decided_their_alerts(
    deployment: Warden, faces_dir: Path
) -> None:
    """A DPO asking "who looked this person up?" (``audit list --about``, ``GET
    /v1/audit?about=``, docs/data-protection.md): showing an alert puts the
    person's name and photos on a desk, yet those entries are filed under the
    sighting, which names no one. While the sighting is kept they are theirs,
    as in their export; the desk's work on Biden, in the same frame, is not."""
    warden = deployment
    seen = _seen_at_the_door(warden, faces_dir)
    obama, biden = seen
    desk = warden.with_actor("operator:olga").alert_desk
    desk.review(seen[obama], role="operator")
    desk.photo(seen[obama], "enrolled", role="operator")
    desk.decide(seen[obama], "acknowledged", role="operator")
    desk.add_note(seen[obama], "left at nine", role="operator")
    desk.review(seen[biden], role="operator")
    desk.decide(seen[biden], "dismissed", role="operator")

    about = warden.audit.entries(about=obama, limit=100)

    by_sighting = [(e.action, e.actor) for e in about if e.object_id == seen[obama]]
    assert by_sighting == [
        ("sighting.record", "operator:ann"),  # the processor runs as the warden
        ("alert.show", "operator:olga"),
        ("alert.photo", "operator:olga"),
        ("alert.acknowledge", "operator:olga"),
        ("alert.note", "operator:olga"),
    ]
    assert all(e.object_id != seen[biden] for e in about)
    assert [e.seq for e in about] == sorted(e.seq for e in about)
    later = warden.audit.entries(about=obama, after_seq=about[1].seq, limit=2)
    assert [e.seq for e in later] == [e.seq for e in about[2:4]]  # pages as before
