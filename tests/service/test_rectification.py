"""Rectification (GDPR Art. 16) reaches every copy of a corrected field.

A CompreFace subject is named by its record's full name, and found again
through a keyed token of that name (its alias). A name corrected through
the native registry (``PATCH /v1/subjects/{id}``, ``subjects update``) must
be the name CompreFace clients address the person by from then on, and the
old, wrong name must no longer find them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from facewarden.errors import ConflictError
from facewarden.privacy import ManualClock
from facewarden.service import Warden
from facewarden.service.compreface_errors import SubjectNotFoundError

from .conftest import make_settings


@pytest.fixture
def deployment(tmp_path: Path, clock: ManualClock) -> Warden:
    settings = make_settings(tmp_path, compreface_lawful_basis="consent form on file (test)")
    return Warden.open(settings, clock=clock, create=True, actor="operator:ann")


def test_a_name_corrected_in_the_registry_is_the_compreface_name_and_the_old_one_is_gone(
    deployment: Warden,
) -> None:
    with deployment as warden:
        warden.compreface.add_subject("Barak Obama")  # misspelt at enrollment
        subject_id = warden.compreface.resolve("Barak Obama")
        warden.registry.update(subject_id, {"full_name": "Barack Obama"}, purpose="art. 16 req 5")
        assert warden.compreface.subjects() == ["Barack Obama"]
        assert warden.compreface.resolve("barack obama") == subject_id
        with pytest.raises(SubjectNotFoundError):
            warden.compreface.resolve("Barak Obama")
        assert warden.compreface.rename_subject("Barack Obama", "Barack H. Obama")
        assert warden.registry.get(subject_id).record.full_name == "Barack H. Obama"


def test_a_correction_onto_another_compreface_subjects_name_is_refused_and_changes_nothing(
    deployment: Warden,
) -> None:
    with deployment as warden:
        warden.compreface.add_subject("Barak Obama")
        warden.compreface.add_subject("Joe Biden")
        subject_id = warden.compreface.resolve("Barak Obama")
        other = warden.compreface.resolve("Joe Biden")
        with pytest.raises(ConflictError, match="CompreFace"):
            warden.registry.update(subject_id, {"full_name": "joe biden"})
        assert warden.registry.get(subject_id).record.full_name == "Barak Obama"
        assert warden.compreface.resolve("Barak Obama") == subject_id
        assert warden.compreface.resolve("Joe Biden") == other
