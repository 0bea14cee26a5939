"""A camera without a body detector still counts people: every face is one."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from facewarden import imaging
from facewarden.service.frames import FrameProcessor
from facewarden.service.warden import Warden


def test_people_are_counted_from_faces_when_no_body_detector_runs(
    warden: Warden, faces_dir: Path
) -> None:
    warden.cameras.add("lobby", location="lobby")
    processor = FrameProcessor(warden, "lobby", people=None)
    frame = imaging.decode(faces_dir / "dlib" / "examples" / "faces" / "2008_002470.jpg")
    result = processor.process(frame, datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    assert result.faces > 1
    assert result.people == result.faces
