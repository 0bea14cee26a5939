"""Model files are found offline, without pkg_resources, and loaded lazily once."""

from __future__ import annotations

import subprocess
import sys

import pytest

from facewarden import models
from facewarden.errors import ModelError


def test_every_model_file_is_shipped_by_the_wheel() -> None:
    for name in models.MODEL_FILES:
        assert models.model_path(name).stat().st_size > 100_000


def test_unknown_model_lists_the_choices() -> None:
    with pytest.raises(ModelError, match="choose one of: mmod_detector, resnet_embedder"):
        models.model_path("arcface")


def test_loading_is_lazy_and_needs_neither_pkg_resources_nor_the_network() -> None:
    # A fresh interpreter: importing facewarden loads no model and imports
    # neither pkg_resources nor face_recognition_models (whose import needs it).
    code = (
        "import sys, facewarden.vision, facewarden.cli\n"
        "from facewarden import models\n"
        "assert models.cached('shape_5') is None\n"
        "models.load('shape_5')\n"
        "assert models.load('shape_5') is models.load('shape_5')\n"
        "assert 'pkg_resources' not in sys.modules\n"
        "assert 'face_recognition_models' not in sys.modules\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stderr
