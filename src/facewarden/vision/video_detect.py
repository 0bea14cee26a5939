"""A camera's frames: the whole frame now and then, the faces' regions and the edges between.

A 1080p frame searched for faces down to 24 px costs the full MTCNN pyramid
(about 0.2 s of one core). Faces move little between frames a camera
processes (5 per second by default), so :class:`KeyframeDetector` searches
the whole frame at least every ``interval`` seconds of video (a keyframe),
whatever the processing rate, and, on the frames between, only

* the regions around the faces it last found: where each face should be now
  if it kept the motion it had since the frame before, or, for a face seen
  once, as far around its last place as a walker gets in the time elapsed;
* where the tracker expects the faces it lost (:meth:`KeyframeDetector.expect`):
  a face half hidden in one frame is looked for again in the next;
* strips along the frame's left and right edges, where people walk in: for
  each octave of face sizes (24-48, 48-96, 96-192 px at 1080p) as wide as
  such a face walks in the time since the last frame, plus the face itself,
  so someone entering between two keyframes is found in the first frame that
  shows their whole face, not up to ``interval`` later.

The regions, each scaled so its face measures 48 px, are packed into one
mosaic (:mod:`facewarden.vision.mosaic`) searched in one pass for faces 0.75x
to 1.35x that size (with eight faces in view that costs about a fifth of a
keyframe on ``benchmarks/video.py``; in a crowd whose regions would outweigh
the frame, the frame is searched whole). The edges are searched one octave at
a time, each on its two strips read from a Gaussian pyramid of the edges, so
each octave reads about as many pixels as the first (about a twentieth of a
keyframe each). Someone appearing inside the view (a doorway, turning to the
camera) is found at the next keyframe, at most ``interval`` seconds later.

Frames are timed: :meth:`KeyframeDetector.frame_time` gives the next frame's
video time (seconds) before its :meth:`~KeyframeDetector.detect`; a frame
whose time was not given is searched whole (its distance from the last
keyframe is unknown). Stateful (the faces of the last frame): one instance
per camera, fed frames in time order, as
:class:`~facewarden.service.frames.FrameProcessor` does.
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
from facewarden.vision.mosaic import CELL_FACE, GAP, Mosaic, Region, Xyxy, region_around
from facewarden.vision.mtcnn_detect import MtcnnDetector, faces_with_landmarks
from facewarden.vision.nms import suppress

__all__ = ["KeyframeDetector"]

RGBImage = npt.NDArray[np.uint8]
Boxes = npt.NDArray[np.float32]
Scores = npt.NDArray[np.float32]

# Detected boxes wobble from frame to frame (the detector's own jitter, a head's
# bob): a tracked face's region reaches this many face sizes beyond its prediction
# whatever the time elapsed.
_WOBBLE = 0.5
# An edge strip covers the face itself and its wobble (a quarter of its width)
# before the walk since the last frame.
_EDGE_FACE = 1.25
# Edge strips are searched in octaves of face sizes from the frame's smallest
# face up to octaves starting at a tenth of the frame's height: at 1080p 24-48,
# 48-96 and 96-192 px (192 px: someone within a metre or two of a wall-mounted
# camera; each octave costs about a twentieth of a keyframe). A larger face
# entering waits for the next keyframe.
_EDGE_LARGEST = 0.1
# Seconds of tolerance on frame times (a 25 fps source's times are multiples of
# 0.04 s, summed in floating point).
_EPSILON = 1e-3


@dataclass(eq=False)
class KeyframeDetector:
    """The whole frame every ``interval`` seconds; faces' regions and the side edges between.

    Attributes:
        detector: the small-face detector run on frames and regions.
        interval: a keyframe at least every this many seconds of video (0: every
            frame is one). 0.6 s: a keyframe costs about 0.2 s of one core at
            1080p, so one every 0.6 s takes a sixth of two cores, leaving the
            rest of a 5 fps budget to the frames between, embeddings and bodies;
            and a track the tracker lost (it searches for it for 1 s and keeps
            it 2 s) meets at least one keyframe before it ends. At 5 fps that is
            every third frame; at 2.5 fps (0.4 s apart) every frame, since the
            next frame would come 0.8 s after this one; at 10 fps every sixth.
        max_speed: how fast (face widths per second) a face may move: the reach
            around a face seen once (its motion unknown) and the width of the
            edge strips. 10: 1.6 m/s, the fast end of walking speeds, at 16 cm a
            face; someone running is found again at the next keyframe.
        max_turn: how far (face widths per second) a face seen in the last two
            frames may stray from where its motion puts it now (it slows,
            stops, turns), beyond ``_WOBBLE``: 2.5 widths a second is 0.4 m/s
            of change in a second, a walker's stop within two strides.
        edges: search the left and right edges between keyframes (people walk
            into a view from the side; the top of a CCTV view is the distance,
            where faces grow out of the detector's minimum size rather than
            cross the edge, and whoever enters at the bottom walks away from
            the camera, showing the back of the head).
        min_growth: the smallest size, relative to the last, a face is searched
            at in its region (it went further away).
        max_growth: the largest (it came closer).
        name: the name faces carry as their ``detector``.
    """

    detector: MtcnnDetector = field(default_factory=MtcnnDetector)
    interval: float = 0.6
    max_speed: float = 10.0
    max_turn: float = 2.5
    edges: bool = True
    min_growth: float = 0.75
    max_growth: float = 1.35
    name: str = "mtcnn-video"
    _when: float | None = field(default=None, init=False)
    _previous: float | None = field(default=None, init=False)
    _keyframe_at: float | None = field(default=None, init=False)
    _last: list[Xyxy] = field(default_factory=list, init=False)
    _motion: list[tuple[float, float] | None] = field(default_factory=list, init=False)
    _expected: list[tuple[Xyxy, float]] = field(default_factory=list, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.interval <= 10:
            raise ConfigError(f"interval must be in [0, 10] seconds, got {self.interval}")
        if not 1 <= self.max_speed <= 40:
            raise ConfigError(f"max_speed must be in [1, 40] face widths/s, got {self.max_speed}")
        if not 0 <= self.max_turn <= 20:
            raise ConfigError(f"max_turn must be in [0, 20] face widths/s, got {self.max_turn}")
        if not 0.3 <= self.min_growth <= 1 <= self.max_growth <= 3:
            raise ConfigError(
                "min_growth and max_growth must satisfy 0.3 <= min <= 1 <= max <= 3, "
                f"got {self.min_growth}, {self.max_growth}"
            )

    def reset(self) -> None:
        """Search the next frame whole: the scene may have changed (frames far apart)."""
        with self._lock:
            self._last, self._motion, self._expected = [], [], []
            self._keyframe_at = None  # the next frame is a keyframe

    def frame_time(self, when: float) -> None:
        """The next frame's time (seconds of video, any origin, increasing)."""
        with self._lock:
            self._when = when

    def expect(self, faces: list[tuple[Xyxy, float]]) -> None:
        """Faces the next frame should hold that the last one did not show: search there too.

        Each is a box (``xyxy``, where the face should be now) and how far
        around it to look, in face sizes (capped at a walker's reach in the
        time since the last frame). A tracker knows them: a face half hidden
        or missed in one frame is not among the last frame's faces, and would
        otherwise wait for the next keyframe. Used by the next frame only
        (ignored if it is a keyframe).
        """
        with self._lock:
            self._expected = [(box, max(0.0, reach)) for box, reach in faces]

    def detect(self, image: RGBImage) -> list[Face]:
        """Faces in this frame (H, W, 3 uint8 RGB), best score first."""
        with self._lock:
            when, self._when = self._when, None
            elapsed = 0.0 if when is None or self._previous is None else when - self._previous
            if self._is_keyframe(when):
                self._keyframe_at = when
                boxes, scores = self.detector.boxes(image)
            else:
                boxes, scores = self._regions(image, elapsed)
            self._previous = when
            self._expected = []
            found: list[Xyxy] = [(float(a), float(b), float(c), float(d)) for a, b, c, d in boxes]
            self._motion = _motions(self._last, found, 0.5 + self.max_speed * elapsed)
            self._last = found
        return faces_with_landmarks(image, boxes, scores, self.name)

    def _is_keyframe(self, when: float | None) -> bool:
        """Whether to search this frame whole: waiting for the next frame would leave
        more than ``interval`` between keyframes (the next is assumed as far off as
        this one is from the last frame)."""
        if when is None or self._keyframe_at is None or self._previous is None:
            return True
        step = when - self._previous
        if step <= 0:  # time went back or stood still: a new source
            return True
        return when - self._keyframe_at + step > self.interval + _EPSILON

    def _regions(self, image: RGBImage, elapsed: float) -> tuple[Boxes, Scores]:
        """A frame between keyframes, ``elapsed`` s after the last: faces' regions and edges."""
        height, width = image.shape[:2]
        regions = []
        walked = self.max_speed * elapsed  # face widths anyone may have walked since
        for (x1, y1, x2, y2), motion in zip(self._last, self._motion, strict=True):
            size = max(x2 - x1, y2 - y1)
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            reach = size * (0.5 + max(_WOBBLE, walked))
            if motion is not None:  # where it should be now, if it kept going
                cx, cy = cx + motion[0], cy + motion[1]
                reach = size * (0.5 + _WOBBLE + self.max_turn * elapsed)
            regions.append(region_around(cx, cy, reach, size, width, height))
        for (x1, y1, x2, y2), reach in self._expected:
            size = max(x2 - x1, y2 - y1)
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            half = size * (min(reach, max(_WOBBLE, walked)) + 0.5)
            regions.append(region_around(cx, cy, half, size, width, height))
        regions = [r for r in regions if r.right - r.left >= 12 and r.bottom - r.top >= 12]
        # P-Net's cost is its first level's pixels: in a crowd the regions can
        # outweigh the whole frame, which is then searched instead.
        first_level = (
            sum(((r.right - r.left) * r.factor) * ((r.bottom - r.top) * r.factor) for r in regions)
            * (12 / (CELL_FACE * self.min_growth)) ** 2
        )
        # (A frame over the detector's cap is searched scaled down: for faces
        # from its smallest_face, not min_face.)
        least = self.detector.smallest_face(width, height)
        if first_level >= width * height * (12 / least) ** 2:
            return self.detector.boxes(image)
        found: list[Xyxy] = []
        scores: list[float] = []
        if regions:
            self._search_mosaic(image, regions, found, scores)
        if self.edges:
            self._search_edges(image, walked, found, scores)
        if not found:
            return np.zeros((0, 4), np.float32), np.zeros(0, np.float32)
        all_boxes = np.array(found, np.float32)
        all_scores = np.array(scores, np.float32)
        # Regions of nearby faces overlap, and the edges' strips overlap them: a
        # face found in two is one face.
        kept = suppress(all_boxes, all_scores, iou=0.5, covered=0.7)
        return all_boxes[kept], all_scores[kept]

    def _search_mosaic(
        self, image: RGBImage, regions: list[Region], found: list[Xyxy], scores: list[float]
    ) -> None:
        """The regions' faces, packed into one mosaic searched once, added to ``found``."""
        height, width = image.shape[:2]
        least = self.detector.smallest_face(width, height)
        mosaic = Mosaic.pack(image, regions)
        # The face may have come closer or gone further since the last frame.
        local = dataclasses.replace(
            self.detector,
            min_face=CELL_FACE * self.min_growth,
            max_face=CELL_FACE * self.max_growth,
        )
        boxes, box_scores = local.boxes(mosaic.image)
        for box, score in zip(boxes, box_scores, strict=True):
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
            if whole and max(x2 - x1, y2 - y1) >= least / 2:
                found.append((x1, y1, x2, y2))
                scores.append(float(score))

    def _search_edges(
        self, image: RGBImage, walked: float, found: list[Xyxy], scores: list[float]
    ) -> None:
        """Faces that walked in through the left or right edge since the last frame.

        One search per octave of face sizes (the frame's smallest face, twice
        that, four times...), on the octave's left and right strips side by
        side: each strip as wide as the octave's largest face plus the walk
        since the last frame, so a face wholly in view now that was not in the
        last frame lies wholly in its strip. Each octave reads its strips from
        a half-resolution copy of the last octave's (a Gaussian pyramid of the
        edges, cheap), so each searches a strip of about the same pixels for
        faces of the frame's smallest size to twice that: larger faces cost no
        more than small ones.
        """
        height, width = image.shape[:2]
        # The frame's smallest face: min_face, or more in a frame over the
        # detector's cap (the strips then search from it, within the cap too).
        least = self.detector.smallest_face(width, height)
        octaves = max(1, math.floor(math.log2(_EDGE_LARGEST * height / least)) + 1)
        widest = min(
            width // 2 - GAP, math.ceil(2 * least * 2 ** (octaves - 1) * (_EDGE_FACE + walked))
        )
        if widest < 12:  # a frame too narrow for strips (P-Net's window): the keyframes suffice
            return
        sides = [image[:, :widest], image[:, width - widest :]]
        band = dataclasses.replace(self.detector, min_face=least, max_face=2 * least)
        for octave in range(octaves):
            scale = 2**octave
            if octave:
                sides = [cv2.pyrDown(side).astype(np.uint8, copy=False) for side in sides]
            strip = min(widest, math.ceil(2 * least * scale * (_EDGE_FACE + walked)))
            cols = min(sides[0].shape[1], math.ceil(strip / scale))
            left, right = sides[0][:, :cols], sides[1][:, sides[1].shape[1] - cols :]
            rows = left.shape[0]
            pair = np.zeros((rows, 2 * cols + GAP, 3), np.uint8)
            pair[:, :cols], pair[:, cols + GAP :] = left, right
            # The right strip's first column in frame pixels.
            right_x = width - widest + (sides[1].shape[1] - cols) * scale
            boxes, box_scores = band.boxes(pair)
            for box, score in zip(boxes.tolist(), box_scores, strict=True):
                if box[2] <= cols:  # the left strip: whole unless its inner side cuts it
                    x1, x2, whole = box[0] * scale, box[2] * scale, box[2] < cols - 1
                elif box[0] >= cols + GAP:  # the right strip
                    x1 = right_x + (box[0] - cols - GAP) * scale
                    x2 = right_x + (box[2] - cols - GAP) * scale
                    whole = box[0] > cols + GAP + 1
                else:  # across the black between the strips: nothing
                    continue
                if whole:
                    found.append((x1, box[1] * scale, x2, box[3] * scale))
                    scores.append(float(score))


def _motions(before: list[Xyxy], now: list[Xyxy], reach: float) -> list[tuple[float, float] | None]:
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
