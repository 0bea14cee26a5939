"""Which face continues which track: gates around predicted places, link costs, appearance.

The link model of :class:`~facewarden.vision.track.Tracker` (why it does not
link by box overlap is said there). A detection is linked by where the track
should be at the frame's time: its last centre moved on at its velocity (a
smoothed pixels-per-second motion), and the distance is measured in face
sizes, so one gate fits a 24 px and a 96 px face. A track seen once has no
velocity yet: its gate is as far as a face can walk in the time elapsed
(``max_speed`` face widths per second). A track with a velocity has a tight
gate around its prediction that grows with the time elapsed and its speed (it
may stop, turn or start again), so a track kept across frames the detector
missed (someone behind a pillar, or a frame the detector skipped) is found
again where it went. Faces of very different sizes are never linked. Where
both faces were embedded, a clear mismatch vetoes a link (someone else stepped
in) and a good match prefers it; a clear match also links a face that jumped
beyond the gate (a low frame rate). The tracker takes pairs likeliest first,
each track and each face at most once: a moving track's prediction, narrow,
beats the wide reach of a track seen once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from facewarden.types import Face

if TYPE_CHECKING:
    from facewarden.vision.track import Track

__all__ = ["LinkCosts"]

# Detected boxes wobble by a fraction of their size from frame to frame: every gate
# reaches at least this far (in face sizes) around the prediction.
_BASE_GATE = 0.75
# Links by appearance beyond every gate come after every link by position (whose
# cost stays under 0.5 * (gate / spread)^2 + ln(gate): a few hundred at most).
_JUMP_COST = 1e4
# The link model's own arithmetic (scalars or arrays: a track, or tracks by faces).
_F64 = npt.NDArray[np.float64]
_Num = float | _F64
_Bool = bool | npt.NDArray[np.bool_]
# Seconds a walker takes from a stop to walking pace: speeding up lasts no longer.
_START = 0.5


@dataclass(frozen=True)
class LinkCosts:
    """How likely each face is to continue each track; cheaper is likelier.

    Attributes: as the arguments of the same names of
    :class:`~facewarden.vision.track.Tracker`, which checks them.
    """

    max_speed: float
    max_turn: float
    max_acceleration: float
    max_growth: float
    min_similarity: float
    max_jump: float
    veto_similarity: float

    def reach(self, dt: _Num, moved: _Num, moving: _Bool) -> _F64:
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

    def by_position(self, tracks: Sequence[Track], faces: list[Face], when: float) -> _F64:
        """(tracks, faces): the cost of linking each face to each track by position
        (inf: outside the track's gate around its prediction, or sizes too unlike).

        Distances are in face sizes (the geometric mean of the two boxes'), so
        a 24 px face and a 96 px face moving alike get alike gates. Vectorised:
        a crowd of 200 faces and tracks costs milliseconds, not a frame budget.
        """
        boxes = np.array([t.box.as_tuple() for t in tracks], np.float64).reshape(-1, 4)
        found = np.array([f.box.as_tuple() for f in faces], np.float64).reshape(-1, 4)
        t_size = np.sqrt((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))[:, None]
        f_size = np.sqrt((found[:, 2] - found[:, 0]) * (found[:, 3] - found[:, 1]))[None, :]
        dt = np.maximum(0.0, when - np.array([t.last_seen for t in tracks]))[:, None]
        moving = np.array([t.velocity is not None for t in tracks])[:, None]
        velocity = np.array([t.velocity or (0.0, 0.0) for t in tracks]).reshape(-1, 2)
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
        gate = self.reach(dt, moved, moving)
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

    def pairs(
        self, tracks: Sequence[Track], faces: list[Face], when: float
    ) -> list[tuple[float, int, int]]:
        """(cost, track, face) of every pair that may be linked; cheaper is likelier."""
        if not tracks or not faces:
            return []
        cost = self.by_position(tracks, faces, when)
        similarity = _similarities(tracks, faces)
        embedded = similarity > -1.0
        # Both embedded: a good match is preferred, a clear mismatch never linked.
        cost = np.where(embedded, cost - 2 * (similarity - self.veto_similarity), cost)
        cost[embedded & (similarity < self.veto_similarity)] = np.inf
        # Beyond the gates but clearly the same face: after every geometric pair.
        boxes = np.array([t.box.as_tuple() for t in tracks], np.float64)
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


def _similarities(tracks: Sequence[Track], faces: list[Face]) -> _F64:
    """(tracks, faces) cosine similarity of the embeddings; -1 where either has none."""
    out = np.full((len(tracks), len(faces)), -1.0)
    rows = [i for i, t in enumerate(tracks) if t.embedding is not None]
    cols = [j for j, f in enumerate(faces) if f.embedding is not None]
    if rows and cols:
        known = np.stack([tracks[i].embedding for i in rows])  # type: ignore[misc]
        found = np.stack([faces[j].embedding for j in cols])  # type: ignore[misc]
        out[np.ix_(rows, cols)] = known @ found.T
    return out
