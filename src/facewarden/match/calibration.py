"""Calibrated similarity: cosine similarity mapped onto a 0..1 scale with a stated meaning.

facewarden compares faces by the cosine similarity of their embeddings. On
dlib's ResNet two photos of different people already score 0.7 to 0.9, so
the raw number means nothing to someone used to another system. CompreFace's
clients expect a similarity where most different-person pairs score under
0.5, most same-person pairs over it, and higher thresholds mean stricter
decisions. This module gives the raw similarity that meaning from the
deployment's own operating points (:mod:`facewarden.match.thresholds`):

=============================  =====================
raw similarity at FMR          calibrated similarity
=============================  =====================
FMR 1e-2 threshold             0.50
FMR 1e-3 threshold             0.75
FMR 1e-4 threshold             0.90
=============================  =====================

Between and beyond those points the log-odds ``ln(c / (1 - c))`` of the
calibrated value ``c`` is piecewise linear in the raw similarity (each end
segment extended), so the map is continuous, strictly increasing, invertible
and stays inside (0, 1). A client threshold of 0.5 therefore accepts about
1 stranger in 100 comparisons, 0.75 about 1 in 1,000 and 0.9 about 1 in
10,000 (on the data the operating points were measured on).

When the two sides of a comparison come from different pipelines (fast
probes against the enrollment pipeline's templates), the stricter operating
point of the two is used at each FMR, as :func:`facewarden.service.watchlists.comparison_threshold`
does for thresholds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from facewarden.errors import ConfigError
from facewarden.match.thresholds import threshold_for

__all__ = ["CALIBRATED_AT", "Calibration", "calibration_for"]

#: FMR -> the calibrated similarity its operating point maps to.
CALIBRATED_AT: dict[float, float] = {1e-2: 0.50, 1e-3: 0.75, 1e-4: 0.90}


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


@dataclass(frozen=True)
class Calibration:
    """A monotone map from raw cosine similarity to calibrated similarity.

    Attributes:
        raw: the raw similarity knots, increasing (one per FMR of :data:`CALIBRATED_AT`).
        log_odds: the calibrated log-odds at each knot.
    """

    raw: tuple[float, ...]
    log_odds: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.raw) < 2 or len(self.raw) != len(self.log_odds):
            raise ConfigError("a calibration needs at least two operating points")
        if any(b <= a for a, b in zip(self.raw, self.raw[1:], strict=False)):
            raise ConfigError(f"operating points must increase as the FMR falls: {self.raw}")

    @classmethod
    def from_operating_points(cls, thresholds: Mapping[float, float]) -> Calibration:
        """The calibration of a model from its ``{fmr: raw similarity threshold}`` table.

        Raises:
            ConfigError: the table lacks one of the FMRs of :data:`CALIBRATED_AT`.
        """
        missing = [f for f in CALIBRATED_AT if f not in thresholds]
        if missing:
            raise ConfigError(f"no operating point at FMR {', '.join(f'{f:g}' for f in missing)}")
        fmrs = sorted(CALIBRATED_AT, reverse=True)  # 1e-2, 1e-3, 1e-4: raw rises
        return cls(
            tuple(float(thresholds[f]) for f in fmrs),
            tuple(_logit(CALIBRATED_AT[f]) for f in fmrs),
        )

    @classmethod
    def stricter(cls, *tables: Mapping[float, float]) -> Calibration:
        """The calibration for comparing embeddings of several models: the highest point per FMR."""
        merged = {f: max(float(t[f]) for t in tables if f in t) for f in CALIBRATED_AT}
        return cls.from_operating_points(merged)

    def _slopes(self) -> list[float]:
        return [
            (self.log_odds[i + 1] - self.log_odds[i]) / (self.raw[i + 1] - self.raw[i])
            for i in range(len(self.raw) - 1)
        ]

    def calibrate(self, raw: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Calibrated similarities in (0, 1) for raw cosine similarities (any shape)."""
        values = np.asarray(raw, dtype=np.float64)
        knots = np.asarray(self.raw)
        slopes = np.asarray(self._slopes())
        segment = np.clip(np.searchsorted(knots, values, side="right") - 1, 0, len(slopes) - 1)
        log_odds = np.asarray(self.log_odds)[segment] + slopes[segment] * (values - knots[segment])
        result: npt.NDArray[np.float64] = 1.0 / (1.0 + np.exp(-log_odds))
        return result

    def calibrate_one(self, raw: float) -> float:
        """:meth:`calibrate` of one similarity."""
        return float(self.calibrate(np.float64(raw)))

    def raw_for(self, calibrated: float) -> float:
        """The raw cosine similarity that calibrates to ``calibrated`` (the inverse map).

        Raises:
            ConfigError: ``calibrated`` is not strictly between 0 and 1.
        """
        if not 0.0 < calibrated < 1.0:
            raise ConfigError(f"a calibrated similarity is between 0 and 1, got {calibrated}")
        target, slopes = _logit(calibrated), self._slopes()
        segment = sum(1 for lo in self.log_odds[1:-1] if target >= lo)
        return self.raw[segment] + (target - self.log_odds[segment]) / slopes[segment]


def calibration_for(*pipelines: object) -> Calibration:
    """The calibration for comparing embeddings made by ``pipelines`` (stricter point per FMR).

    Raises:
        ConfigError: a pipeline's model has no operating points.
    """
    tables = [{f: threshold_for(p, f) for f in CALIBRATED_AT} for p in pipelines]  # type: ignore[arg-type]
    return Calibration.stricter(*tables)
