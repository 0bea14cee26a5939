"""Detection on a camera's frames: the whole frame every few frames, the faces' regions between.

A 1080p frame searched for faces down to 24 px costs the full MTCNN pyramid
(hundreds of milliseconds on one core). Faces move little between frames a
camera processes (5 per second by default), so :class:`KeyframeDetector`
searches the whole frame on every ``every``-th frame (a keyframe) and, on
the frames between, only the regions around the faces it last found, each
at a pyramid suited to that face's size. Someone entering the view is found
at the next keyframe, at most ``every - 1`` frames later. The tracker
(:mod:`facewarden.vision.track`) follows the faces either way.

Stateful (the faces of the last frame): one instance per camera, fed frames
in time order, as :class:`~facewarden.service.frames.FrameProcessor` does.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from facewarden.errors import ConfigError
from facewarden.types import Face
from facewarden.vision.mtcnn_detect import MtcnnDetector, faces_with_landmarks
from facewarden.vision.nms import suppress

__all__ = ["KeyframeDetector"]

RGBImage = npt.NDArray[np.uint8]


@dataclass(eq=False)
class KeyframeDetector:
    """The whole frame every ``every`` frames; the last faces' regions between.

    Attributes:
        detector: the small-face detector run on frames and regions.
        every: a keyframe every this many frames (1: every frame is one).
        margin: a region reaches this many face widths beyond the last box on each side.
        name: the name faces carry as their ``detector``.
    """

    detector: MtcnnDetector = field(default_factory=MtcnnDetector)
    every: int = 3
    margin: float = 2.0
    name: str = "mtcnn-video"
    _frames: int = field(default=0, init=False)
    _last: list[tuple[float, float, float, float]] = field(default_factory=list, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ConfigError(f"every must be at least 1, got {self.every}")
        if not 0.25 <= self.margin <= 4:
            raise ConfigError(f"margin must be in [0.25, 4], got {self.margin}")

    def reset(self) -> None:
        """Search the next frame whole: the scene may have changed (frames far apart)."""
        with self._lock:
            self._last = []

    def detect(self, image: RGBImage) -> list[Face]:
        """Faces in this frame (H, W, 3 uint8 RGB), best score first."""
        with self._lock:
            keyframe = self._frames % self.every == 0 or not self._last
            self._frames += 1
            if keyframe:
                boxes, scores = self.detector.boxes(image)
            else:
                boxes, scores = self._regions(image)
            self._last = [tuple(map(float, b)) for b in boxes]  # type: ignore[misc]
        return faces_with_landmarks(image, boxes, scores, self.name)

    def _regions(self, image: RGBImage) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
        height, width = image.shape[:2]
        found_boxes, found_scores = [], []
        for x1, y1, x2, y2 in self._last:
            size = max(x2 - x1, y2 - y1)
            reach = size * (self.margin + 0.5)
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            left, top = max(0, int(cx - reach)), max(0, int(cy - reach))
            right, bottom = min(width, int(cx + reach) + 1), min(height, int(cy + reach) + 1)
            if right - left < 12 or bottom - top < 12:
                continue
            # The face may have come closer or gone further: search from 60% of its
            # size to 170% (a step closer at a few metres, between two frames).
            min_face = max(self.detector.min_face / 2, size * 0.6)
            local = dataclasses.replace(self.detector, min_face=min_face, max_face=size * 1.7)
            boxes, scores = local.boxes(np.ascontiguousarray(image[top:bottom, left:right]))
            # A face the region's edge cuts is found whole in its own region; its
            # cut half here could outscore it. The image's own edges cut nothing.
            whole = (
                ((boxes[:, 0] > 1) | (left == 0))
                & ((boxes[:, 1] > 1) | (top == 0))
                & ((boxes[:, 2] < right - left - 1) | (right == width))
                & ((boxes[:, 3] < bottom - top - 1) | (bottom == height))
            )
            boxes, scores = boxes[whole], scores[whole]
            if len(boxes):
                found_boxes.append(boxes + np.array([left, top, left, top], np.float32))
                found_scores.append(scores)
        if not found_boxes:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        boxes, scores = np.concatenate(found_boxes), np.concatenate(found_scores)
        # Regions of nearby faces overlap: a face found in two is one face.
        kept = suppress(boxes, scores, iou=0.5, covered=0.7)
        return boxes[kept], scores[kept]
