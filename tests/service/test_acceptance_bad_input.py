"""Acceptance 7: bad input gives a typed error with a clear message, and loses nothing.

Each case first stores a subject, then provokes the error, then checks the
stored subject is intact: readable, identifiable, and the audit chain valid.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from facewarden.errors import (
    ConflictError,
    FaceNotFoundError,
    IntegrityError,
    KeyMaterialError,
    MultipleFacesError,
    NotFoundError,
)
from facewarden.imaging import decode
from facewarden.privacy import ManualClock
from facewarden.service import SubjectRecord, Warden, database_path

from ._data import FACES, KNN
from .conftest import make_settings

pytestmark = pytest.mark.slow

OBAMA = KNN / "train" / "obama" / "obama2.jpg"  # one face for every detector


@pytest.fixture
def stored(
    tmp_path: Path, clock: ManualClock, enroll: Callable[..., object], faces_dir: object
) -> Iterator[tuple[Warden, str]]:
    """A deployment holding Obama (ID number P-1) on watchlist 'staff'."""
    warden = Warden.open(make_settings(tmp_path / "site"), clock=clock, create=True)
    warden.watchlists.create("staff", purpose="test", lawful_basis="test")
    enrolled = enroll(warden, "Barack Obama", [OBAMA], watchlists=["staff"], id_number="P-1")
    yield warden, enrolled.subject_id  # type: ignore[attr-defined]
    warden.close()


def _intact(warden: Warden, subject_id: str, subjects: int = 1) -> None:
    assert warden.store.count_subjects() == subjects
    assert warden.registry.get(subject_id).record.id_number == "P-1"
    result = warden.recognition.identify(KNN / "test" / "obama1.jpg", "staff")
    assert result.matched_subjects == (subject_id,)
    assert warden.audit.verify().ok
    assert warden.integrity_check() == []


def _record(name: str = "Someone", **fields: str) -> SubjectRecord:
    return SubjectRecord(full_name=name, lawful_basis="test", **fields)


def test_no_face(stored: tuple[Warden, str]) -> None:
    warden, subject_id = stored
    dogs = FACES / "dlib" / "examples" / "faces" / "dogs.jpg"
    with pytest.raises(FaceNotFoundError, match=r"dogs\.jpg: no face found"):
        warden.registry.enroll(_record(), [dogs], watchlists=["staff"])
    _intact(warden, subject_id)


def test_several_faces_unless_one_is_chosen(stored: tuple[Warden, str]) -> None:
    warden, subject_id = stored
    photo = KNN / "test" / "kit_with_rose.jpg"
    with pytest.raises(MultipleFacesError, match="2 faces found; say which one") as caught:
        warden.registry.enroll(_record(), [photo])
    assert caught.value.count == 2
    _intact(warden, subject_id)
    chosen = warden.registry.enroll(_record("Kit Harington"), [photo], face_index=0)
    assert len(chosen.face_ids) == 1
    _intact(warden, subject_id, subjects=2)


def test_a_face_below_the_quality_bar_unless_forced(stored: tuple[Warden, str]) -> None:
    warden, subject_id = stored
    # Obama's portrait at a fifth of its light: found, but too dark to trust.
    dark = (decode(OBAMA).astype(np.float32) * 0.2).astype(np.uint8)
    with pytest.raises(FaceNotFoundError, match="not usable for recognition: face is too dark"):
        warden.registry.enroll(_record(), [dark])
    _intact(warden, subject_id)
    warden.registry.enroll(_record("Barack Obama, dark"), [dark], force=True)
    _intact(warden, subject_id, subjects=2)


def test_duplicate_id_number_written_differently(stored: tuple[Warden, str]) -> None:
    warden, subject_id = stored
    with pytest.raises(ConflictError, match="already enrolled with this ID number"):
        warden.registry.enroll(_record(id_number="p 1"), [KNN / "train" / "biden" / "biden.jpg"])
    _intact(warden, subject_id)
    other = warden.registry.enroll(
        _record(id_number="P-2"), [KNN / "train" / "biden" / "biden.jpg"]
    )
    with pytest.raises(ConflictError):
        warden.registry.update(other.subject_id, {"id_number": "P1"})
    _intact(warden, subject_id, subjects=2)


@pytest.mark.parametrize(
    "spelling",
    [
        "P\u22121",  # U+2212 MINUS SIGN
        "P-\u0661",  # Arabic-Indic digit one
        "P1_",  # trailing underscore
        "\uff30\uff0d\uff11",  # full-width
    ],
)
def test_the_same_document_in_another_script_is_a_duplicate(
    stored: tuple[Warden, str], enroll: Callable[..., object], spelling: str
) -> None:
    # Issue 13 finding 10, the attack: enrol the document "P-1" again, spelled otherwise.
    warden, subject_id = stored
    with pytest.raises(ConflictError, match="already enrolled with this ID number"):
        enroll(
            warden,
            "Barack Obama, again",
            [KNN / "train" / "biden" / "biden.jpg"],
            id_number=spelling,
        )
    _intact(warden, subject_id)


def test_unknown_watchlist(stored: tuple[Warden, str]) -> None:
    warden, subject_id = stored
    with pytest.raises(NotFoundError, match=r"no watchlist called 'nope'.*watchlists create"):
        warden.recognition.identify(OBAMA, "nope")
    with pytest.raises(NotFoundError, match="no watchlist called 'nope'"):
        warden.registry.enroll(
            _record(), [KNN / "train" / "biden" / "biden.jpg"], watchlists=["staff", "nope"]
        )
    with pytest.raises(NotFoundError):
        warden.watchlists.add("nope", subject_id)
    _intact(warden, subject_id)


def test_missing_key_directory(stored: tuple[Warden, str], tmp_path: Path) -> None:
    warden, subject_id = stored
    settings = warden.settings
    warden.close()
    keys = settings.resolved_key_dir
    hidden = keys.with_name("hidden-keys")
    keys.rename(hidden)
    with pytest.raises(KeyMaterialError, match=r"does not exist.*restore them from a backup"):
        Warden.open(settings)
    with pytest.raises(KeyMaterialError, match="new keys cannot read it"):
        Warden.open(settings, create=True)  # never papers over lost keys with new ones
    assert not keys.exists()
    hidden.rename(keys)
    with Warden.open(settings) as reopened:
        _intact(reopened, subject_id)


def test_wrong_key_directory(
    stored: tuple[Warden, str], tmp_path: Path, clock: ManualClock
) -> None:
    warden, subject_id = stored
    settings = warden.settings
    warden.close()
    Warden.open(make_settings(tmp_path / "other"), create=True).close()
    wrong = settings.model_copy(update={"key_dir": tmp_path / "other" / "keys"})
    with pytest.raises(
        KeyMaterialError, match=r"does not hold the keys database .* was written with.*--key-dir"
    ):
        Warden.open(wrong)
    with Warden.open(settings, clock=clock) as reopened:
        _intact(reopened, subject_id)


def test_key_directory_readable_by_others(stored: tuple[Warden, str]) -> None:
    warden, subject_id = stored
    settings = warden.settings
    warden.close()
    keys = settings.resolved_key_dir
    os.chmod(keys, 0o755)
    with pytest.raises(KeyMaterialError, match="chmod 700"):
        Warden.open(settings)
    os.chmod(keys, 0o700)
    with Warden.open(settings) as reopened:
        _intact(reopened, subject_id)


def test_corrupted_database_file(stored: tuple[Warden, str], tmp_path: Path) -> None:
    warden, subject_id = stored
    settings = warden.settings
    warden.store.checkpoint()
    warden.close()
    db = database_path(settings)
    backup = tmp_path / "backup.db"
    shutil.copy(db, backup)
    data = bytearray(db.read_bytes())
    for offset in range(4096, len(data) - 4096, 4096):
        data[offset + 16 : offset + 48] = secrets.token_bytes(32)
    db.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="restore it from a backup"):
        Warden.open(settings)
    db.write_bytes(b"not a database at all, just text " * 200)
    with pytest.raises(IntegrityError, match="not a readable facewarden database"):
        Warden.open(settings)
    shutil.copy(backup, db)  # what the message says to do
    with Warden.open(settings) as reopened:
        _intact(reopened, subject_id)


def test_missing_database_is_not_created_behind_the_users_back(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "nowhere")
    with pytest.raises(NotFoundError, match="facewarden init"):
        Warden.open(settings)
    assert not database_path(settings).exists()
    assert not settings.resolved_key_dir.exists()


def test_one_photo_or_watchlist_given_alone_is_one_not_its_characters(
    stored: tuple[Warden, str],
) -> None:
    # Found by probing the library: enroll(record, "biden.jpg", watchlists="staff")
    # took the path's characters for photos ("/: this is a folder, not an image
    # file") and the name's for watchlists ("no watchlist called 's'").
    warden, subject_id = stored
    biden = FACES / "face_recognition" / "examples" / "biden.jpg"
    for photo in (str(biden), biden, biden.read_bytes()):
        enrolled = warden.registry.enroll(_record("Joe Biden"), photo, watchlists="staff")  # type: ignore[arg-type]
        assert len(enrolled.face_ids) == 1
        found = warden.recognition.identify(biden, "staff")
        assert enrolled.subject_id in found.matched_subjects
        warden.registry.erase(enrolled.subject_id)
    _intact(warden, subject_id)
