"""Source URLs never reach an error message whole: credentials, paths and queries go."""

from __future__ import annotations

from facewarden.vision.sources import redact_text, source_kind

SOURCE = "rtsp://viewer:s3cret@10.1.2.3:554/cam1?token=abc123"


def test_error_texts_lose_the_source_and_every_url_in_them() -> None:
    text = (
        f"cannot open {SOURCE}; OpenCV tried 'RTSP://viewer:s3cret@10.1.2.3:554/cam1' and "
        "http://other.example/path?key=zzz"
    )
    redacted = redact_text(text, SOURCE)
    for secret in ("s3cret", "viewer", "token", "abc123", "cam1", "key=zzz", "/path"):
        assert secret not in redacted, secret
    assert "rtsp://10.1.2.3:554/..." in redacted and "http://other.example/..." in redacted
    assert redact_text("no url here") == "no url here"


def test_stream_schemes_in_any_case_are_streams() -> None:
    assert source_kind("RTSP://host/x") == source_kind("rtsp://host/x") == "stream"
    assert source_kind("/videos/door.mp4") == "file"
