"""Is a face fit for recognition? Size, sharpness, light and pose, with reasons.

The measures are cheap and work on the aligned chip, so they compare faces
of any source on one scale. A face that fails is reported with its reasons
and never silently matched.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from facewarden.types import Box, Quality

__all__ = ["QualityPolicy", "assess", "estimate_yaw", "laplacian_variance"]

RGBImage = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class QualityPolicy:
    """The bar a face must clear to be used for recognition.

    Measured with these defaults: the central face of 804 of the 807 LFW
    fold images passes (its deep-funneled images are soft: 21 of them score
    a sharpness between 8 and 15, and four heads are turned 51 to 59
    degrees, all still recognised; the three refused are heads in three-
    quarter view whose yaw the landmarks put at 64 to 90 degrees), while
    faces too small for the embedder are refused (its chip is 150 px; below
    about 40 px the similarity scores of different people and of the same
    person overlap). The sharpness and brightness bars guard the operating
    points (every cross-identity pair of the 807 LFW fold images, at the
    similarity set for FMR 1e-3): a face blurred (Gaussian sigma 2, 748 of
    807 refused) matches strangers' sharp faces at FMR 1.2e-3, two blurred
    faces match at 4.2e-3; darkened (gamma 3, 244 refused), 1.1e-3 and
    2.0e-3.
    """

    min_face_px: float = 40.0
    min_sharpness: float = 6.0
    min_brightness: float = 35.0
    max_brightness: float = 225.0
    max_abs_yaw_degrees: float = 60.0

    def __post_init__(self) -> None:
        if self.min_face_px < 0 or self.min_sharpness < 0:
            raise ValueError("quality minimums cannot be negative")
        if not 0 <= self.min_brightness < self.max_brightness <= 255:
            raise ValueError("brightness bounds must satisfy 0 <= min < max <= 255")
        if not 0 < self.max_abs_yaw_degrees <= 90:
            raise ValueError("max_abs_yaw_degrees must be in (0, 90]")


def laplacian_variance(grey: npt.NDArray[np.float32]) -> float:
    """Variance of the 4-neighbour Laplacian: low on blurred images."""
    lap = grey[:-2, 1:-1] + grey[2:, 1:-1] + grey[1:-1, :-2] + grey[1:-1, 2:] - 4 * grey[1:-1, 1:-1]
    return float(lap.var())


def estimate_yaw(landmarks: npt.NDArray[np.float32]) -> float:
    """Rough head yaw in degrees from where the nose sits between the eyes.

    0 for a frontal face; the magnitude grows as the head turns (90 would put
    the nose over one eye). Good to tell frontal from profile, not for pose
    estimation.
    """
    points = np.asarray(landmarks, dtype=np.float64)
    eye_a = points[0:2].mean(axis=0)
    eye_b = points[2:4].mean(axis=0)
    axis = eye_a - eye_b
    length2 = float(axis @ axis)
    if length2 == 0:
        return 90.0
    position = float((points[4] - eye_b) @ axis) / length2  # 0.5 when centred
    return math.degrees(math.asin(max(-1.0, min(1.0, 2 * position - 1))))


def assess(
    box: Box, landmarks: npt.NDArray[np.float32], chip: RGBImage, policy: QualityPolicy
) -> Quality:
    """The quality verdict for one face, measured on its aligned chip."""
    grey = chip.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    # Measure the central part of the chip: the face, not the padding around it.
    h, w = grey.shape
    centre = grey[h // 6 : h - h // 6, w // 6 : w - w // 6]
    # The side of a square of the box's area: the same face measures the same
    # whether a detector draws square boxes (dlib) or taller ones (MTCNN, whose
    # boxes are about 0.86x as wide and 1.17x as tall as dlib's for one face).
    face_px = float(np.sqrt(box.width * box.height))
    sharpness = laplacian_variance(centre)
    brightness = float(centre.mean())
    yaw = estimate_yaw(landmarks)
    reasons = []
    if face_px < policy.min_face_px:
        reasons.append(f"face is {face_px:.0f} px, below the {policy.min_face_px:.0f} px minimum")
    if sharpness < policy.min_sharpness:
        reasons.append(f"face is blurred (sharpness {sharpness:.1f} < {policy.min_sharpness:.1f})")
    if brightness < policy.min_brightness:
        reasons.append(f"face is too dark (brightness {brightness:.0f})")
    if brightness > policy.max_brightness:
        reasons.append(f"face is overexposed (brightness {brightness:.0f})")
    if abs(yaw) > policy.max_abs_yaw_degrees:
        reasons.append(f"head is turned too far ({abs(yaw):.0f} degrees)")
    return Quality(face_px, sharpness, brightness, yaw, not reasons, tuple(reasons))
