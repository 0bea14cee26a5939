"""A 1080p CCTV street scene made from real photos, with its ground truth.

People walk at walking speeds (1.1 to 1.6 m/s) across a 1920x1080 view, their
faces 24 to 96 px wide: a face is about 16 cm wide, so a 24 px face moves
about 200 px a second and a 96 px face about 800 (1.4 to 2 face widths
between two frames at a 5 fps budget). Their heads bob and surge with each
step, so no face moves in a straight line. They enter and leave through the
frame's edges, cross each other going opposite ways (the nearer one, the
larger face, hides the other), two stop for a while and walk on, one comes
towards the camera and one walks away (their faces grow and shrink), and a
pillar and a hanging sign hide them briefly (0.2 to 1 s). Faces are drawn to
scale from the photos, so a small face is a real face seen from further away.

Ground truth per frame: each person's face box (``xyxy``) and the share of
it that is visible (inside the frame, not behind the pillar, the sign or
someone nearer).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

ROOT = Path(__file__).resolve().parents[1]
FACES = ROOT.parent / "shared" / "data" / "faces" / "face_recognition" / "examples"
TRAIN = FACES / "knn_examples" / "train"
LFW = ROOT.parent / "shared" / "data" / "lfw-fold1" / "lfw"
SIZE = (1920, 1080)
FPS = 25.0
# face_crop's tile is 1.8x the long side (the height) of the face's MTCNN box, and
# an MTCNN face box is about 0.735x as wide as it is tall.
FACE_ASPECT = 1.36
TILE_PER_FACE = 1.8 * FACE_ASPECT
# A face is about 16 cm wide: a face w px wide moves w / 0.16 px per metre walked.
FACE_METRES = 0.16
GAIT_HZ = 1.9
# Seconds to slow down to a stop, or to get up to speed again.
RAMP = 0.5
# Pillar (full height) and a hanging sign: (x1, y1, x2, y2), in front of everyone.
OCCLUDERS = ((1150, 0, 1250, 1080), (380, 120, 500, 400))

RGB = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Walker:
    """One person's visit: the face centre goes from ``origin`` to ``target`` at ``speed``.

    Attributes:
        name: who (the photo's person).
        photo: the photo that walks.
        enrolled: another photo of the same person, enrolled; None: a stranger.
        faces: face width in px at the start and at the end (perspective).
        start: when the visit starts (video seconds; the face may still be
            outside the frame then: origins lie beyond its edges).
        origin: the face centre at ``start``.
        target: the face centre at the end.
        speed: walking speed in metres per second.
        pause: (share of the path, seconds): the person stops there that long
            (looks at a shop window), or None.
        phase: where in its stride the gait starts (radians).
    """

    name: str
    photo: Path
    enrolled: Path | None
    faces: tuple[float, float]
    start: float
    origin: tuple[float, float]
    target: tuple[float, float]
    speed: float
    pause: tuple[float, float] | None = None
    phase: float = 0.0

    @property
    def label(self) -> int:
        """The size class reported: the smallest face the person shows."""
        return round(min(self.faces))

    @property
    def _moving(self) -> float:
        length = math.dist(self.origin, self.target)
        return length / (self.speed * (sum(self.faces) / 2) / FACE_METRES)

    @property
    def end(self) -> float:
        return self.start + self._moving + (self.pause[1] + RAMP if self.pause else 0.0)

    def _travel(self, t: float) -> tuple[float, float]:
        """(seconds of walking done by ``t`` after the start, share of full speed now).

        A pause slows down to a stop over ``RAMP`` seconds and speeds up again
        over as long (no one stops or starts dead: about 2.5 m/s²).
        """
        if self.pause is None:
            return t, 1.0
        stop = self.pause[0] * self._moving
        t1 = stop - RAMP / 2  # slowing down from here
        t3 = t1 + RAMP + self.pause[1]  # starting again from here
        if t < t1:
            return t, 1.0
        if t < t1 + RAMP:
            u = t - t1
            return t1 + u - u * u / (2 * RAMP), 1 - u / RAMP
        if t < t3:
            return stop, 0.0
        if t < t3 + RAMP:
            u = t - t3
            return stop + u * u / (2 * RAMP), u / RAMP
        return stop + RAMP / 2 + (t - t3 - RAMP), 1.0

    def at(self, t: float) -> tuple[float, float, float] | None:
        """(centre x, centre y, face width) at ``t``, or None outside the visit."""
        if not self.start <= t < self.end:
            return None
        travel, pace = self._travel(t - self.start)
        a = min(1.0, travel / self._moving)
        face = self.faces[0] + a * (self.faces[1] - self.faces[0])
        x = self.origin[0] + a * (self.target[0] - self.origin[0])
        y = self.origin[1] + a * (self.target[1] - self.origin[1])
        # The gait: the head bobs about 2.5 cm and surges about 1.5 cm at each
        # step (1.9 steps a second), so no face moves in a straight line.
        step = 2 * math.pi * GAIT_HZ * t + self.phase
        y += pace * 0.15 * face * math.sin(step)
        x += pace * 0.1 * face * math.sin(step + 1.0)
        return x, y, face


def _across(
    name: str,
    photo: Path,
    face: float,
    y: float,
    start: float,
    speed: float,
    *,
    leftwards: bool = False,
    enrolled: Path | None = None,
    rise: float = 0.0,
    pause: tuple[float, float] | None = None,
) -> Walker:
    """A walk across the whole view, entering and leaving beyond the frame's edges."""
    margin = face * TILE_PER_FACE / 2 + 4
    left, right = (-margin, y), (SIZE[0] + margin, y + rise)
    origin, target = (right, left) if leftwards else (left, right)
    return Walker(name, photo, enrolled, (face, face), start, origin, target, speed, pause)


def street(seconds: float = 20.0) -> list[Walker]:
    """The walkers of a ``seconds``-long scene (its timings are spread over 20 s)."""
    k = seconds / 20.0
    walkers = [
        # Far away (24 px): two cross each other, one passes behind the sign.
        _across("rose", TRAIN / "rose_leslie/img2.jpg", 24, 210, 0.5 * k, 1.3),
        _across("alex", TRAIN / "alex_lacamoire/img1.jpg", 24, 222, 1.0 * k, 1.5, leftwards=True),
        _across(
            "smith",
            LFW / "Afton_Smith/Afton_Smith_0001.jpg",
            24,
            270,
            7.0 * k,
            1.1,
            pause=(0.45, 1.5),
        ),
        # 36 px: a crossing pair; one comes towards the camera, growing to 56 px.
        _across("lin", FACES / "lin-manuel-miranda.png", 36, 335, 0.0, 1.4, leftwards=True),
        _across(
            "bassett",
            LFW / "Angela_Bassett/Angela_Bassett_0001.jpg",
            36,
            350,
            2.0 * k,
            1.2,
            pause=(0.45, 2.0),
        ),
        Walker(
            "veneman",
            LFW / "Ann_Veneman/Ann_Veneman_0003.jpg",
            None,
            (36, 56),
            8.0 * k,
            (1500, 300),
            (600, 760),
            1.2,
        ),
        # 56 px: two enrolled people cross; a faster stranger later.
        _across(
            "obama",
            TRAIN / "obama/obama2.jpg",
            56,
            520,
            3.0 * k,
            1.4,
            enrolled=TRAIN / "obama/obama.jpg",
        ),
        _across(
            "biden",
            TRAIN / "biden/biden2.jpg",
            56,
            545,
            3.5 * k,
            1.3,
            leftwards=True,
            enrolled=TRAIN / "biden/biden.jpg",
        ),
        _across("frist", LFW / "Bill_Frist/Bill_Frist_0002.jpg", 56, 610, 11.0 * k, 1.6, rise=-40),
        # 96 px, near the camera: fast across the view (about 2.5 s).
        _across(
            "kit",
            TRAIN / "kit_harington/john2.jpeg",
            96,
            820,
            6.0 * k,
            1.3,
            leftwards=True,
            enrolled=TRAIN / "kit_harington/john1.jpeg",
        ),
        _across("pacheco", LFW / "Abel_Pacheco/Abel_Pacheco_0001.jpg", 96, 800, 12.0 * k, 1.5),
        # One walks away from the camera: 56 px shrinking to 36.
        Walker(
            "graham",
            LFW / "Bob_Graham/Bob_Graham_0002.jpg",
            None,
            (56, 36),
            14.0 * k,
            (500, 760),
            (1500, 330),
            1.2,
        ),
    ]
    # Everyone's stride starts at another point.
    return [dataclasses.replace(w, phase=1.3 * i) for i, w in enumerate(walkers)]


@dataclass(frozen=True)
class TrueFace:
    """One person's face in one frame."""

    person: int
    label: int
    box: tuple[float, float, float, float]
    visible: float


@dataclass
class Scene:
    """The walkers, their face tiles and the backdrop: renders frames and their truth."""

    walkers: list[Walker]
    tiles: list[RGB] = field(default_factory=list)
    backdrop: RGB = field(default_factory=lambda: np.zeros((1, 1, 3), np.uint8))

    @classmethod
    def build(cls, walkers: list[Walker]) -> Scene:
        from tests.cameras._video import background, face_crop

        tiles = [face_crop(w.photo, round(max(w.faces) * TILE_PER_FACE)) for w in walkers]
        return cls(walkers, tiles, background(*SIZE))

    def _placed(self, t: float) -> list[tuple[int, float, float, float]]:
        """(walker, centre x, centre y, face width) in drawing order: the nearest (largest) last."""
        placed = []
        for index, walker in enumerate(self.walkers):
            where = walker.at(t)
            if where is not None:
                placed.append((index, *where))
        return sorted(placed, key=lambda p: (p[3], p[0]))

    def frame(self, t: float) -> RGB:
        """The frame at video time ``t``."""
        frame = self.backdrop.copy()
        height, width = frame.shape[:2]
        for index, cx, cy, face in self._placed(t):
            tile = self.tiles[index]
            side = max(4, round(face * TILE_PER_FACE))
            if side != tile.shape[0]:
                tile = cv2.resize(tile, (side, side), interpolation=cv2.INTER_AREA)
            x, y = round(cx - side / 2), round(cy - side / 2)
            x1, y1, x2, y2 = max(0, x), max(0, y), min(width, x + side), min(height, y + side)
            if x1 < x2 and y1 < y2:
                frame[y1:y2, x1:x2] = tile[y1 - y : y2 - y, x1 - x : x2 - x]
        for x1, y1, x2, y2 in OCCLUDERS:
            shade = np.linspace(70, 95, x2 - x1, dtype=np.float32)[None, :, None]
            frame[y1:y2, x1:x2] = np.clip(shade * np.array([1.0, 0.97, 0.9]), 0, 255).astype(
                np.uint8
            )
        return frame

    def truth(self, t: float) -> list[TrueFace]:
        """Every face in the scene at ``t`` (visible or not), with its visible share."""
        placed = self._placed(t)
        out = []
        for order, (index, cx, cy, face) in enumerate(placed):
            half_w, half_h = face / 2, face * FACE_ASPECT / 2
            box = (cx - half_w, cy - half_h, cx + half_w, cy + half_h)
            covers = list(OCCLUDERS)
            for _, ox, oy, oface in placed[order + 1 :]:  # those drawn over it
                half = round(oface * TILE_PER_FACE) / 2
                covers.append((ox - half, oy - half, ox + half, oy + half))
            label = self.walkers[index].label
            out.append(TrueFace(index, label, box, _visible(box, covers)))
        return out


def _visible(box: tuple[float, float, float, float], covers: list[tuple[float, ...]]) -> float:
    """The share of ``box`` inside the frame and under none of ``covers``."""
    x1, y1, x2, y2 = (round(v) for v in box)
    if x2 <= x1 or y2 <= y1:
        return 0.0
    mask = np.zeros((y2 - y1, x2 - x1), bool)
    fx1, fy1 = max(0, -x1), max(0, -y1)
    fx2, fy2 = min(x2 - x1, SIZE[0] - x1), min(y2 - y1, SIZE[1] - y1)
    if fx1 < fx2 and fy1 < fy2:
        mask[fy1:fy2, fx1:fx2] = True
    for a1, b1, a2, b2 in covers:
        cx1, cy1 = max(0, round(a1) - x1), max(0, round(b1) - y1)
        cx2, cy2 = min(x2 - x1, round(a2) - x1), min(y2 - y1, round(b2) - y1)
        if cx1 < cx2 and cy1 < cy2:
            mask[cy1:cy2, cx1:cx2] = False
    return float(mask.mean())
