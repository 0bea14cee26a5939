"""A camera's own pipeline: the small-face detector on whole frames and, between, on regions.

:func:`video_pipeline` takes the deployment's identification pipeline and
gives one camera's frames their detector (its embedder and quality bar stay
those of the base pipeline); the frame processor
(:mod:`facewarden.service.frames`) builds one per camera at its first frame.
"""

from __future__ import annotations

import dataclasses

from facewarden.vision.mtcnn_detect import MtcnnDetector
from facewarden.vision.pipeline import Pipeline
from facewarden.vision.video_detect import KeyframeDetector

__all__ = ["video_pipeline"]


def video_pipeline(
    base: Pipeline,
    width: int,
    height: int,
    *,
    min_face: float = 24.0,
    max_pixels: int = 2_100_000,
    keyframe_interval: float = 0.6,
    threads: int = 0,
) -> Pipeline:
    """``base`` with the small-face detector for one camera's ``width`` x ``height`` frames.

    Frames up to ``max_pixels`` (1080p) keep their resolution, so faces of
    ``min_face`` pixels (24 by default: a face across a street on a 1080p
    camera) are searched for; in a larger frame the smallest face searched
    for grows in proportion. The whole frame is searched at least every
    ``keyframe_interval`` seconds of video and, in between, only the regions
    of the faces last found and the frame's side edges, where people walk in
    (:class:`~facewarden.vision.video_detect.KeyframeDetector`, one per
    camera: it remembers the last frame's faces; the frame processor tells it
    each frame's time). No CNN fallback runs.

    The detector's networks use ``threads`` cores (0: all): a camera's frames
    are worked on one after another, so one camera may use every core (a
    batch, by contrast, runs one single-threaded worker per core).
    """
    factor = max(1.0, (width * height / max_pixels) ** 0.5)
    # A stricter last stage than for stills: a camera sees each face in many
    # frames, so a face missed once is found in the next, while a false face on
    # the backdrop would be counted (and tracked) frame after frame.
    frames = MtcnnDetector(
        min_face=min_face * factor,
        thresholds=(0.6, 0.7, 0.8),
        reuse_levels=True,
        threads=threads,
        name="mtcnn-video",
    )
    detector = KeyframeDetector(frames, interval=keyframe_interval)
    return dataclasses.replace(base, detector=detector)
