"""Detection on a camera's frames: the whole frame every few frames, the faces' regions between.

A 1080p frame searched for faces down to 24 px costs the full MTCNN pyramid
(about 0.2 s of one core). Faces move little between frames a camera
processes (5 per second by default), so :class:`KeyframeDetector` searches
the whole frame on every ``every``-th frame (a keyframe) and, on the frames
between, only the regions around the faces it last found: where each face
should be now if it kept the motion it had since the frame before, or, for
a face seen once, a wider square around its last place. The regions, each
scaled so its face measures 48 px, are packed into one mosaic searched in
one pass for faces 0.75x to 1.35x that size (with eight faces in view a
region frame costs about a fifth of a keyframe on ``benchmarks/video.py``;
with none, nothing; in a crowd whose regions would outweigh the frame, the
frame is searched whole). Someone entering the view is found at the next
keyframe, at most ``every - 1`` frames later, whatever the scene. The
tracker (:mod:`facewarden.vision.track`) follows the faces either way, and
tells the detector (:meth:`KeyframeDetector.expect`) where the faces it
lost should be: a face half hidden in one frame is looked for again in the
next, not only at the next keyframe.

Stateful (the faces of the last frame): one instance per camera, fed frames
in time order, as :class:`~facewarden.service.frames.FrameProcessor` does.
"""

from __future__ import annotations

import dataclasses
import math
import threading
from dataclasses import dataclass, field

import cv2
import numpy as np
import numpy.typing as npt

from facewarden.errors import ConfigError
from facewarden.types import Face
from facewarden.vision.mtcnn_detect import MtcnnDetector, faces_with_landmarks
from facewarden.vision.nms import suppress

__all__ = ["KeyframeDetector"]

RGBImage = npt.NDArray[np.uint8]
Boxes = npt.NDArray[np.float32]
Scores = npt.NDArray[np.float32]
_Xyxy = tuple[float, float, float, float]

# Between keyframes every region is scaled so its last face measures this many
# pixels (O-Net's input side: its crops lose nothing) and all regions go into one
# mosaic searched in one pass: one P-Net call per pyramid level and one R-Net and
# O-Net batch for every face, where a pass per region made ten calls per face.
_CELL_FACE = 48.0
# Black between the regions of the mosaic, wider than P-Net's window at the first
# level: a window never sees two regions.
_GAP = 40


@dataclass(eq=False)
class KeyframeDetector:
    """The whole frame every ``every`` frames; the last faces' regions between.

    Attributes:
        detector: the small-face detector run on frames and regions.
        every: a keyframe every this many frames (1: every frame is one).
        margin: a region reaches this many face widths beyond the last box on
            each side, for a face seen once (its motion unknown).
        tracked_margin: the same around where a face seen in the last two
            frames should be now, had it kept its motion.
        min_growth: the smallest size, relative to the last, a face is searched
            at in its region (it went further away).
        max_growth: the largest (it came closer).
        name: the name faces carry as their ``detector``.
    """

    detector: MtcnnDetector = field(default_factory=MtcnnDetector)
    every: int = 3
    margin: float = 2.0
    tracked_margin: float = 1.0
    min_growth: float = 0.75
    max_growth: float = 1.35
    name: str = "mtcnn-video"
    _frames: int = field(default=0, init=False)
    _last: list[_Xyxy] = field(default_factory=list, init=False)
    _motion: list[tuple[float, float] | None] = field(default_factory=list, init=False)
    _expected: list[tuple[_Xyxy, float]] = field(default_factory=list, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ConfigError(f"every must be at least 1, got {self.every}")
        for name in ("margin", "tracked_margin"):
            if not 0.25 <= getattr(self, name) <= 4:
                raise ConfigError(f"{name} must be in [0.25, 4], got {getattr(self, name)}")
        if not 0.3 <= self.min_growth <= 1 <= self.max_growth <= 3:
            raise ConfigError(
                "min_growth and max_growth must satisfy 0.3 <= min <= 1 <= max <= 3, "
                f"got {self.min_growth}, {self.max_growth}"
            )

    def reset(self) -> None:
        """Search the next frame whole: the scene may have changed (frames far apart)."""
        with self._lock:
            self._last, self._motion, self._expected = [], [], []
            self._frames = 0  # the next frame is a keyframe

    def expect(self, faces: list[tuple[_Xyxy, float]]) -> None:
        """Faces the next frame should hold that the last one did not show: search there too.

        Each is a box (``xyxy``, where the face should be now) and how far
        around it to look, in face sizes (capped at ``margin``). A tracker
        knows them: a face half hidden or missed in one frame is not among the
        last frame's faces, and would otherwise wait for the next keyframe.
        Used by the next frame only (ignored if it is a keyframe).
        """
        with self._lock:
            self._expected = [(box, max(0.0, reach)) for box, reach in faces]

    def detect(self, image: RGBImage) -> list[Face]:
        """Faces in this frame (H, W, 3 uint8 RGB), best score first."""
        with self._lock:
            keyframe = self._frames % self.every == 0
            self._frames += 1
            if keyframe:
                boxes, scores = self.detector.boxes(image)
            else:  # no faces to follow: nothing to search until the next keyframe
                boxes, scores = self._regions(image)
            self._expected = []
            found: list[_Xyxy] = [(float(a), float(b), float(c), float(d)) for a, b, c, d in boxes]
            self._motion = _motions(self._last, found, self.margin + 0.5)
            self._last = found
        return faces_with_landmarks(image, boxes, scores, self.name)

    def _regions(self, image: RGBImage) -> tuple[Boxes, Scores]:
        height, width = image.shape[:2]
        regions = []
        for (x1, y1, x2, y2), motion in zip(self._last, self._motion, strict=True):
            size = max(x2 - x1, y2 - y1)
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            reach = size * (self.margin + 0.5)
            if motion is not None:  # where it should be now, if it kept going
                cx, cy = cx + motion[0], cy + motion[1]
                reach = size * (self.tracked_margin + 0.5)
            left, top = max(0, int(cx - reach)), max(0, int(cy - reach))
            right, bottom = min(width, int(cx + reach) + 1), min(height, int(cy + reach) + 1)
            if right - left >= 12 and bottom - top >= 12:
                regions.append(_Region(left, top, right, bottom, _CELL_FACE / size))
        for (x1, y1, x2, y2), reach in self._expected:
            size = max(x2 - x1, y2 - y1)
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            half = size * (min(reach, self.margin) + 0.5)
            left, top = max(0, int(cx - half)), max(0, int(cy - half))
            right, bottom = min(width, int(cx + half) + 1), min(height, int(cy + half) + 1)
            if right - left >= 12 and bottom - top >= 12:
                regions.append(_Region(left, top, right, bottom, _CELL_FACE / size))
        if not regions:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        # P-Net's cost is its first level's pixels: in a crowd the regions can
        # outweigh the whole frame, which is then searched instead.
        first_level = (
            sum(((r.right - r.left) * r.factor) * ((r.bottom - r.top) * r.factor) for r in regions)
            * (12 / (_CELL_FACE * self.min_growth)) ** 2
        )
        if first_level >= width * height * (12 / self.detector.min_face) ** 2:
            return self.detector.boxes(image)
        mosaic = _Mosaic.pack(image, regions)
        # The face may have come closer or gone further since the last frame.
        local = dataclasses.replace(
            self.detector,
            min_face=_CELL_FACE * self.min_growth,
            max_face=_CELL_FACE * self.max_growth,
        )
        boxes, scores = local.boxes(mosaic.image)
        found_boxes, found_scores = [], []
        for box, score in zip(boxes, scores, strict=True):
            placed = mosaic.back(box)
            if placed is None:
                continue
            region, (x1, y1, x2, y2) = placed
            # A face the region's edge cuts is found whole in its own region; its
            # cut half here could outscore it. The image's own edges cut nothing.
            whole = (
                (x1 > region.left + 1 or region.left == 0)
                and (y1 > region.top + 1 or region.top == 0)
                and (x2 < region.right - 1 or region.right == width)
                and (y2 < region.bottom - 1 or region.bottom == height)
            )
            x1, x2 = max(x1, region.left), min(x2, region.right)
            y1, y2 = max(y1, region.top), min(y2, region.bottom)
            # The whole frame's own floor on a box's size (half its smallest face).
            if whole and max(x2 - x1, y2 - y1) >= self.detector.min_face / 2:
                found_boxes.append((x1, y1, x2, y2))
                found_scores.append(float(score))
        if not found_boxes:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        all_boxes = np.array(found_boxes, np.float32)
        all_scores = np.array(found_scores, np.float32)
        # Regions of nearby faces overlap: a face found in two is one face.
        kept = suppress(all_boxes, all_scores, iou=0.5, covered=0.7)
        return all_boxes[kept], all_scores[kept]


def _motions(
    before: list[_Xyxy], now: list[_Xyxy], reach: float
) -> list[tuple[float, float] | None]:
    """Each face's move since the last frame: from the nearest face of a like size there.

    None for a face with no such face within ``reach`` of its sizes (someone new).
    Nearest pairs are taken first, each face of either frame at most once.
    """
    pairs = []
    for i, (x1, y1, x2, y2) in enumerate(now):
        size = max(x2 - x1, y2 - y1)
        for j, (a1, b1, a2, b2) in enumerate(before):
            other = max(a2 - a1, b2 - b1)
            if not 0.5 <= size / max(other, 1e-6) <= 2:
                continue
            dx, dy = (x1 + x2 - a1 - a2) / 2, (y1 + y2 - b1 - b2) / 2
            distance = math.hypot(dx, dy)
            if distance <= reach * other:
                pairs.append((distance, i, j, (dx, dy)))
    motions: list[tuple[float, float] | None] = [None] * len(now)
    used: set[int] = set()
    for _, i, j, move in sorted(pairs, key=lambda p: p[0]):
        if motions[i] is None and j not in used:
            motions[i] = move
            used.add(j)
    return motions


@dataclass(frozen=True)
class _Region:
    """Where to look again for one face: frame pixels, and the scale bringing it to _CELL_FACE."""

    left: int
    top: int
    right: int
    bottom: int
    factor: float


@dataclass(frozen=True)
class _Mosaic:
    """Regions scaled to ``_CELL_FACE`` and packed in rows into one image, ``_GAP`` apart."""

    image: RGBImage
    regions: list[_Region]
    places: list[tuple[int, int, int, int]]  # x, y, width, height in the mosaic

    @classmethod
    def pack(cls, frame: RGBImage, regions: list[_Region]) -> _Mosaic:
        scaled = []
        for region in regions:
            crop = frame[region.top : region.bottom, region.left : region.right]
            size = (
                max(1, round(crop.shape[1] * region.factor)),
                max(1, round(crop.shape[0] * region.factor)),
            )
            interpolation = cv2.INTER_AREA if region.factor < 1 else cv2.INTER_LINEAR
            scaled.append(cv2.resize(crop, size, interpolation=interpolation))
        # Rows about as wide as the mosaic is tall: P-Net pays for every pixel,
        # black ones included, so the packing wastes little.
        area = sum((s.shape[0] + _GAP) * (s.shape[1] + _GAP) for s in scaled)
        row_width = max(math.isqrt(area), *(s.shape[1] for s in scaled))
        places, x, y, row_height = [], 0, 0, 0
        for s in sorted(range(len(scaled)), key=lambda i: -scaled[i].shape[0]):
            height, width = scaled[s].shape[:2]
            if x and x + width > row_width:
                x, y, row_height = 0, y + row_height + _GAP, 0
            places.append((s, (x, y, width, height)))
            x, row_height = x + width + _GAP, max(row_height, height)
        canvas = np.zeros((y + row_height, max(p[0] + p[2] for _, p in places), 3), np.uint8)
        for s, (x, y, width, height) in places:
            canvas[y : y + height, x : x + width] = scaled[s]
        return cls(canvas, [regions[s] for s, _ in places], [p for _, p in places])

    def back(self, box: npt.NDArray[np.float32]) -> tuple[_Region, _Xyxy] | None:
        """The region whose place holds ``box``'s centre, and the box in frame pixels."""
        cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
        for region, (x, y, width, height) in zip(self.regions, self.places, strict=True):
            if x <= cx < x + width and y <= cy < y + height:
                f = region.factor
                return region, (
                    region.left + (float(box[0]) - x) / f,
                    region.top + (float(box[1]) - y) / f,
                    region.left + (float(box[2]) - x) / f,
                    region.top + (float(box[3]) - y) / f,
                )
        return None
