"""Acceptance 5: retention with an injected clock, and erasure.

Expired data is gone after a purge, its bytes included (checked by scanning
the database file and its WAL); an erased subject's own photo no longer
matches anyone, and their export is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from facewarden.errors import NotFoundError
from facewarden.privacy import ManualClock
from facewarden.service import SubjectRecord, Warden, database_path

from ._data import KNN
from .conftest import make_settings

pytestmark = pytest.mark.slow

OBAMA = KNN / "train" / "obama"
BIDEN = KNN / "train" / "biden"


def _disk_bytes(warden: Warden) -> bytes:
    db = database_path(warden.settings)
    wal = db.with_name(db.name + "-wal")
    return db.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def _found(blob: bytes, disk: bytes) -> int:
    """How many 32-byte samples of ``blob`` are on disk (large values span SQLite pages)."""
    return sum(blob[i : i + 32] in disk for i in range(0, max(1, len(blob) - 32), 499))


def _samples(blob: bytes) -> int:
    return len(range(0, max(1, len(blob) - 32), 499))


def test_expired_photos_leave_the_disk_and_templates_stay(
    tmp_path: Path, clock: ManualClock
) -> None:
    settings = make_settings(tmp_path, keep_enrollment_photos=True, photo_retention_days=30)
    with Warden.open(settings, clock=clock, create=True) as warden:
        warden.watchlists.create("staff", purpose="test", lawful_basis="test")
        record = SubjectRecord(full_name="Barack Obama", lawful_basis="consent form 17")
        enrolled = warden.registry.enroll(record, [OBAMA / "obama.jpg"], watchlists=["staff"])
        [photo] = warden.store.photos_of(enrolled.subject_id)
        export = warden.registry.export(enrolled.subject_id)
        assert export["faces"][0]["photo_jpeg_base64"]  # type: ignore[index]
        warden.store.checkpoint()
        assert _found(photo.ciphertext, _disk_bytes(warden)) > _samples(photo.ciphertext) // 2

        clock.advance(timedelta(days=29))
        assert warden.purge().deleted["enrollment_photos"] == 0
        assert len(warden.store.photos_of(enrolled.subject_id)) == 1

        clock.advance(timedelta(days=2))
        report = warden.purge()
        assert report.deleted["enrollment_photos"] == 1
        assert warden.store.photos_of(enrolled.subject_id) == []
        assert _found(photo.ciphertext, _disk_bytes(warden)) == 0  # bytes included
        subject = warden.registry.get(enrolled.subject_id)
        assert [f.has_photo for f in subject.faces] == [False]
        result = warden.recognition.identify(OBAMA / "obama2.jpg", "staff")
        assert result.matched_subjects == (enrolled.subject_id,)  # the template stays
        assert [e.action for e in warden.audit.entries(limit=100)].count("retention.purge") == 2


def test_subjects_not_updated_within_retention_are_erased_with_a_tombstone(
    tmp_path: Path, clock: ManualClock, enroll: Callable[..., object], faces_dir: object
) -> None:
    settings = make_settings(tmp_path, subject_retention_days=90)
    with Warden.open(settings, clock=clock, create=True) as warden:
        warden.watchlists.create("visitors", purpose="test", lawful_basis="test")
        old = enroll(warden, "Joe Biden", sorted(BIDEN.iterdir()), watchlists=["visitors"])
        clock.advance(timedelta(days=60))
        kept = enroll(warden, "Barack Obama", sorted(OBAMA.iterdir()), watchlists=["visitors"])
        clock.advance(timedelta(days=31))
        report = warden.purge()
        assert report.erased_subjects == (old.subject_id,)  # type: ignore[attr-defined]
        with pytest.raises(NotFoundError):
            warden.registry.get(old.subject_id)  # type: ignore[attr-defined]
        warden.registry.get(kept.subject_id)  # type: ignore[attr-defined]
        assert warden.recognition.identify(
            KNN / "test" / "obama_and_biden.jpg", "visitors"
        ).matched_subjects == (kept.subject_id,)  # type: ignore[attr-defined]
        tombstone = [
            e
            for e in warden.audit.about(old.subject_id)  # type: ignore[attr-defined]
            if e.action == "subject.erase"
        ]
        assert len(tombstone) == 1 and tombstone[0].purpose == "retention"
        assert warden.audit.verify().ok


def test_a_restricted_subject_is_kept_past_retention_until_the_restriction_is_lifted(
    tmp_path: Path, clock: ManualClock
) -> None:
    """Art. 18: a person restricts processing to have their data kept (a legal claim,
    an objection being settled): "the person is kept". The retention purge erased
    them all the same once their record aged out; storage is what a restriction
    still allows, so it keeps them, and erases them at the first purge after it is lifted."""
    settings = make_settings(tmp_path, subject_retention_days=90)
    with Warden.open(settings, clock=clock, create=True) as warden:
        restricted = warden.registry.enroll(
            SubjectRecord(full_name="Barack Obama", lawful_basis="t"), [OBAMA / "obama.jpg"]
        ).subject_id
        other = warden.registry.enroll(
            SubjectRecord(full_name="Joe Biden", lawful_basis="t"), [BIDEN / "biden.jpg"]
        ).subject_id
        warden.restrictions.restrict(restricted, reason="legal claim, case 7")
        clock.advance(timedelta(days=91))

        report = warden.purge()

        assert report.erased_subjects == (other,)
        assert warden.registry.get(restricted).restricted
        warden.restrictions.lift(restricted)
        assert warden.purge().erased_subjects == (restricted,)


def test_an_erased_subject_no_longer_matches_and_cannot_be_exported(
    tmp_path: Path, clock: ManualClock
) -> None:
    settings = make_settings(tmp_path, keep_enrollment_photos=True)
    with Warden.open(settings, clock=clock, create=True) as warden:
        warden.watchlists.create("staff", purpose="test", lawful_basis="test")
        obama = warden.registry.enroll(
            SubjectRecord(full_name="Barack Obama", lawful_basis="consent 1", id_number="P-1961"),
            [OBAMA / "obama.jpg"],
            watchlists=["staff"],
        )
        biden = warden.registry.enroll(
            SubjectRecord(full_name="Joe Biden", lawful_basis="consent 2"),
            [BIDEN / "biden.jpg"],
            watchlists=["staff"],
        )
        photo = OBAMA / "obama.jpg"  # the very photo that was enrolled
        assert warden.recognition.identify(photo, "staff").matched_subjects == (obama.subject_id,)
        warden.store.checkpoint()
        stored = [f.template for f in warden.store.faces_of(obama.subject_id)]
        stored += [p.ciphertext for p in warden.store.photos_of(obama.subject_id)]
        assert all(_found(blob, _disk_bytes(warden)) > _samples(blob) // 2 for blob in stored)

        warden.registry.erase(obama.subject_id, purpose="erasure request #42")

        result = warden.recognition.identify(photo, "staff", top_k=5)
        assert result.matched_subjects == ()
        assert {c.subject_id for f in result.faces for c in f.candidates} == {biden.subject_id}
        with pytest.raises(NotFoundError):
            warden.registry.export(obama.subject_id)
        with pytest.raises(NotFoundError):
            warden.registry.find_by_id_number("P-1961")
        with pytest.raises(NotFoundError):
            warden.recognition.verify(photo, obama.subject_id)
        assert warden.store.faces_of(obama.subject_id) == []
        assert warden.store.photos_of(obama.subject_id) == []
        assert warden.store.watchlists_of(obama.subject_id) == []
        assert not any(_found(blob, _disk_bytes(warden)) for blob in stored)
        [tombstone] = [
            e for e in warden.audit.about(obama.subject_id) if e.action == "subject.erase"
        ]
        assert tombstone.object_id == obama.subject_id
        assert tombstone.purpose == "erasure request #42"
        assert dict(tombstone.details) == {"faces": 1}
        assert warden.audit.verify().ok
        assert warden.registry.export(biden.subject_id)["subject_id"] == biden.subject_id

    with Warden.open(settings, clock=clock) as reopened:  # the rebuilt index agrees
        assert reopened.recognition.identify(photo, "staff").matched_subjects == ()
