"""Anonymous crowd counters: per camera and time bucket, aggregates only.

A :class:`CrowdCounter` is fed, per processed frame, the face boxes and the
number of people in view, and, per ended track, its duration and its
embedding. It keeps per bucket: frames, faces and people in view (mean and
maximum: the occupancy over time), a dwell-time histogram, a coarse
position heatmap, and an estimate of unique visitors. A heatmap cell counts
the distinct people (face tracks) seen in it during the bucket, not their
detections: one person standing still for a minute is 1, not the number of
frames, so small-count suppression applies to cells as to every other count
(SECURITY.md promise 12; the track ids live only in this object's memory). The estimate compares
ended tracks' embeddings (*signatures*) with those of earlier tracks within
a window, so a person who leaves and comes back counts once; signatures
live only in this object's memory, for at most the window, and are never
written (SECURITY.md promise 12). Finished buckets become
:class:`~facewarden.store.cameras.CrowdBucketRow` rows.

:class:`OccupancyAlert` posts a JSON webhook when the people in view reach
a threshold (reports and CSV: :mod:`facewarden.service.crowd_report`).
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np

from facewarden.match.thresholds import DEFAULT_FMR, THRESHOLDS
from facewarden.service.alerts import Post, check_webhook_url, post_json, send, shared_queue
from facewarden.store.cameras import CrowdBucketRow
from facewarden.types import Box, FloatArray

#: Two visitors' signatures are one person from the camera path's own operating
#: point: its embeddings (a chip and its mirror) at the default false match rate.
VISITOR_SIMILARITY = THRESHOLDS["dlib-resnet+mirror"][DEFAULT_FMR]

__all__ = ["DWELL_BINS", "CrowdCounter", "OccupancyAlert", "dwell_bin"]

#: Dwell-time histogram bins: (upper bound in seconds, label).
DWELL_BINS: tuple[tuple[float, str], ...] = (
    (10.0, "<10s"),
    (60.0, "10s-1min"),
    (300.0, "1-5min"),
    (math.inf, ">5min"),
)


def dwell_bin(seconds: float) -> str:
    """The label of the dwell-time bin ``seconds`` falls in."""
    return next(label for bound, label in DWELL_BINS if seconds < bound)


@dataclass
class _Bucket:
    start: datetime
    grid: int
    frames: int = 0
    faces_sum: int = 0
    faces_max: int = 0
    people_sum: int = 0
    people_max: int = 0
    visitors: int = 0
    dwell: Counter[str] = field(default_factory=Counter)
    heat: defaultdict[tuple[int, int], set[int]] = field(default_factory=lambda: defaultdict(set))
    """Per cell (row, column), the track ids of the people seen in it."""

    def heatmap(self) -> tuple[tuple[int, ...], ...]:
        """Distinct people per cell."""
        return tuple(
            tuple(len(self.heat.get((row, col), ())) for col in range(self.grid))
            for row in range(self.grid)
        )


class CrowdCounter:
    """The anonymous counters of one camera.

    Args:
        camera_id: whose counters.
        bucket_seconds: the length of a time bucket.
        grid: the heatmap is ``grid`` x ``grid`` cells over the frame.
        visitor_similarity: two tracks' signatures at least this similar are
            taken for one visitor. Each new track is compared with every
            signature of the window, so a false merge grows with the crowd: at
            0.9 (dlib's FMR 1e-2) two of twelve walkers of ``benchmarks/video.py``
            (mean signatures of 24 to 96 px faces) were taken for one; the
            default is the fast pipeline's threshold at FMR 1e-3 (0.9277,
            ``match/thresholds.py``).
        visitor_window: how long a signature is remembered (in memory only).
        min_hits: tracks detected in fewer frames are taken for noise, not visitors.
    """

    def __init__(
        self,
        camera_id: str,
        *,
        bucket_seconds: int = 60,
        grid: int = 8,
        visitor_similarity: float = VISITOR_SIMILARITY,
        visitor_window: timedelta = timedelta(hours=1),
        min_hits: int = 2,
    ) -> None:
        self.camera_id = camera_id
        self.bucket_seconds = bucket_seconds
        self.grid = grid
        self.visitor_similarity = visitor_similarity
        self.visitor_window = visitor_window
        self.min_hits = min_hits
        self.visitors = 0
        self._buckets: dict[datetime, _Bucket] = {}
        self._signatures: list[tuple[datetime, FloatArray]] = []

    @property
    def signatures_held(self) -> int:
        """How many ended tracks' signatures (unknown faces' embeddings) are in memory now."""
        return len(self._signatures)

    def _bucket(self, when: datetime) -> _Bucket:
        epoch = when.timestamp()
        start_ts = epoch - epoch % self.bucket_seconds
        start = datetime.fromtimestamp(start_ts, tz=when.tzinfo)
        if start not in self._buckets:
            self._buckets[start] = _Bucket(start, self.grid)
        return self._buckets[start]

    def observe(
        self, when: datetime, faces: Mapping[int, Box], people: int, size: tuple[int, int]
    ) -> None:
        """Count one processed frame of ``size`` (width, height) at ``when``.

        Args:
            when: when the frame was taken.
            faces: the faces detected in the frame, by the id of their track
                (a person followed across frames keeps one id).
            people: the people in view (bodies counted too), if known; else 0.
            size: the frame's width and height in pixels.
        """
        bucket = self._bucket(when)
        bucket.frames += 1
        bucket.faces_sum += len(faces)
        bucket.faces_max = max(bucket.faces_max, len(faces))
        people = max(people, len(faces))
        bucket.people_sum += people
        bucket.people_max = max(bucket.people_max, people)
        width, height = size
        for track_id, box in faces.items():
            x, y = box.center
            col = min(self.grid - 1, max(0, int(x / width * self.grid)))
            row = min(self.grid - 1, max(0, int(y / height * self.grid)))
            bucket.heat[row, col].add(track_id)

    def track_ended(
        self, when: datetime, duration: float, hits: int, signature: FloatArray | None
    ) -> None:
        """Count a visit that ended at ``when``: its dwell time, and a visitor if new."""
        if hits < self.min_hits:
            return
        bucket = self._bucket(when)
        bucket.dwell[dwell_bin(duration)] += 1
        if self._is_new_visitor(when, signature):
            bucket.visitors += 1
            self.visitors += 1

    def _forget_signatures(self, now: datetime) -> None:
        """Let go of the signatures whose window has ended by ``now``."""
        cutoff = now - self.visitor_window
        self._signatures = [(t, s) for t, s in self._signatures if t >= cutoff]

    def _is_new_visitor(self, when: datetime, signature: FloatArray | None) -> bool:
        self._forget_signatures(when)
        if signature is None:
            return True
        for index, (_, known) in enumerate(self._signatures):
            if float(np.dot(known, signature)) >= self.visitor_similarity:
                self._signatures[index] = (when, known)
                return False
        self._signatures.append((when, np.array(signature, dtype=np.float32)))
        return True

    def flush(self, now: datetime | None = None) -> list[CrowdBucketRow]:
        """Finished buckets as rows (all of them when ``now`` is None), forgotten here."""
        done = [
            start
            for start in sorted(self._buckets)
            if now is None or start + timedelta(seconds=self.bucket_seconds) <= now
        ]
        if now is None:
            self._signatures.clear()
        else:  # every frame: no stranger's signature outlives its window on a quiet camera
            self._forget_signatures(now)
        return [self._row(self._buckets.pop(start)) for start in done]

    def _row(self, b: _Bucket) -> CrowdBucketRow:
        frames = max(b.frames, 1)
        return CrowdBucketRow(
            self.camera_id,
            b.start,
            self.bucket_seconds,
            b.frames,
            b.faces_max,
            b.faces_sum / frames,
            b.people_max,
            b.people_sum / frames,
            b.visitors,
            dict(b.dwell),
            b.heatmap(),
        )


def merge_buckets(a: CrowdBucketRow, b: CrowdBucketRow) -> CrowdBucketRow:
    """Two counts of one camera's bucket as one: sums, maxima, frame-weighted means.

    A bucket is written more than once when a visit ends after its minute was
    flushed (its dwell time and visitor are counted late), when frames are
    pushed again after an end, or when a worker taking a camera over counts
    the rest of a minute its predecessor began. Visitors are summed: one seen
    by both counts is counted twice (the signatures that would tell are
    never stored). Heatmap cells count distinct people, and the same person
    may be behind a cell in both counts: a cell takes the larger of the two,
    a lower bound, so that merging never lifts a cell over the suppression
    threshold with people counted twice.
    """
    frames = a.frames + b.frames

    def mean(x: float, x_frames: int, y: float, y_frames: int) -> float:
        return (x * x_frames + y * y_frames) / frames if frames else 0.0

    dwell = Counter({k: int(v) for k, v in a.dwell.items()})
    dwell.update({k: int(v) for k, v in b.dwell.items()})
    if len(a.heatmap) == len(b.heatmap):
        heat = tuple(
            tuple(max(x, y) for x, y in zip(ra, rb, strict=True))
            for ra, rb in zip(a.heatmap, b.heatmap, strict=True)
        )
    else:  # another grid size: keep the one with more frames behind it
        heat = a.heatmap if a.frames >= b.frames else b.heatmap
    return CrowdBucketRow(
        a.camera_id,
        a.start,
        max(a.seconds, b.seconds),
        frames,
        max(a.faces_max, b.faces_max),
        mean(a.faces_mean, a.frames, b.faces_mean, b.frames),
        max(a.people_max, b.people_max),
        mean(a.people_mean, a.frames, b.people_mean, b.frames),
        a.unique_visitors + b.unique_visitors,
        dict(dwell),
        heat,
    )


@dataclass
class OccupancyAlert:
    """Posts ``{"camera", "people", "threshold", "at"}`` to a webhook at high occupancy.

    Fires when the people in view reach ``threshold``, then stays quiet for
    ``cooldown`` (and until occupancy has dropped below the threshold), whether
    or not the alert got through. A webhook is posted from the process's alert
    queue (:func:`~facewarden.service.alerts.shared_queue`), never from the
    frame loop: a slow or dead endpoint costs no frame, and its failures are
    logged there. Another ``post`` (an in-memory transport) is called at once.

    Attributes:
        url: where to POST (``http://`` or ``https://``).
        threshold: the people in view that trigger it.
        cooldown: the least time between two alerts.
        post: how to send (tests and other transports replace it).
    """

    url: str
    threshold: int
    cooldown: timedelta = timedelta(minutes=5)
    post: Post = post_json
    sent: int = 0
    _last: datetime | None = None
    _armed: bool = True

    def __post_init__(self) -> None:
        check_webhook_url(self.url)

    def check(self, camera_id: str, people: int, when: datetime) -> bool:
        """Send an alert if due; True when one was sent."""
        if people < self.threshold:
            self._armed = True
            return False
        if not self._armed or (self._last is not None and when - self._last < self.cooldown):
            return False
        payload: dict[str, object] = {
            "event": "occupancy",
            "camera": camera_id,
            "people": people,
            "threshold": self.threshold,
            "at": when.isoformat(),
        }
        # Due now: the cooldown starts whatever happens to the delivery, so a
        # failing endpoint is not retried on every frame.
        self._armed = False
        self._last = when
        if self.post is post_json:
            if not shared_queue().submit(self.url, json.dumps(payload).encode()):
                return False
        elif not send(self.post, self.url, payload):
            return False
        self.sent += 1
        return True
