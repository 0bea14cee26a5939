"""The face analysis commands, run as a user runs them: a real subprocess."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from facewarden.imaging import decode


def facewarden(*args: str | Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "facewarden.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def examples(faces_dir: Path) -> Path:
    return faces_dir / "face_recognition" / "examples"


def test_detect_prints_boxes_as_json(examples: Path) -> None:
    result = facewarden("detect", "--json", examples / "two_people.jpg")
    assert result.returncode == 0, result.stderr
    (record,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(record["faces"]) == 2
    for face in record["faces"]:
        x0, y0, x1, y1 = face["box_xyxy"]
        assert x1 > x0 and y1 > y0
        assert len(face["landmarks"]) == 5
        assert face["quality"]["usable"] is True
        assert "embedding" not in face


def test_detect_draws_the_faces(examples: Path, tmp_path: Path) -> None:
    out = tmp_path / "drawn.jpg"
    result = facewarden("detect", "--draw", out, examples / "obama.jpg")
    assert result.returncode == 0, result.stderr
    with Image.open(out) as drawn:
        assert drawn.size == (910, 1137)
        assert not drawn.getexif()


def test_detect_draw_to_a_place_that_cannot_be_written_is_a_one_line_error(
    examples: Path, tmp_path: Path
) -> None:
    # Found by hand: a --draw file in a missing folder ended in a FileNotFoundError traceback.
    out = tmp_path / "missing" / "drawn.jpg"
    result = facewarden("detect", "--draw", out, examples / "obama.jpg")
    assert result.returncode == 1, result.stderr
    assert f"error: cannot write {out}" in result.stderr and "Traceback" not in result.stderr
    assert "obama.jpg: 1 face(s)" in result.stdout


def test_detect_draws_in_the_format_its_file_name_says(examples: Path, tmp_path: Path) -> None:
    # Found by hand: `--draw faces.png` wrote JPEG bytes under the .png name.
    out = tmp_path / "drawn.png"
    result = facewarden("detect", "--draw", out, examples / "obama.jpg")
    assert result.returncode == 0, result.stderr
    with Image.open(out) as drawn:
        assert drawn.format == "PNG" and drawn.size == (910, 1137)
    other = tmp_path / "drawn.webp"
    refused = facewarden("detect", "--draw", other, examples / "obama.jpg")
    assert refused.returncode == 2 and not other.exists()
    assert refused.stderr.strip().splitlines()[-1] == (
        "Error: --draw writes .jpg, .jpeg or .png, not 'drawn.webp'"
    )


def test_detect_never_draws_over_its_own_input(examples: Path, tmp_path: Path) -> None:
    # Found by hand: `detect photo.jpg --draw photo.jpg` replaced the photo.
    photo = tmp_path / "photo.jpg"
    photo.write_bytes((examples / "obama.jpg").read_bytes())
    result = facewarden("detect", "--draw", photo, photo)
    assert result.returncode == 2, result.stderr
    assert "would overwrite the input" in result.stderr
    assert photo.read_bytes() == (examples / "obama.jpg").read_bytes()


def test_detect_many_images_reports_the_bad_one_and_exits_1(examples: Path, tmp_path: Path) -> None:
    bad = tmp_path / "text.jpg"
    bad.write_text("hello")
    result = facewarden("detect", examples / "obama.jpg", bad, examples / "biden.jpg")
    assert result.returncode == 1
    assert "obama.jpg: 1 face(s)" in result.stdout and "biden.jpg: 1 face(s)" in result.stdout
    assert "text.jpg" in result.stderr and "Traceback" not in result.stderr


def test_compare_same_and_different_people(examples: Path) -> None:
    same = facewarden("compare", "--json", examples / "obama.jpg", examples / "obama2.jpg")
    different = facewarden("compare", "--json", examples / "obama.jpg", examples / "biden.jpg")
    assert same.returncode == 0 and different.returncode == 0, same.stderr + different.stderr
    same_result, different_result = json.loads(same.stdout), json.loads(different.stdout)
    assert same_result["same_person"] is True
    assert different_result["same_person"] is False
    assert same_result["similarity"] > same_result["threshold"] > different_result["similarity"]


def test_compare_without_a_face_is_a_one_line_error(faces_dir: Path, examples: Path) -> None:
    dogs = faces_dir / "dlib" / "examples" / "faces" / "dogs.jpg"
    result = facewarden("compare", examples / "obama.jpg", dogs)
    assert result.returncode == 1
    assert result.stderr.strip() == f"error: {dogs}: no face found"


def test_embed_prints_a_unit_vector(examples: Path) -> None:
    result = facewarden("embed", "--mode", "fast", examples / "obama_small.jpg")
    assert result.returncode == 0, result.stderr
    vector = json.loads(result.stdout.splitlines()[0])["embedding"]
    assert len(vector) == 128
    assert abs(sum(v * v for v in vector) - 1) < 1e-3


@pytest.mark.parametrize(
    "args",
    [
        ("detect",),  # no image
        ("detect", "/no/such/file.jpg"),
        ("compare", "only-one.jpg"),
        ("compare", "--fmr", "0.5", "a.jpg", "b.jpg"),
        ("frobnicate",),
    ],
)
def test_bad_usage_exits_2(args: tuple[str, ...]) -> None:
    result = facewarden(*args)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


def test_not_an_image_exits_1_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "photo.jpg"
    bad.write_bytes(b"")
    result = facewarden("detect", bad)
    assert result.returncode == 1
    assert "empty input" in result.stderr and "Traceback" not in result.stderr


def test_debug_output_never_shows_the_exif_text_of_a_photo(
    examples: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Issue 13 finding 10: -vv printed a probe photo's EXIF text through Pillow's debug log.
    marker = "Jane Roe, 12 Hidden Ln"  # Pillow logs string values up to 32 bytes
    with Image.open(examples / "obama.jpg") as photo:
        exif = Image.Exif()
        exif[0x010E] = marker  # ImageDescription
        exif[0x013B] = marker  # Artist
        exif[0x0112] = 1  # Orientation: read by every decode
        probe = tmp_path / "probe.jpg"
        photo.save(probe, exif=exif)
    with caplog.at_level(logging.DEBUG, logger="PIL"):  # the leak is real: Pillow logs it
        decode(probe)
    assert "Jane Roe" in caplog.text
    result = facewarden("-vv", "detect", probe)
    assert result.returncode == 0, result.stderr
    assert "Jane Roe" not in result.stdout + result.stderr
