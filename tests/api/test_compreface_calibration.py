"""The calibrated similarity of the CompreFace API: stated values, monotone, and true on LFW.

CompreFace's guidance (its Face-Recognition-Similarity-Threshold page): most
same-person pairs over 0.5, most different-person pairs under it, higher
thresholds for high security. The map is built from the deployment's own
operating points, so each FMR threshold lands on a stated value.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facewarden.errors import ConfigError
from facewarden.eval.lfw import parse_pairs
from facewarden.match.calibration import CALIBRATED_AT, Calibration, calibration_for
from facewarden.match.thresholds import THRESHOLDS, threshold_for
from facewarden.vision.pipeline import Pipeline


@pytest.mark.parametrize("model", sorted(THRESHOLDS))
def test_operating_points_land_on_the_stated_values(model: str) -> None:
    calibration = Calibration.from_operating_points(THRESHOLDS[model])
    for fmr, stated in CALIBRATED_AT.items():
        raw = THRESHOLDS[model][fmr]
        assert calibration.calibrate_one(raw) == pytest.approx(stated, abs=1e-9)
        assert calibration.raw_for(stated) == pytest.approx(raw, abs=1e-9)


def test_the_map_is_monotone_bounded_and_invertible() -> None:
    calibration = Calibration.from_operating_points(THRESHOLDS["dlib-resnet+mirror"])
    raw = np.linspace(-1.0, 1.0, 2001)
    calibrated = calibration.calibrate(raw)
    assert np.all(np.diff(calibrated) > 0)
    assert np.all((calibrated > 0.0) & (calibrated < 1.0))
    for value in (0.01, 0.3, 0.5, 0.6, 0.8, 0.95, 0.999):
        assert calibration.calibrate_one(calibration.raw_for(value)) == pytest.approx(value)
    with pytest.raises(ConfigError):
        calibration.raw_for(1.0)


def test_mixed_pipelines_use_the_stricter_point() -> None:
    fast, accurate = Pipeline.from_mode("fast"), Pipeline.from_mode("accurate")
    mixed = calibration_for(fast, accurate)
    for fmr, stated in CALIBRATED_AT.items():
        strict = max(threshold_for(fast, fmr), threshold_for(accurate, fmr))
        assert mixed.calibrate_one(strict) == pytest.approx(stated)


@pytest.mark.parametrize(
    "table", [{1e-2: 0.9}, {1e-2: 0.95, 1e-3: 0.94, 1e-4: 0.96}], ids=["missing", "decreasing"]
)
def test_bad_operating_points_are_refused(table: dict[float, float]) -> None:
    with pytest.raises(ConfigError):
        Calibration.from_operating_points(table)


@pytest.mark.slow
def test_lfw_fold_1_pairs_fall_on_the_right_side_of_one_half(lfw_dir: Path) -> None:
    """The first 60 same-person and 60 different-person pairs of LFW fold 1 (about 40 s).

    The operating points were measured on these images, so this checks that the
    calibration carries them faithfully, not that it generalises; the shared
    photos (test_compreface_sdk, test_compreface_routes) are the held-out check.
    """
    pipeline = Pipeline.from_mode("accurate")  # verification's pipeline
    calibration = calibration_for(pipeline)
    pairs = parse_pairs(lfw_dir / "pairs.txt", lfw_dir / "lfw")
    chosen = [p for p in pairs if p.same][:60] + [p for p in pairs if not p.same][:60]

    def embedding(path: Path) -> np.ndarray | None:
        faces = pipeline.run(pipeline.decode(path))
        if not faces:
            return None
        return max(faces, key=lambda f: f.box.area).require_embedding()

    same, different = [], []
    for pair in chosen:
        first, second = embedding(pair.first), embedding(pair.second)
        if first is None or second is None:
            continue
        (same if pair.same else different).append(calibration.calibrate_one(first @ second))
    assert len(same) >= 55 and len(different) >= 55
    # FMR 1e-2 and an FNMR of about 1% at that point (match/thresholds.py): a few may miss.
    assert np.mean(np.array(different) < 0.5) >= 0.95
    assert np.mean(np.array(same) > 0.5) >= 0.9
    assert np.median(different) < 0.1 and np.median(same) > 0.9
