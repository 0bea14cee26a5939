"""Synthetic camera videos made from real photos, with their ground truth.

Face crops from ../shared/data/faces are pasted on a textured background and
moved along straight paths; each :class:`Walk` is one visit (a person
entering the view at ``start`` and leaving at ``end``, video seconds).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from facewarden.imaging import decode
from facewarden.vision.mtcnn_detect import MtcnnDetector
from facewarden.vision.pipeline import MODES

RGB = npt.NDArray[np.uint8]


def face_crop(photo: Path, size: int) -> RGB:
    """The main face of ``photo`` with some margin, as a ``size`` x ``size`` RGB tile."""
    image = decode(photo)
    faces = MODES["accurate"].run(image, embed=False)
    box = max(faces, key=lambda f: f.box.area).box
    cx, cy = box.center
    half = max(box.width, box.height) * 0.9
    h, w = image.shape[:2]
    x1, y1 = int(max(0, cx - half)), int(max(0, cy - half))
    x2, y2 = int(min(w, cx + half)), int(min(h, cy + half))
    tile: RGB = cv2.resize(image[y1:y2, x1:x2], (size, size), interpolation=cv2.INTER_AREA)
    return tile


@dataclass(frozen=True, eq=False)
class Walk:
    """One visit: ``tile`` moves from ``origin`` to ``target`` (top-left pixels) in [start, end)."""

    person: str
    tile: RGB
    start: float
    end: float
    origin: tuple[int, int]
    target: tuple[int, int]

    def position(self, t: float) -> tuple[int, int] | None:
        if not self.start <= t < self.end:
            return None
        a = (t - self.start) / (self.end - self.start)
        return (
            round(self.origin[0] + a * (self.target[0] - self.origin[0])),
            round(self.origin[1] + a * (self.target[1] - self.origin[1])),
        )


def background(width: int, height: int, seed: int = 7) -> RGB:
    """A textured, gently lit backdrop (no faces, no people)."""
    rng = np.random.default_rng(seed)
    x = np.linspace(60, 150, width, dtype=np.float32)
    y = np.linspace(0, 40, height, dtype=np.float32)[:, None]
    base = (x[None, :] + y)[..., None] * np.array([1.0, 0.95, 0.85], dtype=np.float32)
    noise = rng.normal(0, 6, (height, width, 1)).astype(np.float32)
    out: RGB = np.clip(base + noise, 0, 255).astype(np.uint8)
    return out


def frame_at(t: float, walks: Sequence[Walk], backdrop: RGB) -> RGB:
    """The frame at video time ``t``."""
    frame = backdrop.copy()
    for walk in walks:
        pos = walk.position(t)
        if pos is None:
            continue
        x, y = pos
        size = walk.tile.shape[0]
        frame[y : y + size, x : x + size] = walk.tile
    return frame


def write_video(
    path: Path,
    walks: Sequence[Walk],
    *,
    seconds: float,
    fps: float = 10.0,
    size: tuple[int, int] = (640, 480),
) -> Path:
    """Write the scene as an MP4 (``mp4v``) video; returns ``path``."""
    width, height = size
    backdrop = background(width, height)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (width, height))
    assert writer.isOpened(), "OpenCV cannot write mp4v video here"
    for index in range(round(seconds * fps)):
        frame = frame_at(index / fps, walks, backdrop)
        writer.write(cv2.cvtColor(frame, cv2.COLOR_RGB2BGR))
    writer.release()
    return path


@dataclass(frozen=True)
class SearchRecorder(MtcnnDetector):
    """The real detector, noting the shape of each image it searches (kept by its copies)."""

    seen: list[tuple[int, ...]] = field(default_factory=list)

    def boxes(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:  # type: ignore[type-arg,override]
        self.seen.append(image.shape)
        return super().boxes(image)
