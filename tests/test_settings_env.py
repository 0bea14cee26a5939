"""A ``FACEWARDEN_*`` variable that is no setting is named, with the setting it resembles.

Found by hand: a misspelt variable (``FACEWARDEN_DATA_DIRECTORY``,
``FACEWARDEN_TRUSTED_PROXY``, ``FACEWARDEN_HISTORY_NEEDS_APPROVALS``) was ignored
without a word, so the deployment ran on the default (another data directory,
no trusted proxy, history without approval) while its operator believed otherwise.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from facewarden.config import Settings


@pytest.fixture(autouse=True)
def _no_ambient_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.upper().startswith("FACEWARDEN_")]:
        monkeypatch.delenv(name)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "facewarden.config"]


def test_a_misspelt_variable_is_named_with_the_setting_it_resembles(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.WARNING, logger="facewarden.config")
    monkeypatch.setenv("FACEWARDEN_DATA_DIRECTORY", str(tmp_path))
    monkeypatch.setenv("FACEWARDEN_HISTORY_NEEDS_APPROVALS", "true")
    monkeypatch.setenv("FACEWARDEN_FROBNICATE", "1")
    settings = Settings.load()
    assert settings.data_dir == Path("facewarden-data") and not settings.history_needs_approval
    assert sorted(_warnings(caplog)) == [
        "FACEWARDEN_DATA_DIRECTORY is not a facewarden setting and is ignored "
        "(FACEWARDEN_DATA_DIR?)",
        "FACEWARDEN_FROBNICATE is not a facewarden setting and is ignored",
        "FACEWARDEN_HISTORY_NEEDS_APPROVALS is not a facewarden setting and is ignored "
        "(FACEWARDEN_HISTORY_NEEDS_APPROVAL?)",
    ]


def test_the_settings_themselves_are_read_without_a_word(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.WARNING, logger="facewarden.config")
    monkeypatch.setenv("FACEWARDEN_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("facewarden_port", "8001")  # read whatever the case, as pydantic does
    settings = Settings.load()
    assert settings.data_dir == tmp_path and settings.port == 8001
    assert _warnings(caplog) == []
