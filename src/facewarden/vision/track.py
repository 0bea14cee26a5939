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

So a detection is linked by where the track should be at the frame's time:
its last centre moved on at its velocity (a smoothed pixels-per-second
motion), and the distance is measured in face sizes, so one gate fits a
24 px and a 96 px face. A track seen once has no velocity yet: its gate is
as far as a face can walk in the time elapsed (``max_speed`` face widths per
second). A track with a velocity has a tight gate around its prediction that
grows with the time elapsed and its speed (it may stop, turn or start
again), so a track kept across frames the detector missed (someone behind a
pillar, or a frame the detector skipped) is found again where it went. Faces of very different
sizes are never linked. Where both faces were embedded, a clear mismatch
vetoes a link (someone else stepped in) and a good match prefers it; a clear
match also links a face that jumped beyond the gate (a low frame rate).
Pairs are taken likeliest first, each track and each face at most once: a
moving track's prediction, narrow, beats the wide reach of a track seen once.

Bounded: a track holds its latest face, its best face, a running mean
embedding and a velocity; at most ``max_tracks`` live at once (beyond, the
tracks missed longest end first). A track's embedding is held only while the
track lives: the caller decides what (if anything) outlives it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from facewarden.types import Box, Face, FloatArray

__all__ = ["Track", "TrackUpdate", "Tracker", "face_score"]

# Detected boxes wobble by a fraction of their size from frame to frame: every gate
# reaches at least this far (in face sizes) around the prediction.
_BASE_GATE = 0.75
# Links by appearance beyond every gate come after every link by position (whose
# cost stays under 0.5 * (gate / spread)^2 + ln(gate): a few hundred at most).
_JUMP_COST = 1e4
# The tracker's own arithmetic (scalars or arrays: a track, or tracks by faces).
_F64 = npt.NDArray[np.float64]
_Num = float | _F64
_Bool = bool | npt.NDArray[np.bool_]
# How much a newly measured velocity counts against the smoothed one.
_VELOCITY_WEIGHT = 0.6
# Seconds a walker takes from a stop to walking pace: speeding up lasts no longer.
_START = 0.5


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
        self.max_speed = max_speed
        self.max_turn = max_turn
        self.max_acceleration = max_acceleration
        self.max_growth = max_growth
        self.min_similarity = min_similarity
        self.max_jump = max_jump
        self.veto_similarity = veto_similarity
        self.max_tracks = max_tracks
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
        for _, t_index, f_index in sorted(self._candidate_pairs(faces, when)):
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
        costs = self._position_costs([face], when)[:, 0]
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
        costs = self._position_costs([face], when)[:, 0]
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
            gate = self._gate(dt, speed * dt / (box.width * box.height) ** 0.5, moving)
            out.append((moved, float(gate)))
        return out

    def end_all(self) -> tuple[Track, ...]:
        """End every live track (the source finished); returns them."""
        ended, self._tracks = tuple(self._tracks), []
        return ended

    def _gate(self, dt: _Num, moved: _Num, moving: _Bool) -> _F64:
        """How far (face sizes) from its prediction a track's face may be, ``dt`` s on.

        Seen once (not ``moving``): as far as a face can walk. With a velocity
        (its predicted move ``moved``, in face sizes): around the prediction, as
        far as it may have turned or sped up (whichever reaches further), or
        slowed to a stop (half the predicted move: a stop shows as one frame's
        error, and the smoothed velocity then follows).
        """
        elapsed = np.asarray(dt, np.float64)
        anywhere = self.max_speed * elapsed
        changed = np.maximum(
            self.max_turn * elapsed, self.max_acceleration * np.minimum(elapsed, _START) ** 2
        )
        steered = np.minimum(anywhere, 0.5 * np.asarray(moved) + changed)
        out: _F64 = _BASE_GATE + np.where(moving, steered, anywhere)
        return out

    def _position_costs(self, faces: list[Face], when: float) -> _F64:
        """(tracks, faces): the cost of linking each face to each track by position
        (inf: outside the track's gate around its prediction, or sizes too unlike).

        Distances are in face sizes (the geometric mean of the two boxes'), so
        a 24 px face and a 96 px face moving alike get alike gates. Vectorised:
        a crowd of 200 faces and tracks costs milliseconds, not a frame budget.
        """
        boxes = np.array([t.box.as_tuple() for t in self._tracks], np.float64).reshape(-1, 4)
        found = np.array([f.box.as_tuple() for f in faces], np.float64).reshape(-1, 4)
        t_size = np.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))[:, None]
        f_size = np.sqrt((found[:, 2] - found[:, 0]) * (found[:, 3] - found[:, 1]))[None, :]
        dt = np.maximum(0.0, when - np.array([t.last_seen for t in self._tracks]))[:, None]
        moving = np.array([t.velocity is not None for t in self._tracks])[:, None]
        velocity = np.array([t.velocity or (0.0, 0.0) for t in self._tracks]).reshape(-1, 2)
        predicted = (boxes[:, :2] + boxes[:, 2:]) / 2 + velocity * dt
        centres = (found[:, :2] + found[:, 2:]) / 2
        size = np.sqrt(t_size * f_size)
        distance = (
            np.hypot(
                centres[None, :, 0] - predicted[:, None, 0],
                centres[None, :, 1] - predicted[:, None, 1],
            )
            / size
        )
        moved = np.hypot(velocity[:, 0], velocity[:, 1])[:, None] * dt / size
        gate = self._gate(dt, moved, moving)
        alike = np.maximum(t_size, f_size) <= self.max_growth * np.minimum(t_size, f_size)
        # The cost of a link: how unlikely the face is where the track expected it
        # (the negative log-likelihood of a normal spread round the prediction,
        # less its constant). The spread of a moving track is what its velocity
        # leaves uncertain (a turn, the box's wobble), not the stop its gate
        # also allows; a track seen once spreads over its whole reach. Not the
        # distance over the gate: then a track seen once, whose gate is wide,
        # would take a face that a moving track predicts better, and of two
        # walkers crossing the faster (its gate wider) would lose its own face.
        spread = np.where(moving, _BASE_GATE + self.max_turn * dt, gate)
        cost = 0.5 * (distance / spread) ** 2 + np.log(spread)
        out: _F64 = np.where(alike & (distance <= gate), cost, np.inf)
        return out

    def _similarities(self, faces: list[Face]) -> _F64:
        """(tracks, faces) cosine similarity of the embeddings; -1 where either has none."""
        out = np.full((len(self._tracks), len(faces)), -1.0)
        rows = [i for i, t in enumerate(self._tracks) if t.embedding is not None]
        cols = [j for j, f in enumerate(faces) if f.embedding is not None]
        if rows and cols:
            tracks = np.stack([self._tracks[i].embedding for i in rows])  # type: ignore[misc]
            found = np.stack([faces[j].embedding for j in cols])  # type: ignore[misc]
            out[np.ix_(rows, cols)] = tracks @ found.T
        return out

    def _candidate_pairs(self, faces: list[Face], when: float) -> list[tuple[float, int, int]]:
        """(cost, track, face) of every pair that may be linked; cheaper is likelier."""
        if not self._tracks or not faces:
            return []
        cost = self._position_costs(faces, when)
        similarity = self._similarities(faces)
        embedded = similarity > -1.0
        # Both embedded: a good match is preferred, a clear mismatch never linked.
        cost = np.where(embedded, cost - 2 * (similarity - self.veto_similarity), cost)
        cost[embedded & (similarity < self.veto_similarity)] = np.inf
        # Beyond the gates but clearly the same face: after every geometric pair.
        boxes = np.array([t.box.as_tuple() for t in self._tracks], np.float64)
        found = np.array([f.box.as_tuple() for f in faces], np.float64)
        reach = self.max_jump * np.maximum(
            (boxes[:, 2] - boxes[:, 0])[:, None], (found[:, 2] - found[:, 0])[None, :]
        )
        t_centre, f_centre = (boxes[:, :2] + boxes[:, 2:]) / 2, (found[:, :2] + found[:, 2:]) / 2
        near = (
            np.hypot(
                f_centre[None, :, 0] - t_centre[:, None, 0],
                f_centre[None, :, 1] - t_centre[:, None, 1],
            )
            <= reach
        )
        jump = ~np.isfinite(cost) & (similarity >= self.min_similarity) & near
        cost = np.where(jump, _JUMP_COST + (1.0 - similarity), cost)
        rows, cols = np.nonzero(np.isfinite(cost))
        return [(float(cost[i, j]), int(i), int(j)) for i, j in zip(rows, cols, strict=True)]
