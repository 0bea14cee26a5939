"""A re-run import does not enroll again a person erased since (GDPR Art. 17).

An HR sync imports its sheet every night; the import is resumable, so people
enrolled before are skipped by their import record. Erasing a person deletes
that record with them: the next run enrolled them again, silently undoing
the erasure. Real photos (dlib's johns), real SQLite, the real CLI.
"""

from __future__ import annotations

import csv
from datetime import timedelta
from pathlib import Path

import pytest

from facewarden.errors import NotFoundError
from facewarden.privacy import ManualClock
from facewarden.privacy.suppressions import SUPPRESSIONS
from facewarden.service import Warden
from facewarden.service.bulk import ERASED, items_from_csv
from facewarden.service.records import id_index

from ._data import johns_split
from .conftest import T0, make_settings


def _sheet(path: Path, people: dict[str, str]) -> Path:
    """A CSV of johns: each with their ID number and first two photos."""
    split = johns_split()
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["full_name", "id_number", "photo"])
        writer.writeheader()
        for name, number in people.items():
            photos = ";".join(str(p) for p in split[name][0][:2])
            writer.writerow({"full_name": name, "id_number": number, "photo": photos})
    return path


def test_an_erased_person_is_not_imported_again_unless_allowed(
    warden: Warden, tmp_path: Path
) -> None:
    erased, kept = sorted(johns_split())[:2]
    sheet = _sheet(tmp_path / "hr.csv", {erased: "HR-1", kept: "HR-2"})
    first = warden.bulk.run(items_from_csv(sheet, lawful_basis="contract"), workers=1)
    assert first.enrolled == 2
    subject_id = warden.registry.find_by_id_number("HR-1").subject_id
    source = warden.bulk.source_key(next(items_from_csv(sheet, lawful_basis="x")).source_id)
    warden.registry.erase(subject_id)

    again = warden.bulk.run(items_from_csv(sheet, lawful_basis="contract"), workers=1)

    assert (again.enrolled, again.already) == (0, 1)
    (skipped,) = again.skipped
    assert skipped.source.endswith("#2") and skipped.reasons == (ERASED,)
    with pytest.raises(NotFoundError):
        warden.registry.find_by_id_number("HR-1")
    # The file names no one and holds neither the source's key nor the number's token
    # (nor a token of the number: with the key directory it would give the number back).
    held = (warden.settings.resolved_key_dir / SUPPRESSIONS).read_text()
    token = id_index(warden._ctx.envelope, "HR-1")
    assert token is not None
    for value in (source, token, erased, "HR-1", subject_id, str(sheet)):
        assert value not in held
    assert len(held.splitlines()) == 1 + 1  # the key, the source's token

    allowed = warden.bulk.run(
        items_from_csv(sheet, lawful_basis="new consent"), workers=1, allow_erased=True
    )

    assert allowed.enrolled == 1
    back = warden.registry.find_by_id_number("HR-1").subject_id
    (entry,) = [e for e in warden.audit.about(back) if e.action == "import.allow_erased"]
    assert entry.object_id == back
    # Lifted: the next plain run finds them done, not erased.
    assert warden.bulk.run(items_from_csv(sheet, lawful_basis="x"), workers=1).already == 2


def test_a_person_deleted_by_retention_is_imported_again(tmp_path: Path) -> None:
    """Only an erasure is suppressed: the retention purge deletes people no longer needed,
    and an import that brings them again (the HR sheet still names them) is a new need.

    Suppressed, every imported person would be skipped for good once their record
    aged out, and a nightly sync would fail on each of them every night.
    """
    clock = ManualClock(T0)
    settings = make_settings(tmp_path, subject_retention_days=30)
    name = sorted(johns_split())[0]
    sheet = _sheet(tmp_path / "hr.csv", {name: "HR-7"})
    with Warden.open(settings, clock=clock, create=True, actor="test:hr") as warden:
        assert warden.bulk.run(items_from_csv(sheet, lawful_basis="c"), workers=1).enrolled == 1
        clock.advance(timedelta(days=31))
        assert warden.purge().erased_subjects
        again = warden.bulk.run(items_from_csv(sheet, lawful_basis="c"), workers=1)
        assert (again.enrolled, again.skipped) == (1, [])
