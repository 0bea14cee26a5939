"""People counted by the frame processor: from faces alone, or with a body detector."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from facewarden import imaging
from facewarden.config import Settings
from facewarden.match.thresholds import THRESHOLDS
from facewarden.privacy import ManualClock
from facewarden.service.frames import FrameProcessor
from facewarden.service.warden import Warden
from facewarden.vision.pipeline import Pipeline

from .test_people_facing_away import IN_VIEW, _frames, _sample


def test_people_are_counted_from_faces_when_no_body_detector_runs(
    warden: Warden, faces_dir: Path
) -> None:
    warden.cameras.add("lobby", location="lobby")
    processor = FrameProcessor(warden, "lobby", people=None)
    frame = imaging.decode(faces_dir / "dlib" / "examples" / "faces" / "2008_002470.jpg")
    result = processor.process(frame, datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    assert result.faces > 1
    assert result.people == result.faces


def test_a_camera_with_nanodet_counts_the_people_no_face_shows(
    warden: Warden, nanodet_dir: Path
) -> None:
    """OpenCV's vtest.avi pushed as frames: no face is large enough, every person is counted."""
    from facewarden.vision.people_nanodet import NanodetPeopleDetector

    warden.cameras.add("path", location="campus path")
    people = NanodetPeopleDetector(min_height=40, folder=nanodet_dir)
    processor = FrameProcessor(warden, "path", people=people)
    start = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
    counted = []
    for step, (index, frame) in enumerate(_frames(_sample()).items()):
        result = processor.process(frame, start + timedelta(seconds=2 * step))
        assert result.faces == 0
        counted.append((result.people, IN_VIEW[index]))
    assert all(people <= in_view for people, in_view in counted)
    assert sum(p for p, _ in counted) >= 0.95 * sum(IN_VIEW.values())


@pytest.mark.parametrize(
    ("mode", "key"), [("fast", "dlib-resnet+mirror"), ("accurate", "dlib-resnet+mirror+jitter8")]
)
def test_visitors_are_told_apart_at_the_camera_pipelines_own_threshold(
    tmp_path: Path, clock: ManualClock, mode: str, key: str
) -> None:
    settings = Settings(data_dir=tmp_path / "data", key_dir=tmp_path / "keys", workers=1, mode=mode)
    with Warden.open(settings, clock=clock, create=True, actor="test:pytest") as opened:
        opened.cameras.add("gate", location="gate")
        processor = FrameProcessor(opened, "gate", people=None)
        assert processor.crowd.visitor_similarity == THRESHOLDS[key][1e-3]
        single_view = FrameProcessor(opened, "gate", people=None, pipeline=Pipeline(mirror=False))
        assert single_view.crowd.visitor_similarity == THRESHOLDS["dlib-resnet"][1e-3]
