"""One photo in the encodings real clients send: the same faces from the CLI, /v1 and CompreFace.

Phones store a portrait turned and say so in EXIF (orientations 2 to 8),
print shops send CMYK JPEGs, editors write palette, grey+alpha and 16-bit
PNGs, browsers WebP. Each encoding is made here from one real photo; the
command line (a real subprocess), the native ``/v1/detect`` and CompreFace's
``/api/v1/detection/detect`` on the real server must find the faces of the
photo as it is meant to be seen, in the same places.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facewarden.types import Box
from facewarden.vision.pipeline import Pipeline

from ._live import FAST, LiveServer, serving

Encoder = Callable[[Image.Image], tuple[str, bytes]]

# What a viewer does for each EXIF orientation is undone here, so the file
# shows the upright photo once the orientation is applied.
_STORED_AS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def _saved(image: Image.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _exif(orientation: int, fmt: str) -> Encoder:
    def encode(photo: Image.Image) -> tuple[str, bytes]:
        exif = Image.Exif()
        exif[0x0112] = orientation
        stored = photo.transpose(_STORED_AS[orientation])
        return fmt.lower(), _saved(stored, fmt, exif=exif.tobytes())

    return encode


def _grey_alpha(photo: Image.Image) -> tuple[str, bytes]:
    return "png", _saved(photo.convert("LA"), "PNG")


def _grey_16(photo: Image.Image) -> tuple[str, bytes]:
    wide = np.asarray(photo.convert("L")).astype(np.uint16) * 257
    return "png", _saved(Image.fromarray(wide), "PNG")


def _palette_transparent(photo: Image.Image) -> tuple[str, bytes]:
    palette = photo.convert("P", palette=Image.Palette.ADAPTIVE)
    return "png", _saved(palette, "PNG", transparency=0)


ENCODINGS: dict[str, Encoder] = {
    **{f"jpeg-exif-{o}": _exif(o, "JPEG") for o in (3, 6, 8)},
    "jpeg-exif-5": _exif(5, "JPEG"),
    "png-exif-6": _exif(6, "PNG"),
    "webp-exif-8": _exif(8, "WEBP"),
    "jpeg-cmyk": lambda p: ("jpg", _saved(p.convert("CMYK"), "JPEG", quality=95)),
    "jpeg-progressive": lambda p: ("jpg", _saved(p, "JPEG", quality=90, progressive=True)),
    "png-grey-alpha": _grey_alpha,
    "png-grey-16-bit": _grey_16,
    "png-palette-transparent": _palette_transparent,
    "bmp": lambda p: ("bmp", _saved(p, "BMP")),
}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serving(tmp_path_factory.mktemp("encodings"), **FAST) as running:
        yield running


@pytest.fixture(scope="module")
def upright(photos: dict[str, Path]) -> tuple[Image.Image, list[Box]]:
    """Two people, scaled to keep the test quick, and the faces found in its pixels."""
    with Image.open(photos["two_people"]) as opened:
        photo = opened.convert("RGB")
    photo = photo.resize((photo.width // 2, photo.height // 2), Image.Resampling.LANCZOS)
    faces = Pipeline.from_mode("fast").run(np.asarray(photo), embed=False)
    assert len(faces) == 2
    return photo, [f.box for f in faces]


def _matched(found: list[Box], expected: list[Box]) -> bool:
    """Every expected face found once, in its place (an encoding moves pixels a little)."""
    return len(found) == len(expected) and all(
        max(box.iou(other) for other in found) > 0.8 for box in expected
    )


@pytest.fixture(scope="module")
def files(
    upright: tuple[Image.Image, list[Box]], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """Each encoding of the photo, written to a file."""
    folder = tmp_path_factory.mktemp("encoded")
    written = {}
    for encoding, encode in ENCODINGS.items():
        suffix, data = encode(upright[0])
        written[encoding] = folder / f"{encoding}.{suffix}"
        written[encoding].write_bytes(data)
    return written


@pytest.fixture(scope="module")
def on_cli(files: dict[str, Path]) -> dict[str, list[Box]]:
    """The faces ``facewarden detect --json`` prints for every file, in one real run."""
    paths = [str(path) for path in files.values()]
    result = subprocess.run(
        [sys.executable, "-m", "facewarden.cli", "detect", "--json", "--workers", "1", *paths],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    records = {json.loads(line)["image"]: json.loads(line) for line in result.stdout.splitlines()}
    return {
        encoding: [Box(*face["box_xyxy"]) for face in records[str(path)]["faces"]]
        for encoding, path in files.items()
    }


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_every_surface_finds_the_upright_photos_faces(
    live: LiveServer,
    upright: tuple[Image.Image, list[Box]],
    files: dict[str, Path],
    on_cli: dict[str, list[Box]],
    encoding: str,
) -> None:
    photo, expected = upright
    path = files[encoding]
    data = path.read_bytes()
    with live.client("operator") as client:
        native = client.post("/v1/detect", files={"file": (path.name, data)})
        assert native.status_code == 200, native.text
        answer = native.json()
        compreface = client.post("/api/v1/detection/detect", files={"file": (path.name, data)})
        assert compreface.status_code == 200, compreface.text
    assert (answer["width"], answer["height"]) == photo.size
    on_v1 = [Box(*face["box_xyxy"]) for face in answer["faces"]]
    boxes = [face["box"] for face in compreface.json()["result"]]
    on_compreface = [Box(b["x_min"], b["y_min"], b["x_max"], b["y_max"]) for b in boxes]
    assert _matched(on_v1, expected), on_v1
    assert _matched(on_cli[encoding], expected), on_cli[encoding]
    assert _matched(on_compreface, expected), on_compreface
    # The command line and /v1 run one decoder and one pipeline: the same boxes.
    cli_values = np.array(sorted(b.as_tuple() for b in on_cli[encoding]))
    assert np.abs(cli_values - np.array(sorted(b.as_tuple() for b in on_v1))).max() <= 0.11
