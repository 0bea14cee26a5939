"""Follow faces across the frames of one camera: IoU plus embedding similarity.

Pure and in memory: a :class:`Tracker` is fed each processed frame's faces
with the frame's time and answers which tracks were born, continued and
ended. A detection joins the track whose box overlaps it most (the last box,
or that box moved on at the track's last speed: at a budget of 5 frames per
second a walking face moves most of its width between two frames), or (when
boxes jumped) whose face embedding it resembles; a track ends after
``max_missed`` frames without a detection.

A track's embedding is a running mean of its faces' embeddings, held only
while the track lives: the caller decides what (if anything) outlives it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from facewarden.types import Box, Face, FloatArray

__all__ = ["Track", "TrackUpdate", "Tracker", "face_score"]


def face_score(face: Face) -> float:
    """How good a face is for identification: its size in pixels, 0 when unusable.

    Larger faces (up to the detector's box) carry more detail; an unusable
    face (blurred, dark, turned away) never counts as an improvement.
    """
    if not face.usable or face.embedding is None:
        return 0.0
    return min(face.box.width, face.box.height)


@dataclass(eq=False)
class Track:
    """One face followed across frames.

    Attributes:
        track_id: a number unique within its tracker.
        first_seen: time (seconds) of the first detection.
        last_seen: time of the latest detection.
        face: the latest detection.
        hits: how many frames it was detected in.
        missed: consecutive processed frames without a detection.
        embedding: running mean (L2-normalised) of the detections' embeddings.
        best_face: the best face so far by :func:`face_score` (for identification).
        velocity: the box's latest motion in pixels per second (x, y), from
            its last two detections; (0, 0) after one.
        embedded_at: time of the latest detection that came with an embedding
            (None: none yet); a caller that embeds faces only when a track needs
            one reads it to refresh the track's embedding now and then.
    """

    track_id: int
    first_seen: float
    last_seen: float
    face: Face
    hits: int = 1
    missed: int = 0
    embedding: FloatArray | None = field(default=None, repr=False)
    best_face: Face | None = field(default=None, repr=False)
    velocity: tuple[float, float] = (0.0, 0.0)
    embedded_at: float | None = None

    @property
    def box(self) -> Box:
        """The latest box."""
        return self.face.box

    @property
    def duration(self) -> float:
        """Seconds between the first and the latest detection."""
        return self.last_seen - self.first_seen

    @property
    def best_score(self) -> float:
        """:func:`face_score` of the best face (0 when none was usable)."""
        return 0.0 if self.best_face is None else face_score(self.best_face)

    def similarity(self, face: Face) -> float:
        """Cosine similarity of ``face`` to this track's embedding (-1 when either has none)."""
        if self.embedding is None or face.embedding is None:
            return -1.0
        return float(np.dot(self.embedding, face.embedding))

    def overlap(self, face: Face, when: float) -> float:
        """How much ``face``, seen at ``when``, overlaps this track: the larger IoU
        with the last box and with the box moved on at the track's speed."""
        dt = when - self.last_seen
        dx, dy = self.velocity[0] * dt, self.velocity[1] * dt
        still = _shifted_iou(self.face.box, face.box, 0.0, 0.0)
        return max(still, _shifted_iou(self.face.box, face.box, dx, dy)) if dx or dy else still

    def add(self, face: Face, when: float) -> None:
        """Continue the track with ``face`` detected at ``when``."""
        if when > self.last_seen:
            (x0, y0), (x1, y1) = self.face.box.center, face.box.center
            dt = when - self.last_seen
            self.velocity = ((x1 - x0) / dt, (y1 - y0) / dt)
        self.face = face
        self.last_seen = when
        self.hits += 1
        self.missed = 0
        self._absorb(face, when)

    def _absorb(self, face: Face, when: float) -> None:
        if face.embedding is not None:
            self.embedded_at = when
        if face.embedding is not None and face.usable:
            if self.embedding is None:
                self.embedding = np.array(face.embedding, dtype=np.float32)
            else:
                mean = self.embedding * 0.8 + face.embedding * 0.2
                self.embedding = (mean / np.linalg.norm(mean)).astype(np.float32)
        if face_score(face) > self.best_score:
            self.best_face = face


def _shifted_iou(a: Box, b: Box, dx: float, dy: float) -> float:
    """IoU of ``a`` moved by ``(dx, dy)`` with ``b`` (in floats: the tracker asks often)."""
    ax1, ay1, ax2, ay2 = a.x_min + dx, a.y_min + dy, a.x_max + dx, a.y_max + dy
    ix = min(ax2, b.x_max) - max(ax1, b.x_min)
    iy = min(ay2, b.y_max) - max(ay1, b.y_min)
    if ix <= 0 or iy <= 0:
        return 0.0
    inter = ix * iy
    union = (ax2 - ax1) * (ay2 - ay1) + (b.x_max - b.x_min) * (b.y_max - b.y_min) - inter
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True)
class TrackUpdate:
    """The outcome of one frame: tracks born in it, every live track, tracks that ended."""

    born: tuple[Track, ...]
    active: tuple[Track, ...]
    ended: tuple[Track, ...]


class Tracker:
    """Associates each frame's faces with live tracks.

    Args:
        max_missed: a track ends after this many consecutive frames without a detection.
        min_iou: the least box overlap that links a detection to a track by position.
        min_similarity: the least embedding similarity that links them by appearance
            (when the boxes do not overlap enough: a fast move or a low frame rate).
        max_jump: how far (in face widths) a face may move between frames and still
            be linked by appearance.
        veto_similarity: overlapping boxes are not linked when both faces were
            embedded and are less similar than this (someone else stepped in).
    """

    def __init__(
        self,
        *,
        max_missed: int = 5,
        min_iou: float = 0.3,
        min_similarity: float = 0.9,
        max_jump: float = 4.0,
        veto_similarity: float = 0.75,
    ) -> None:
        if max_missed < 0:
            raise ValueError(f"max_missed must be >= 0, got {max_missed}")
        self.max_missed = max_missed
        self.min_iou = min_iou
        self.min_similarity = min_similarity
        self.max_jump = max_jump
        self.veto_similarity = veto_similarity
        self._tracks: list[Track] = []
        self._ids = itertools.count(1)

    @property
    def tracks(self) -> tuple[Track, ...]:
        """The live tracks."""
        return tuple(self._tracks)

    def update(self, faces: list[Face], when: float) -> TrackUpdate:
        """Link ``faces`` (detected in the frame at ``when`` seconds) to tracks."""
        pairs = self._candidate_pairs(faces, when)
        used_tracks: set[int] = set()
        used_faces: set[int] = set()
        for _, t_index, f_index in sorted(pairs, key=lambda p: -p[0]):
            if t_index in used_tracks or f_index in used_faces:
                continue
            used_tracks.add(t_index)
            used_faces.add(f_index)
            self._tracks[t_index].add(faces[f_index], when)
        ended: list[Track] = []
        kept: list[Track] = []
        for index, track in enumerate(self._tracks):
            if index not in used_tracks:
                track.missed += 1
            (ended if track.missed > self.max_missed else kept).append(track)
        born = []
        for f_index, face in enumerate(faces):
            if f_index not in used_faces:
                track = Track(next(self._ids), when, when, face)
                track._absorb(face, when)
                born.append(track)
        self._tracks = kept + born
        return TrackUpdate(tuple(born), tuple(self._tracks), tuple(ended))

    def overlapping(self, face: Face, when: float) -> Track | None:
        """The live track ``face`` (seen at ``when``) overlaps most, if by ``min_iou`` or more.

        The track ``face`` would most likely continue, known before the frame's
        :meth:`update`: what a caller needs to decide whether to embed it.
        """
        best, best_iou = None, self.min_iou
        for track in self._tracks:
            iou = track.overlap(face, when)
            if iou >= best_iou:
                best, best_iou = track, iou
        return best

    def end_all(self) -> tuple[Track, ...]:
        """End every live track (the source finished); returns them."""
        ended, self._tracks = tuple(self._tracks), []
        return ended

    def _candidate_pairs(self, faces: list[Face], when: float) -> list[tuple[float, int, int]]:
        pairs = []
        for t_index, track in enumerate(self._tracks):
            for f_index, face in enumerate(faces):
                iou = track.overlap(face, when)
                similarity = track.similarity(face)
                if -1.0 < similarity < self.veto_similarity:
                    continue
                if iou >= self.min_iou or (
                    similarity >= self.min_similarity and self._near(track.box, face.box)
                ):
                    pairs.append((iou + max(similarity, 0.0), t_index, f_index))
        return pairs

    def _near(self, a: Box, b: Box) -> bool:
        (ax, ay), (bx, by) = a.center, b.center
        reach = self.max_jump * max(a.width, b.width)
        return bool((ax - bx) ** 2 + (ay - by) ** 2 <= reach**2)
