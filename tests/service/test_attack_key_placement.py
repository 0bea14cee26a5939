"""Issue 13 finding 5, as the attack: copy the data directory's parent and read it.

Earlier versions kept the keys in ``<data dir>-keys`` by default, so one copy
of the parent folder (a backup, a stolen disk image, ``make run`` inside a
checkout) took the data with its keys. Now the default key directory is in
the user's configuration area; a key directory inside the data directory is
refused (exit code 2, naming the setting), and one that shares the data
directory's parent is warned about.
"""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from facewarden.cli import cli
from facewarden.config import Settings, default_key_dir, legacy_key_dir
from facewarden.errors import ConfigError, KeyMaterialError
from facewarden.privacy import ManualClock
from facewarden.service import Warden

from ._data import KNN

OBAMA = sorted((KNN / "train" / "obama").iterdir())
MARKER = "Zebulon Quartermaine-Oyelaran"


@pytest.fixture
def config_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home" / ".config"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


def test_a_copy_of_the_data_directorys_parent_holds_no_key_and_cannot_be_read(
    tmp_path: Path,
    config_home: Path,
    clock: ManualClock,
    enroll: Callable[..., object],
    faces_dir: object,
) -> None:
    site = tmp_path / "srv" / "site"
    settings = Settings(data_dir=site / "data", workers=1)  # no key directory given
    with Warden.open(settings, clock=clock, create=True) as warden:
        warden.watchlists.create("staff", purpose="test", lawful_basis="test")
        sid = enroll(warden, MARKER, OBAMA[-1:], watchlists=["staff"]).subject_id  # type: ignore[attr-defined]
        assert config_home in warden.key_dir.parents
        warden.backup(site / "backup.db")

    stolen = tmp_path / "stolen"
    shutil.copytree(site.parent, stolen)  # the attacker's copy of the parent folder
    copied = [p for p in stolen.rglob("*") if p.is_file()]
    assert copied, "the copy took nothing"
    keyish = [p for p in copied if p.name == "manifest.json" or p.suffix in (".key", ".keys")]
    assert keyish == [], f"key material travelled with the data: {keyish}"
    assert not any(MARKER.encode() in p.read_bytes() for p in copied)
    # Opening the copy finds no keys: next to it, in it, or where its default points.
    with pytest.raises(KeyMaterialError, match="does not exist"):
        Warden.open(Settings(data_dir=stolen / "site" / "data", workers=1))
    for directory in [p for p in stolen.rglob("*") if p.is_dir()]:
        with pytest.raises((KeyMaterialError, ConfigError)):
            Warden.open(Settings(data_dir=stolen / "site" / "data", key_dir=directory, workers=1))

    with Warden.open(settings, clock=clock) as warden:  # the real deployment reads on
        assert warden.registry.get(sid).record.full_name == MARKER


def test_a_key_directory_inside_the_data_directory_is_refused_naming_the_setting(
    tmp_path: Path, config_home: Path
) -> None:
    runner = CliRunner(env={"FACEWARDEN_DATA_DIR": None, "FACEWARDEN_KEY_DIR": None})
    data = tmp_path / "data"
    for keys in (data / "keys", data):
        result = runner.invoke(cli, ["init", "--data-dir", str(data), "--key-dir", str(keys)])
        assert result.exit_code == 2, result.output
        assert "FACEWARDEN_KEY_DIR" in result.output and "Traceback" not in result.output
        assert not (data / "keys").exists()
    # The PostgreSQL store is refused the same way, before any server is reached.
    with pytest.raises(ConfigError, match="FACEWARDEN_KEY_DIR"):
        Warden.open(
            Settings(data_dir=data, key_dir=data / "k", database_url="postgresql://nobody@/none"),
            create=True,
        )


def test_keys_sharing_the_data_directorys_parent_are_warned_about(
    tmp_path: Path, config_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(data_dir=tmp_path / "data", key_dir=tmp_path / "keys", workers=1)
    with caplog.at_level(logging.WARNING, logger="facewarden.service.opening"):
        Warden.open(settings, create=True).close()
    assert "a copy" in caplog.text and str(tmp_path) in caplog.text
    caplog.clear()
    elsewhere = Settings(data_dir=tmp_path / "srv" / "data", workers=1)  # default keys
    with caplog.at_level(logging.WARNING, logger="facewarden.service.opening"):
        Warden.open(elsewhere, create=True).close()
    assert caplog.text == ""


def test_a_deployment_of_an_earlier_version_keeps_its_keys_beside_the_data_with_a_warning(
    tmp_path: Path, config_home: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    old = Settings(data_dir=data, key_dir=legacy_key_dir(data), workers=1)
    Warden.open(old, create=True).close()
    with (
        caplog.at_level(logging.WARNING, logger="facewarden.service.opening"),
        Warden.open(Settings(data_dir=data, workers=1)) as warden,
    ):
        assert warden.key_dir == legacy_key_dir(data)
    assert "earlier versions" in caplog.text and "FACEWARDEN_KEY_DIR" in caplog.text


def test_make_run_no_longer_puts_the_keys_in_the_checkout(
    config_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `make run` is `facewarden serve --init` in the checkout with the default data dir.
    checkout = Path(__file__).resolve().parents[2]
    monkeypatch.chdir(checkout)
    keys = default_key_dir(Settings().data_dir)
    assert config_home in keys.parents and checkout not in keys.parents
    assert os.path.commonpath([keys, checkout]) != str(checkout)
