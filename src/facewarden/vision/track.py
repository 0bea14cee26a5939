"""Follow faces across a camera's frames: predicted motion, size-normalised gates, appearance.

Pure and in memory: a :class:`Tracker` is fed each processed frame's faces
with the frame's time and answers which tracks were born, continued and
ended.

Why not box overlap: at a budget of 5 frames per second a face walking
across a CCTV view moves 1.5 to 2 of its own widths between two frames
(a face is about 16 cm wide; people walk at 1 to 1.6 m/s), so the box of one
frame and the next do not overlap at all, and a face of 24 to 40 px carries
no embedding to link them by appearance (too small to identify). Linking by
IoU made every such face a new track in every frame: tracks of one detection,
which the crowd counters drop as noise, so such people went uncounted and
their dwell times were zero.

So a detection is linked by where the track should be at the frame's time,
in face sizes, and by its face where both were embedded
(:class:`~facewarden.vision.track_links.LinkCosts`); pairs are taken
likeliest first, each track and each face at most once.

Bounded: a track holds its latest face, its best face, a running mean
embedding and a velocity; at most ``max_tracks`` live at once (beyond, the
tracks missed longest end first). A track's embedding is held only while the
track lives: the caller decides what (if anything) outlives it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np

from facewarden.types import Box, Face, FloatArray
from facewarden.vision.track_links import LinkCosts

__all__ = ["Track", "TrackUpdate", "Tracker", "face_score"]

# How much a newly measured velocity counts against the smoothed one.
_VELOCITY_WEIGHT = 0.6


def face_score(face: Face) -> float:
    """How good a face is for identification: its size in pixels, 0 when unusable.

    Larger faces (up to the detector's box) carry more detail; an unusable
    face (blurred, dark, turned away) never counts as an improvement.
    """
    if not face.usable or face.embedding is None:
        return 0.0
    return min(face.box.width, face.box.height)


def _outside(point: tuple[float, float], frame_size: tuple[int, int]) -> bool:
    x, y = point
    return not (0 <= x < frame_size[0] and 0 <= y < frame_size[1])


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
        velocity: the face centre's motion in pixels per second (x, y),
            smoothed over its detections; None until it was detected twice.
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
    velocity: tuple[float, float] | None = None
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

    def predicted_center(self, when: float) -> tuple[float, float]:
        """Where the face centre should be at ``when``, had it kept its velocity."""
        x, y = self.face.box.center
        if self.velocity is None:
            return x, y
        dt = max(0.0, when - self.last_seen)
        return x + self.velocity[0] * dt, y + self.velocity[1] * dt

    def similarity(self, face: Face) -> float:
        """Cosine similarity of ``face`` to this track's embedding (-1 when either has none)."""
        if self.embedding is None or face.embedding is None:
            return -1.0
        return float(np.dot(self.embedding, face.embedding))

    def add(self, face: Face, when: float) -> None:
        """Continue the track with ``face`` detected at ``when``."""
        if when > self.last_seen:
            (x0, y0), (x1, y1) = self.face.box.center, face.box.center
            dt = when - self.last_seen
            measured = ((x1 - x0) / dt, (y1 - y0) / dt)
            if self.velocity is None:
                self.velocity = measured
            else:
                w = _VELOCITY_WEIGHT
                self.velocity = (
                    w * measured[0] + (1 - w) * self.velocity[0],
                    w * measured[1] + (1 - w) * self.velocity[1],
                )
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


@dataclass(frozen=True)
class TrackUpdate:
    """The outcome of one frame: tracks born in it, every live track, tracks that ended."""

    born: tuple[Track, ...]
    active: tuple[Track, ...]
    ended: tuple[Track, ...]


class Tracker:
    """Associates each frame's faces with live tracks.

    Args:
        max_gap: a track ends when it has not been detected for this many seconds
            (a person hidden longer is taken for gone).
        max_missed: ... or after this many consecutive frames without a detection
            (None: time alone decides, whatever the frame rate).
        max_speed: how fast (face widths per second) a face may move: the reach of a
            track seen once (at 16 cm a face, 12 widths a second is a brisk 1.9 m/s).
        max_turn: how far (face widths per second) a face may stray from its
            predicted path: a track with a velocity is looked for within this
            (times the time elapsed), plus its own predicted move (it may stop).
        max_acceleration: how fast (face widths per second, per second) a face
            may gain speed: 16 is 2.5 m/s² at 16 cm a face (a walker starting
            from a stop reaches walking pace in half a second). A velocity
            measured over the last interval lags such a face by up to this
            times that interval, and the face gains as much again in the next:
            a track ``dt`` seconds on is also looked for within
            ``max_acceleration * dt**2`` of its prediction (``dt`` counted up to
            the half second a start takes), where that reaches further than
            ``max_turn``. It does from about 0.13 s between frames: at a 2.5 fps
            budget (0.4 s) a walker starting again from a stop is 2 face sizes
            off a prediction that a turn alone allows 0.8.
        max_growth: the largest ratio of sizes between a track's face and a face it
            is linked with (a face comes closer or goes away slowly, but a box
            half hidden behind something is smaller than the face).
        min_similarity: the least embedding similarity that links a face to a track
            beyond the gates (a jump: a low frame rate, a long occlusion).
        max_jump: how far (in face widths) such a jump may reach.
        veto_similarity: a face is never linked to a track when both were
            embedded and are less similar than this (someone else stepped in).
            dlib's embeddings of two different people are 0.75 to 0.9 similar:
            on 100 LFW pairs of each kind with faces scaled to 56 px, 0.87
            vetoes 83% of different people and 1% of the same person's two
            photos (0.75 vetoed 2% of different people); faces of one track,
            seconds apart in one video, are more alike than LFW's photos.
        max_tracks: the most tracks alive at once (memory per camera is bounded):
            beyond, those missed longest end first; faces beyond it get no track.

    Attributes:
        links: the link model made of the arguments from ``max_speed`` to
            ``veto_similarity`` (:class:`~facewarden.vision.track_links.LinkCosts`).
    """

    def __init__(
        self,
        *,
        max_gap: float = 2.0,
        max_missed: int | None = None,
        max_speed: float = 12.0,
        max_turn: float = 2.0,
        max_acceleration: float = 16.0,
        max_growth: float = 1.5,
        min_similarity: float = 0.9,
        max_jump: float = 4.0,
        veto_similarity: float = 0.87,
        max_tracks: int = 512,
    ) -> None:
        if max_missed is not None and max_missed < 0:
            raise ValueError(f"max_missed must be >= 0, got {max_missed}")
        if max_gap <= 0 or max_speed <= 0 or max_turn < 0 or max_growth < 1:
            raise ValueError(
                "need max_gap > 0, max_speed > 0, max_turn >= 0 and max_growth >= 1, got "
                f"{max_gap}, {max_speed}, {max_turn}, {max_growth}"
            )
        if max_acceleration < 0:
            raise ValueError(f"max_acceleration must be >= 0, got {max_acceleration}")
        if max_tracks < 1:
            raise ValueError(f"max_tracks must be >= 1, got {max_tracks}")
        self.max_missed = max_missed
        self.max_gap = max_gap
        self.max_tracks = max_tracks
        self.links = LinkCosts(
            max_speed=max_speed,
            max_turn=max_turn,
            max_acceleration=max_acceleration,
            max_growth=max_growth,
            min_similarity=min_similarity,
            max_jump=max_jump,
            veto_similarity=veto_similarity,
        )
        self._tracks: list[Track] = []
        self._ids = itertools.count(1)

    @property
    def tracks(self) -> tuple[Track, ...]:
        """The live tracks."""
        return tuple(self._tracks)

    def update(
        self, faces: list[Face], when: float, frame_size: tuple[int, int] | None = None
    ) -> TrackUpdate:
        """Link ``faces`` (detected in the frame at ``when`` seconds) to tracks.

        With the frame's ``frame_size`` (width, height), a track not detected in
        it whose predicted centre has left the frame ends now: the person walked
        out, and someone entering there later is someone else.
        """
        used_tracks: set[int] = set()
        used_faces: set[int] = set()
        for _, t_index, f_index in sorted(self.links.pairs(self._tracks, faces, when)):
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
            gone = track.missed > 0 and (
                (self.max_missed is not None and track.missed > self.max_missed)
                or when - track.last_seen > self.max_gap
                or (frame_size is not None and _outside(track.predicted_center(when), frame_size))
            )
            (ended if gone else kept).append(track)
        new = [f for f in range(len(faces)) if f not in used_faces]
        # Bounded: make room for the newcomers by ending the tracks missed longest.
        overflow = len(kept) + len(new) - self.max_tracks
        if overflow > 0:
            kept.sort(key=lambda t: (-t.missed, t.last_seen))
            dropped = [t for t in kept[:overflow] if t.missed > 0]
            ended.extend(dropped)
            kept = sorted(kept[len(dropped) :], key=lambda t: t.track_id)
            new = new[: max(0, self.max_tracks - len(kept))]
        born = []
        for f_index in new:
            track = Track(next(self._ids), when, when, faces[f_index])
            track._absorb(faces[f_index], when)
            born.append(track)
        self._tracks = kept + born
        return TrackUpdate(tuple(born), tuple(self._tracks), tuple(ended))

    def candidates(self, face: Face, when: float) -> list[Track]:
        """The live tracks ``face`` (seen at ``when``) may continue by position, likeliest first.

        Known before the frame's :meth:`update`: what a caller needs to decide
        whether to embed it (none: someone new).
        """
        if not self._tracks:
            return []
        costs = self.links.by_position(self._tracks, [face], when)[:, 0]
        order = np.argsort(costs, kind="stable")
        return [self._tracks[i] for i in order if np.isfinite(costs[i])]

    def contested(self, face: Face, when: float, within: float = 1.0) -> bool:
        """Whether two tracks moving apart could each continue ``face`` about as well.

        People crossing: the two likeliest tracks are at most ``within`` apart
        in log likelihood, and their predicted moves since the last frame
        differ by half a face size or more, or one of them was seen only once
        (no motion yet tells them apart: two people entering side by side);
        then only the face's embedding tells who it is. Neighbours in a crowd
        standing or walking together (their tracks moving alike), however
        close, are not contested: a caller that embedded every such face
        would embed a dense crowd in every frame.
        """
        if len(self._tracks) < 2:
            return False
        costs = self.links.by_position(self._tracks, [face], when)[:, 0]
        first, second = np.argsort(costs, kind="stable")[:2]
        if not np.isfinite(costs[second]) or costs[second] - costs[first] > within:
            return False
        a, b = self._tracks[first], self._tracks[second]
        if a.velocity is None or b.velocity is None:
            return True
        dt = max(when - a.last_seen, when - b.last_seen, 0.0)
        dvx, dvy = a.velocity[0] - b.velocity[0], a.velocity[1] - b.velocity[1]
        size = (face.box.width * face.box.height) ** 0.5
        return bool(np.hypot(dvx, dvy) * dt >= 0.5 * size)

    def missing(self, when: float, within: float = 1.0) -> list[tuple[Box, float]]:
        """Where the faces of tracks not detected in the last frame should be at ``when``.

        For each live track missed for at most ``within`` seconds: its box moved
        to the predicted centre, and how far around it (in face sizes) its face
        may be (the gate it would be linked within). A detector that searches
        only where faces were last seen is given these to look again.
        """
        out = []
        for track in self._tracks:
            if not track.missed or when - track.last_seen > within:
                continue
            box = track.box
            (cx, cy), (px, py) = box.center, track.predicted_center(when)
            moved = Box(
                box.x_min + px - cx, box.y_min + py - cy, box.x_max + px - cx, box.y_max + py - cy
            )
            dt = max(0.0, when - track.last_seen)
            speed = 0.0 if track.velocity is None else float(np.hypot(*track.velocity))
            moving = track.velocity is not None
            gate = self.links.reach(dt, speed * dt / (box.width * box.height) ** 0.5, moving)
            out.append((moved, float(gate)))
        return out

    def end_all(self) -> tuple[Track, ...]:
        """End every live track (the source finished); returns them."""
        ended, self._tracks = tuple(self._tracks), []
        return ended
