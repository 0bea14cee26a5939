"""The frame processor tells the camera's detector each frame's time: keyframes by seconds."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from facewarden.service import Warden
from facewarden.service.camera_pipeline import video_pipeline
from facewarden.service.frames import FrameProcessor
from facewarden.vision.mtcnn_detect import MtcnnDetector
from facewarden.vision.video_detect import KeyframeDetector

from ._video import SearchRecorder, background

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("fps", "whole"),
    [
        (2.5, [0.0, 0.4, 0.8, 1.2, 1.6, 2.0]),  # every frame: waiting one would leave 0.8 s
        (5.0, [0.0, 0.6, 1.2, 1.8]),
        (10.0, [0.0, 0.6, 1.2, 1.8]),  # every sixth frame, not every third
    ],
)
def test_the_whole_frame_is_searched_at_least_every_0_6_s_of_video(
    warden: Warden, fps: float, whole: list[float]
) -> None:
    warden.cameras.add("gate", location="gate")
    base = video_pipeline(warden.pipeline, 640, 360)
    assert isinstance(base.detector, KeyframeDetector)
    counting = SearchRecorder(
        **{
            f.name: getattr(base.detector.detector, f.name)
            for f in dataclasses.fields(MtcnnDetector)
        }
    )
    detector = dataclasses.replace(base.detector, detector=counting)
    processor = FrameProcessor(
        warden, "gate", pipeline=dataclasses.replace(base, detector=detector)
    )
    frame = background(640, 360)
    searched = []
    for index in range(round(2.4 * fps)):
        t = index / fps
        before = len(counting.seen)
        processor.process(frame, T0 + timedelta(seconds=t))
        if frame.shape in counting.seen[before:]:
            searched.append(round(t, 3))
    processor.finish(T0 + timedelta(seconds=3))
    assert searched == whole
