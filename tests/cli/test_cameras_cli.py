"""``facewarden cameras`` and ``facewarden watch``, run as a user runs them."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from facewarden.cli import cli


def write_video(path: Path, seconds: float, fps: float) -> Path:
    """A short MP4 of a moving grey ramp (no faces)."""
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, (320, 240))
    ramp = np.tile(np.linspace(0, 255, 320, dtype=np.uint8), (240, 1))
    for index in range(round(seconds * fps)):
        writer.write(cv2.cvtColor(np.roll(ramp, index, axis=1), cv2.COLOR_GRAY2BGR))
    writer.release()
    return path


def test_cameras_add_list_watch_remove(tmp_path: Path) -> None:
    runner = CliRunner(
        env={"FACEWARDEN_WORKERS": "1", "FACEWARDEN_DATA_DIR": None, "FACEWARDEN_KEY_DIR": None}
    )
    where = ["--data-dir", str(tmp_path / "data"), "--key-dir", str(tmp_path / "keys")]

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(cli, [*args, *where])
        assert result.exit_code == code, (args, result.output, result.exception)
        assert "Traceback" not in result.output
        return result.output

    video = write_video(tmp_path / "lobby.mp4", seconds=2.0, fps=10.0)
    run("init")
    run("watchlists", "create", "gate", "--purpose", "site access", "--lawful-basis", "6(1)(f)")
    camera_id = run(
        "cameras", "add", "lobby", "--location", "lobby", "--watchlist", "gate",
        "--gps", "48.1", "11.5", "--source", str(video),
    ).strip()  # fmt: skip
    assert camera_id.startswith("cam_")
    refused = run("cameras", "add", "chapel", "--location", "c", "--sensitive", "--watchlist",
                  "gate", code=1)  # fmt: skip
    assert "sensitive camera identifies nobody" in refused
    run("cameras", "add", "chapel", "--location", "chapel", "--sensitive")
    listed = json.loads(run("cameras", "list", "--json"))
    assert [c["name"] for c in listed] == ["chapel", "lobby"]
    assert listed[0]["sensitive"] and listed[1]["latitude"] == 48.1

    summary = json.loads(run("watch", "lobby", "--fps-budget", "4", "--json"))
    assert summary["frames"] == 8 and summary["sightings"] == 0
    assert "does not exist" in run("watch", "chapel", "--source", str(tmp_path / "x.mp4"), code=1)
    assert "has no source" in run("watch", "chapel", code=2)
    run("cameras", "remove", "lobby")
    assert "lobby" not in run("cameras", "list")


def test_watch_refuses_a_webhook_or_threshold_it_cannot_use_before_it_starts(
    tmp_path: Path,
) -> None:
    # Found by hand: --alert-url ftp://... ended in a ValueError traceback once the
    # video had been opened; an unparseable URL was taken and failed later, alert by
    # alert; a negative --alert-threshold was taken and alerted at every frame.
    runner = CliRunner(
        env={"FACEWARDEN_WORKERS": "1", "FACEWARDEN_DATA_DIR": None, "FACEWARDEN_KEY_DIR": None}
    )
    where = ["--data-dir", str(tmp_path / "data"), "--key-dir", str(tmp_path / "keys")]
    video = write_video(tmp_path / "lobby.mp4", seconds=1.0, fps=5.0)
    assert runner.invoke(cli, ["init", *where]).exit_code == 0
    added = runner.invoke(
        cli, ["cameras", "add", "lobby", "--location", "l", "--source", str(video), *where]
    )
    assert added.exit_code == 0, added.output
    for option, value in (
        ("--alert-url", "ftp://alerts.example/x"),
        ("--alert-url", "http://user:secret@[::1"),
        ("--alert-url", "http:///nohost"),
        ("--sighting-url", "file:///etc/passwd"),
        ("--alert-threshold", "-5"),
    ):
        result = runner.invoke(cli, ["watch", "lobby", option, value, *where])
        assert result.exit_code == 2, (option, value, result.output)
        assert option in result.output and "Traceback" not in result.output
        assert "secret" not in result.output


def test_a_video_named_relative_to_where_the_camera_was_added_is_found_from_anywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Found by hand, following the README (`cameras add lobby --source lobby.mp4`): the
    # path was stored as typed, so the server (`make run` in the checkout), a worker or
    # `watch` started in another folder said "video file lobby.mp4 does not exist".
    runner = CliRunner(
        env={"FACEWARDEN_WORKERS": "1", "FACEWARDEN_DATA_DIR": None, "FACEWARDEN_KEY_DIR": None}
    )
    where = ["--data-dir", str(tmp_path / "data"), "--key-dir", str(tmp_path / "keys")]
    site = tmp_path / "site"
    site.mkdir()
    write_video(site / "lobby.mp4", seconds=1.0, fps=5.0)
    assert runner.invoke(cli, ["init", *where]).exit_code == 0
    monkeypatch.chdir(site)
    added = runner.invoke(
        cli, ["cameras", "add", "lobby", "--location", "l", "--source", "lobby.mp4", *where]
    )
    assert added.exit_code == 0, added.output
    monkeypatch.chdir(tmp_path)
    watched = runner.invoke(cli, ["watch", "lobby", "--fps-budget", "5", "--json", *where])
    assert watched.exit_code == 0, watched.output
    assert json.loads(watched.output)["frames"] == 5
    assert "stream" not in runner.invoke(cli, ["cameras", "list", *where]).output
