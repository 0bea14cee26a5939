"""The converted-model cache: where it lives, what it is keyed by, and failing to write it."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from facewarden import models
from facewarden.convert import cache
from facewarden.convert.cache import CONVERTER_VERSION, cache_dir, converted_model, sha256_of


def test_the_cache_folder_follows_xdg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "facewarden" / "models"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home" / ".cache" / "facewarden" / "models"


def test_a_conversion_is_stored_once_under_the_source_hash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = converted_model("mmod_detector", folder=tmp_path)
    digest = sha256_of(models.model_path("mmod_detector"))
    stored = tmp_path / f"mmod_human_face_detector-{digest[:16]}-c{CONVERTER_VERSION}.onnx"
    assert [p.name for p in tmp_path.iterdir()] == [stored.name]  # no temporary files left
    assert stored.read_bytes() == data

    def no_conversion(*_: object) -> bytes:
        raise AssertionError("the cached model should have been used")

    monkeypatch.setattr(cache, "_convert", no_conversion)
    assert converted_model("mmod_detector", folder=tmp_path) == data


def test_an_unwritable_cache_still_gives_the_model(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder should be")
    with caplog.at_level(logging.WARNING, logger="facewarden.convert.cache"):
        data = converted_model("mmod_detector", folder=blocked)
    assert data.startswith(b"\x08")  # a serialized ONNX ModelProto (ir_version field)
    assert "cannot cache the converted model" in caplog.text
