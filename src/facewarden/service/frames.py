"""The frame processor: one camera's frames to tracks, sightings and crowd counts.

Per frame (ARCHITECTURE.md, "One frame, end to end")::

    frame -> detect faces -> embed those a track needs -> tracker -> identify a
    track once it has a usable face, again only when a clearly better face appears -> a sighting
    per visit of a watchlist subject -> people detector (every few frames)
    -> anonymous crowd counters; ended tracks are forgotten.

Embeddings are most of a frame's cost, so a face is embedded only when its
track needs it (:meth:`FrameProcessor.wants_embedding`): never when it is
too small or poor to identify, and for a face that continues a track only
when the track has no embedding yet, when the face is clearly larger than
the one last used, or when the track's embedding is ``refresh_embedding``
old. The others are followed by their boxes.

A track's faces and embedding live only in memory, in the tracker; when the
track ends they are dropped, whoever it was. Only a match against a
watchlist of the camera leaves a trace: one sighting per visit (a subject
who comes back within ``merge_gap`` continues the same visit), written when
first matched and moved on when the track ends or every ``sync_every``. A
sensitive camera never identifies: it only counts.

A track's identification is audited (SECURITY.md promise 17), but without
*who* matched: an ``identify`` entry naming the subject, with the camera in
its purpose and the time, would outlive the sighting by years and be
exactly the movement record its 24-hour expiry exists to prevent (promise
11). So the entry gives counts only (``matched_count``); who was seen is in
the sighting, for as long as the sighting lives, and reading it is audited
with a case reference (promise 18).

Webhook alerts of new sightings are only queued here
(:class:`~facewarden.service.alerts.SightingAlert`); a slow or dead webhook
never holds up a frame.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from facewarden import imaging
from facewarden.errors import ConfigError
from facewarden.match.thresholds import DEFAULT_FMR, threshold_for
from facewarden.service.alerts import SightingAlert
from facewarden.service.camera_pipeline import video_pipeline
from facewarden.service.cameras import resolve_camera
from facewarden.service.crowd import VISITOR_SIMILARITY, CrowdCounter, OccupancyAlert
from facewarden.store.cameras import CameraRow, CrowdBucketRow
from facewarden.types import Box, Face
from facewarden.vision.people import BodyDetector, count_people, countable
from facewarden.vision.pipeline import Pipeline
from facewarden.vision.track import Track, Tracker

if TYPE_CHECKING:
    from facewarden.service.warden import Warden

__all__ = ["FrameProcessor", "FrameResult"]

_BODIES_MAX_AGE = timedelta(seconds=1)
# Between keyframes only the regions of the last faces are searched; that holds
# while frames come close together (0.2 s apart at the default 5 fps budget).
_REGIONS_MAX_GAP = timedelta(seconds=0.5)

RGBImage = npt.NDArray[np.uint8]

log = logging.getLogger(__name__)


def _visitor_similarity(pipeline: Pipeline) -> float:
    """The similarity at which two tracks are one visitor: ``pipeline``'s threshold at FMR 1e-3.

    An embedder with no calibration (a custom model) falls back to the
    default model's, with a warning: visitors are then told apart less surely.
    """
    try:
        return threshold_for(pipeline, DEFAULT_FMR)
    except ConfigError as exc:
        log.warning("unique visitors: %s; using %.4f", exc, VISITOR_SIMILARITY)
        return VISITOR_SIMILARITY


@dataclass(frozen=True)
class FrameResult:
    """What one frame gave: faces and people in view, live tracks, new sightings."""

    when: datetime
    faces: int
    people: int | None
    tracks: int
    new_sightings: tuple[str, ...] = ()


@dataclass
class _Visit:
    sighting_id: str
    subject_id: str
    similarity: float
    last_seen: datetime
    written: datetime


@dataclass
class _TrackState:
    identified_score: float = 0.0
    visits: dict[str, _Visit] = field(default_factory=dict)


class FrameProcessor:
    """Processes one camera's frames, in time order.

    Args:
        warden: the open deployment (acts as the camera's worker actor).
        camera: the camera's name or id.
        pipeline: detects and embeds faces (default:
            :func:`~facewarden.service.camera_pipeline.video_pipeline` of the
            deployment's pipeline, sized at the first frame).
        people: the body detector, or None to count faces only.
        people_every: run the body detector on every n-th frame (its bodies are
            reused with each frame's own faces, for at most one second).
        tracker: the face tracker (default: a fresh :class:`Tracker`).
        crowd: the crowd counters (default: one-minute buckets; two tracks are one
            visitor at the camera pipeline's threshold at FMR 1e-3, `threshold_for`).
        alert: an occupancy webhook, or None.
        sighting_alert: a webhook told of each new sighting (ids only), or
            None. Alerts are queued, never posted in the frame loop; :meth:`finish`
            waits up to ``alert_flush`` seconds for them to go out.
        improve_factor: re-identify a track when a face this much larger
            (by :func:`face_score`) than the one last searched appears.
        refresh_embedding: a track's face is embedded again after this long
            (even when no larger), which keeps two people whose boxes cross apart.
        merge_gap: a subject seen again within this continues the same visit.
        sync_every: how often a live visit's last-seen time is written.
        alert_flush: how long :meth:`finish` waits for queued sighting alerts.
    """

    def __init__(
        self,
        warden: Warden,
        camera: str,
        *,
        pipeline: Pipeline | None = None,
        people: BodyDetector | None = None,
        people_every: int = 5,
        tracker: Tracker | None = None,
        crowd: CrowdCounter | None = None,
        alert: OccupancyAlert | None = None,
        sighting_alert: SightingAlert | None = None,
        improve_factor: float = 1.3,
        refresh_embedding: timedelta = timedelta(seconds=2),
        merge_gap: timedelta = timedelta(seconds=10),
        sync_every: timedelta = timedelta(seconds=30),
        alert_flush: float = 5.0,
    ) -> None:
        self._warden = warden
        self._alert_flush = alert_flush
        self.camera: CameraRow = resolve_camera(warden.store, camera)
        self._pipeline = pipeline
        self._people = people
        self._people_every = max(1, people_every)
        self._bodies: list[Box] = []
        self._bodies_at: datetime | None = None
        self.tracker = tracker or Tracker()
        # Visitors are told apart by the camera pipeline's own embeddings (the
        # deployment's embedder and views: video_pipeline changes only the detector).
        self.crowd = crowd or CrowdCounter(
            self.camera.camera_id,
            visitor_similarity=_visitor_similarity(pipeline or warden.pipeline),
        )
        self._alert = alert
        self._sighting_alert = sighting_alert
        self._improve = improve_factor
        self._refresh = refresh_embedding.total_seconds()
        self._merge_gap = merge_gap
        self._sync_every = sync_every
        self._states: dict[int, _TrackState] = {}
        self._recent: dict[str, _Visit] = {}
        self._frames = 0
        self._t0: datetime | None = None
        self._last: datetime | None = None
        self.identifications = 0

    def process(self, frame: RGBImage, when: datetime) -> FrameResult:
        """Process one RGB frame captured at ``when``."""
        height, width = frame.shape[:2]
        if self._pipeline is None:
            self._pipeline = video_pipeline(self._warden.pipeline, width, height)
        if self._t0 is None:
            self._t0 = when
        now = (when - self._t0).total_seconds()
        if self._last is None or abs(when - self._last) > _REGIONS_MAX_GAP:
            # This processor's first frame (the detector may have seen others), or
            # frames far apart (a pushed still now and then, a stalled source): the
            # faces of the last one say nothing about where to look in this one.
            reset = getattr(self._pipeline.detector, "reset", None)
            if callable(reset):
                reset()
        else:
            # Faces the last frame missed (half hidden, passing someone) are looked
            # for where their tracks say they went, not only at the next keyframe.
            expect = getattr(self._pipeline.detector, "expect", None)
            if callable(expect):
                expect([(box.as_tuple(), reach) for box, reach in self.tracker.missing(now)])
        self._last = when
        # Keyframes are due by video time, whatever the processing rate.
        frame_time = getattr(self._pipeline.detector, "frame_time", None)
        if callable(frame_time):
            frame_time(now)
        faces = self._pipeline.run(frame, embed=lambda face: self.wants_embedding(face, now))
        update = self.tracker.update(faces, now, (width, height))
        for track in update.ended:
            self._end(track, when)
        new: list[str] = []
        if not self.camera.sensitive and self.camera.watchlists:
            for track in update.active:
                if track.missed == 0:
                    new.extend(self._identify(track, frame, when))
        people = self._count_people(frame, faces, when)
        # Every face of this frame is a track detected now (linked or born).
        in_view = {t.track_id: t.box for t in update.active if t.missed == 0}
        self.crowd.observe(when, in_view, people, (width, height))
        if self._alert is not None:
            self._alert.check(self.camera.camera_id, max(people, len(faces)), when)
        self._store_buckets(self.crowd.flush(when))
        self._frames += 1
        return FrameResult(when, len(faces), people, len(update.active), tuple(new))

    def wants_embedding(self, face: Face, now: float) -> bool:
        """Whether ``face`` (seen ``now`` seconds into the source) is worth embedding.

        A face too small or poor to identify is not (nothing could be matched or
        told apart with it). A face that only one track could continue (by its
        predicted position) is embedded when the track has no embedding yet,
        when it is at least ``improve_factor`` larger than the track's best
        face or the face it was identified from (it may identify the person
        where those could not), or when the track's embedding is
        ``refresh_embedding`` old. A face of no track (someone new, or a jump
        the motion does not follow) always is, and so is a face two tracks moving
        apart could continue about as well (people crossing:
        :meth:`~facewarden.vision.track.Tracker.contested`) or one whose track
        was lost for two frames or more (someone else may have come out from
        behind the pillar): there only faces tell people apart.
        """
        if not face.usable:
            return False
        tracks = self.tracker.candidates(face, now)
        if not tracks or tracks[0].missed >= 2 or self.tracker.contested(face, now):
            return True
        track = tracks[0]
        if track.embedded_at is None:
            return True
        reference = track.best_score
        state = self._states.get(track.track_id)
        if state is not None and state.identified_score:
            reference = min(reference, state.identified_score)
        if min(face.box.width, face.box.height) >= reference * self._improve:
            return True
        return now - track.embedded_at >= self._refresh

    def finish(self, when: datetime) -> None:
        """The source ended: end every track, write visits and every bucket, send alerts.

        Waits (at most ``alert_flush`` seconds) for the queued sighting alerts.
        """
        for track in self.tracker.end_all():
            self._end(track, when)
        self._store_buckets(self.crowd.flush(None))
        self._recent.clear()
        if self._sighting_alert is not None:
            self._sighting_alert.flush(self._alert_flush)

    def _count_people(self, frame: RGBImage, faces: list[Face], when: datetime) -> int:
        sure = countable(faces)
        if self._people is None:
            return len(sure)  # every sure face is a person; no body detector adds the rest
        stale = self._bodies_at is None or abs(when - self._bodies_at) > _BODIES_MAX_AGE
        if stale or self._frames % self._people_every == 0:
            self._bodies, self._bodies_at = self._people.detect(frame), when
        # Bodies from a frame up to a second ago, this frame's faces: a scene that
        # changed (frames pushed far apart) is never counted from an old frame.
        return count_people(sure, self._bodies)

    def _identify(self, track: Track, frame: RGBImage, when: datetime) -> list[str]:
        state = self._states.setdefault(track.track_id, _TrackState())
        score = track.best_score
        if score <= 0 or track.best_face is not track.face:
            self._extend(state, when)
            return []
        if state.identified_score and score < state.identified_score * self._improve:
            self._extend(state, when)
            return []
        state.identified_score = score
        self.identifications += 1
        new = []
        for watchlist_id in self.camera.watchlists:
            result = self._warden.recognition.identify_faces(
                [track.face],
                watchlist_id,
                top_k=1,
                purpose=f"camera {self.camera.camera_id}",
                audit_subjects=False,
            )
            matches = result.faces[0].matches if result.faces else ()
            if matches:
                created = self._sighted(
                    state, watchlist_id, matches[0].subject_id, matches[0].similarity, track, frame
                )
                if created is not None:
                    new.append(created)
        self._extend(state, when)
        return new

    def _sighted(
        self,
        state: _TrackState,
        watchlist_id: str,
        subject_id: str,
        similarity: float,
        track: Track,
        frame: RGBImage,
    ) -> str | None:
        assert self._t0 is not None
        first = self._t0 + timedelta(seconds=track.first_seen)
        last = self._t0 + timedelta(seconds=track.last_seen)
        visit = state.visits.get(watchlist_id)
        if visit is not None and visit.subject_id == subject_id:
            visit.similarity = max(visit.similarity, similarity)
            return None
        key = f"{watchlist_id}/{subject_id}"
        recent = self._recent.get(key)
        if recent is not None and first - recent.last_seen <= self._merge_gap:
            recent.similarity = max(recent.similarity, similarity)
            state.visits[watchlist_id] = recent
            return None
        thumbnail = self._thumbnail(track, frame) if self.camera.keep_thumbnails else None
        sighting_id, new = self._warden.sightings.record_visit(
            self.camera,
            subject_id,
            watchlist_id,
            first,
            last,
            similarity,
            thumbnail,
            merge_gap=self._merge_gap,
        )
        if new and self._sighting_alert is not None:  # queued: never waits for the webhook
            self._sighting_alert.notify(sighting_id, self.camera.camera_id, watchlist_id, first)
        visit = _Visit(sighting_id, subject_id, similarity, last, last)
        state.visits[watchlist_id] = visit
        self._recent[key] = visit
        # A stored visit continued (a camera taken over goes over its last
        # seconds again) is not a new sighting: not reported, not alerted.
        return sighting_id if new else None

    def _extend(self, state: _TrackState, when: datetime) -> None:
        for visit in state.visits.values():
            visit.last_seen = max(visit.last_seen, when)
            if when - visit.written >= self._sync_every:
                self._write(visit)

    def _write(self, visit: _Visit) -> None:
        self._warden.sightings.extend(visit.sighting_id, visit.last_seen, visit.similarity)
        visit.written = visit.last_seen

    def _end(self, track: Track, when: datetime) -> None:
        state = self._states.pop(track.track_id, None)
        assert self._t0 is not None
        last = self._t0 + timedelta(seconds=track.last_seen)
        if state is not None:
            for visit in state.visits.values():
                visit.last_seen = max(visit.last_seen, last)
                self._write(visit)
        self.crowd.track_ended(last, track.duration, track.hits, track.embedding)
        cutoff = when - self._merge_gap
        self._recent = {k: v for k, v in self._recent.items() if v.last_seen >= cutoff}

    @staticmethod
    def _thumbnail(track: Track, frame: RGBImage) -> bytes:
        box = track.face.box
        h, w = frame.shape[:2]
        x1, y1 = max(0, int(box.x_min)), max(0, int(box.y_min))
        x2, y2 = min(w, int(box.x_max)), min(h, int(box.y_max))
        return imaging.encode_jpeg(frame[y1:y2, x1:x2], quality=85)

    def _store_buckets(self, rows: list[CrowdBucketRow]) -> None:
        if rows:
            self._warden.crowd.save(rows)
