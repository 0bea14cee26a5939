"""Shared fixtures: real key directories in temporary folders, never mocks."""

from __future__ import annotations

from pathlib import Path

import pytest

from facewarden.privacy import Envelope, KeyRing


@pytest.fixture
def key_dir(tmp_path: Path) -> Path:
    """Where a fresh key directory will be created (it does not exist yet)."""
    return tmp_path / "keys"


@pytest.fixture
def keyring(key_dir: Path) -> KeyRing:
    """A freshly initialised key ring of its own."""
    return KeyRing.open(key_dir, create=True)


@pytest.fixture
def envelope(keyring: KeyRing) -> Envelope:
    """Field encryption over the per-test key ring."""
    return Envelope(keyring)


@pytest.fixture(scope="module")
def shared_keyring(tmp_path_factory: pytest.TempPathFactory) -> KeyRing:
    """One key ring for a module's hypothesis tests (they cannot use per-test fixtures)."""
    return KeyRing.open(tmp_path_factory.mktemp("shared") / "keys", create=True)
