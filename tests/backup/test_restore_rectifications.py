"""A restore does not bring back a record corrected after the backup (GDPR Art. 16, 5(1)(d)),
nor a wrong face removed since.

A person's name was misspelt and their ID number mistyped; the DPO corrects
both after the nightly archive was written. A restore of that archive would
silently bring the wrong values back, under which the person is then looked
up, exported and named to operators. The correction is recorded in the key
directory's revocation ledger, sealed under the person's own key, and
opening the restored database corrects the record again. Real photos
(dlib's johns), on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from facewarden.errors import NotFoundError
from facewarden.privacy.revocations import REVOCATIONS
from facewarden.service import SubjectRecord, Warden
from facewarden.service.backup import restore
from facewarden.types import Face

from ._deployments import MARKER, WATCHLIST, Deploy, enroll_all, fresh

CORRECTED = f"{MARKER} Corrected Spelling"


def test_a_correction_made_after_the_backup_holds_after_restore(
    deploy: Deploy, tmp_path: Path, johns: dict[str, list[list[Face]]]
) -> None:
    settings = deploy(tmp_path / "live")
    archive = tmp_path / "deployment.fwbackup"
    corrected, erased, untouched = sorted(johns)[:3]
    with Warden.open(settings, create=True, actor="test:live") as warden:
        ids = enroll_all(warden, {n: johns[n] for n in (corrected, erased, untouched)})
        warden.registry.update(ids[corrected], {"id_number": "WRONG-1", "notes": "first"})
        warden.registry.update(ids[erased], {"full_name": f"{MARKER} Erased Later"})
        warden.backup_archive(archive)
        warden.registry.update(
            ids[corrected], {"full_name": CORRECTED, "id_number": "RIGHT-2", "notes": None}
        )
        warden.registry.update(ids[erased], {"full_name": f"{MARKER} Erased Corrected"})
        warden.registry.erase(ids[erased])
    target = fresh(deploy, settings, tmp_path / "restored")

    report = restore(archive, target)

    with Warden.open(target, actor="test:restored") as warden:
        record = warden.registry.get(ids[corrected]).record
        assert (record.full_name, record.id_number, record.notes) == (CORRECTED, "RIGHT-2", None)
        assert report.revocations_reapplied.subjects_rectified == 1
        assert warden.registry.find_by_id_number("RIGHT-2").subject_id == ids[corrected]
        with pytest.raises(NotFoundError):
            warden.registry.find_by_id_number("WRONG-1")
        assert warden.registry.get(ids[untouched]).record.full_name == f"{MARKER} {untouched}"
        (entry,) = [e for e in warden.audit.about(ids[corrected]) if e.details.get("reapplied")]
        assert entry.action == "subject.update"
        assert list(entry.details["fields"]) == ["full_name", "id_number", "notes"]
        with pytest.raises(NotFoundError):
            warden.registry.get(ids[erased])
        # Corrected again here, it stays so: the next open changes nothing.
        warden.registry.update(ids[corrected], {"full_name": f"{MARKER} Third"})
    # The ledger holds the corrections sealed: no value of them in clear.
    ledger = (target.resolved_key_dir / REVOCATIONS).read_bytes()
    for value in (b"Corrected", b"Third", b"RIGHT-2", b"WRONG-1", b"Erased", MARKER.encode()):
        assert value not in ledger
    with Warden.open(target, actor="test:reopened") as warden:
        assert warden.revocations_reapplied.subjects_rectified == 0
        assert warden.registry.get(ids[corrected]).record.full_name == f"{MARKER} Third"


def test_a_value_the_ledger_does_not_know_is_left_alone(
    deploy: Deploy, tmp_path: Path, johns: dict[str, list[list[Face]]]
) -> None:
    """A database that holds a value this key directory never recorded keeps it.

    Another host's copy of the key directory made that correction: this
    ledger's older correction must not undo it. Only a value the ledger
    records as replaced is replaced, as with passwords.
    """
    settings = deploy(tmp_path / "live")
    (name,) = sorted(johns)[:1]
    with Warden.open(settings, create=True, actor="test:live") as warden:
        ids = enroll_all(warden, {name: johns[name]})
        subject_id = ids[name]
        warden.registry.update(subject_id, {"full_name": f"{MARKER} Ledgered"})
        ledger = settings.resolved_key_dir / REVOCATIONS
        recorded = ledger.read_bytes()
        warden.registry.update(subject_id, {"full_name": f"{MARKER} Elsewhere"})
    # As if the last correction were made through another copy of the key directory.
    ledger.write_bytes(recorded)
    with Warden.open(settings, actor="test:reopened") as warden:
        assert warden.revocations_reapplied.subjects_rectified == 0
        assert warden.registry.get(subject_id).record.full_name == f"{MARKER} Elsewhere"


def test_a_wrong_face_removed_after_the_backup_stays_removed_after_restore(
    deploy: Deploy, tmp_path: Path, johns: dict[str, list[list[Face]]]
) -> None:
    """A bystander's photo enrolled by mistake under someone else, removed since.

    A restore brought the face back: the bystander was identified as the other
    person again, by every camera, and nobody knew (Art. 16, 5(1)(d)). The
    removal is recorded in the ledger (the face's random id) and re-applied.
    """
    settings = deploy(tmp_path / "live")
    archive = tmp_path / "deployment.fwbackup"
    person, bystander = sorted(johns)[:2]
    with Warden.open(settings, create=True, actor="test:live") as warden:
        warden.watchlists.create(WATCHLIST, purpose="backup test", lawful_basis="test")
        faces = [warden.registry.prepare_detected(f, source=person) for f in johns[person][:2]]
        wrong = warden.registry.prepare_detected(johns[bystander][0], source=bystander)
        record = SubjectRecord(full_name=f"{MARKER} {person}", lawful_basis="test")
        enrolled = warden.registry.enroll_prepared(
            record, [*faces, wrong], watchlists=[WATCHLIST], force=True
        )
        subject_id, wrong_face = enrolled.subject_id, enrolled.face_ids[2]
        assert _matched(warden, johns, bystander) == [subject_id]
        warden.backup_archive(archive)
        warden.faces.remove(subject_id, wrong_face)
        assert _matched(warden, johns, bystander) == []
    target = fresh(deploy, settings, tmp_path / "restored")

    restore(archive, target)

    with Warden.open(target, actor="test:restored") as warden:
        assert _matched(warden, johns, bystander) == []
        assert _matched(warden, johns, person) == [subject_id]
        kept = [f.face_id for f in warden.registry.get(subject_id).faces]
        assert wrong_face not in kept and len(kept) == 2
        (entry,) = [e for e in warden.audit.about(subject_id) if e.details.get("reapplied")]
        assert entry.action == "face.remove" and entry.details["face"] == wrong_face
    with Warden.open(target, actor="test:reopened") as warden:
        assert _matched(warden, johns, bystander) == []


def _matched(warden: Warden, johns: dict[str, list[list[Face]]], name: str) -> list[str]:
    """The subjects matched on the watchlist by ``name``'s third photo."""
    result = warden.recognition.identify_faces(
        [johns[name][2][0]], WATCHLIST, top_k=1, purpose="restore test"
    )
    return [m.subject_id for face in result.faces for m in face.matches]
