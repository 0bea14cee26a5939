"""Tests for facewarden.imaging: safe decoding of untrusted images (SECURITY.md promise 19).

Every bad input is generated here, with Pillow or by hand, and every refusal is
checked for its error type, the phrase a person would read, and its speed.
"""

from __future__ import annotations

import base64
import contextlib
import io
import os
import struct
import threading
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageFile, ImageOps

from facewarden import imaging
from facewarden.errors import ConfigError, ImageError, ImageTooLargeError
from facewarden.imaging import (
    ALLOWED_FORMATS,
    DEFAULT_LIMITS,
    ImageLimits,
    decode,
    encode_jpeg,
    read_bytes,
    sniff_format,
    to_rgb,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
FACES = REPO_ROOT.parent / "shared" / "data" / "faces"


# --- builders -------------------------------------------------------------------------------


def gradient(width: int = 40, height: int = 30) -> np.ndarray:
    """An RGB image whose every pixel differs, so rotations and flips show."""
    ys, xs = np.mgrid[0:height, 0:width]
    return np.stack([xs * 6 % 256, ys * 8 % 256, (xs + ys) * 3 % 256], axis=2).astype(np.uint8)


def encoded(image: Image.Image, fmt: str, **params: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A valid PNG header declaring ``width x height`` RGB pixels, with a tiny IDAT."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", idat)
        + png_chunk(b"IEND", b"")
    )


def webp_bomb() -> bytes:
    """An extended (VP8X) WebP header declaring the largest canvas, 16384x16384."""
    side = (16384 - 1).to_bytes(3, "little")
    vp8x = b"VP8X" + struct.pack("<I", 10) + b"\x00\x00\x00\x00" + side + side
    return b"RIFF" + struct.pack("<I", 4 + len(vp8x)) + b"WEBP" + vp8x


def jpeg_bytes(image: np.ndarray | None = None, **params: Any) -> bytes:
    pixels = gradient() if image is None else image
    return encoded(Image.fromarray(pixels), "JPEG", **params)


def timed_refusal(call: Callable[[], object]) -> ImageError:
    """Run ``call``, which must raise ImageError within a second, and return the error."""
    start = time.perf_counter()
    with pytest.raises(ImageError) as info:
        call()
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"refusal took {elapsed:.2f} s"
    return info.value


# --- refusals -------------------------------------------------------------------------------


def _write(tmp_path: Path, filename: str, data: bytes) -> Path:
    path = tmp_path / filename
    path.write_bytes(data)
    return path


def _saved(tmp_path: Path, filename: str, fmt: str) -> Path:
    path = tmp_path / filename
    Image.fromarray(gradient()).save(path, format=fmt)
    return path


SMALL_BYTES = ImageLimits(max_bytes=1000)
NOISE = np.random.default_rng(19).integers(0, 256, (64, 64, 3), dtype=np.uint8)  # JPEG > 1000 B

# id, build(tmp_path) -> source, limits, expected error type, phrase in the message
BAD_INPUTS: list[tuple[str, Callable[[Path], object], ImageLimits, type[ImageError], str]] = [
    (
        "empty file",
        lambda p: _write(p, "empty.jpg", b""),
        DEFAULT_LIMITS,
        ImageError,
        "empty input: 0 bytes",
    ),
    ("empty upload", lambda p: b"", DEFAULT_LIMITS, ImageError, "empty input: 0 bytes"),
    (
        "truncated jpeg",
        lambda p: jpeg_bytes()[: len(jpeg_bytes()) // 2],
        DEFAULT_LIMITS,
        ImageError,
        "truncated JPEG: the file ends before the image data is complete",
    ),
    (
        "text named .jpg",
        lambda p: _write(p, "notes.jpg", b"Meeting at 10:00, bring ID.\n" * 20),
        DEFAULT_LIMITS,
        ImageError,
        "not an image: the data looks like text",
    ),
    (
        "png bomb 100000x100000",
        lambda p: png_bomb(),
        DEFAULT_LIMITS,
        ImageTooLargeError,
        "image declares 100000x100000 pixels, over the limit of 40000000",
    ),
    (
        "webp bomb 16384x16384",
        lambda p: webp_bomb(),
        DEFAULT_LIMITS,
        ImageTooLargeError,
        "image declares 16384x16384 pixels, over the limit",
    ),
    (
        "tiff",
        lambda p: _saved(p, "photo.tiff", "TIFF"),
        DEFAULT_LIMITS,
        ImageError,
        "TIFF images are not accepted; use JPEG, PNG, WebP or BMP",
    ),
    (
        "gif",
        lambda p: _saved(p, "photo.gif", "GIF"),
        DEFAULT_LIMITS,
        ImageError,
        "GIF images are not accepted",
    ),
    (
        "1x1 png",
        lambda p: encoded(Image.new("RGB", (1, 1)), "PNG"),
        DEFAULT_LIMITS,
        ImageError,
        "image is 1x1 pixels, too small to hold a face (minimum 16 pixels per side)",
    ),
    (
        "file over max_bytes",
        lambda p: _write(p, "big.jpg", jpeg_bytes(NOISE)),
        SMALL_BYTES,
        ImageTooLargeError,
        "larger than the limit of 1000 bytes",
    ),
    (
        "upload over max_bytes",
        lambda p: bytearray(jpeg_bytes(NOISE)),
        SMALL_BYTES,
        ImageTooLargeError,
        "over the limit of 1000 bytes",
    ),
    ("directory", lambda p: p, DEFAULT_LIMITS, ImageError, "folder, not an image file"),
    (
        "missing path",
        lambda p: str(p / "nowhere.jpg"),
        DEFAULT_LIMITS,
        ImageError,
        "file not found",
    ),
    (
        "random bytes",
        lambda p: bytes(range(256)) * 4,
        DEFAULT_LIMITS,
        ImageError,
        "not an image: the data is in no recognised image format",
    ),
    ("png with broken data", lambda p: png_bomb(64, 64), DEFAULT_LIMITS, ImageError, "PNG"),
]


@pytest.mark.parametrize(
    ("build", "limits", "error_type", "phrase"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input_is_refused_quickly_and_clearly(
    tmp_path: Path,
    build: Callable[[Path], object],
    limits: ImageLimits,
    error_type: type[ImageError],
    phrase: str,
) -> None:
    source = build(tmp_path)
    error = timed_refusal(lambda: decode(source, limits=limits))  # type: ignore[arg-type]
    assert type(error) is error_type
    assert phrase in error.message


def test_error_names_its_source(tmp_path: Path) -> None:
    path = _write(tmp_path, "notes.jpg", b"hello")
    assert timed_refusal(lambda: decode(path)).source == str(path)
    assert timed_refusal(lambda: decode(path, name="upload #3")).message.startswith("upload #3: ")
    assert timed_refusal(lambda: decode(b"hello", name="form field")).source == "form field"


def test_read_bytes_never_reads_past_the_cap(tmp_path: Path) -> None:
    path = _write(tmp_path, "blob.bin", b"x" * 5000)
    limits = ImageLimits(max_bytes=5000)
    assert read_bytes(path, limits=limits) == b"x" * 5000
    error = timed_refusal(lambda: read_bytes(path, limits=ImageLimits(max_bytes=4999)))
    assert type(error) is ImageTooLargeError
    assert error.http_status == 413


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are a POSIX thing")
def test_a_named_pipe_is_refused_at_once_not_waited_on(tmp_path: Path) -> None:
    # Found by hand: `facewarden detect photo.jpg` on a named pipe waited for a writer
    # forever (open() blocks), where every other kind of bad file is refused at once.
    pipe = tmp_path / "photo.jpg"
    os.mkfifo(pipe)
    outcome: list[BaseException | None] = []

    def attempt() -> None:
        try:
            read_bytes(pipe)
            outcome.append(None)
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    reader = threading.Thread(target=attempt, daemon=True)
    reader.start()
    reader.join(timeout=5)
    if reader.is_alive():  # let the blocked reader go: a writer that closes at once
        os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(timeout=5)
        pytest.fail("reading a named pipe waited for a writer")
    (error,) = outcome
    assert isinstance(error, ImageError)
    assert error.message == f"{pipe}: not a regular file (a named pipe or socket)"


def test_pillow_globals_are_left_alone() -> None:
    before = Image.MAX_IMAGE_PIXELS
    for data in (png_bomb(), jpeg_bytes()[:500], jpeg_bytes()):
        with contextlib.suppress(ImageError):
            decode(data)
    assert before == Image.MAX_IMAGE_PIXELS
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.parametrize(
    "kwargs",
    [{"max_bytes": 0}, {"max_pixels": -1}, {"min_side": 0}, {"min_side": 10, "max_pixels": 99}],
)
def test_invalid_limits_are_a_config_error(kwargs: dict[str, int]) -> None:
    with pytest.raises(ConfigError):
        ImageLimits(**kwargs)


@pytest.mark.parametrize(
    ("mode", "params", "chunk"),
    [
        ("RGB", {"quality": 80}, b"VP8 "),
        ("RGBA", {"lossless": True}, b"VP8L"),
        ("RGBA", {"quality": 80}, b"VP8X"),
    ],
    ids=["lossy", "lossless", "extended"],
)
def test_webp_pixel_cap_is_read_from_each_header_flavour(
    mode: str, params: dict[str, Any], chunk: bytes
) -> None:
    data = encoded(Image.new(mode, (40, 30)), "WEBP", **params)
    assert data[12:16] == chunk
    error = timed_refusal(lambda: decode(data, limits=ImageLimits(max_pixels=40 * 30 - 1)))
    assert type(error) is ImageTooLargeError
    assert "image declares 40x30 pixels" in error.message
    assert_rgb(decode(data, limits=ImageLimits(max_pixels=40 * 30)), 30, 40)


SEEDS = {
    f"{fmt} {mode}": encoded(Image.fromarray(gradient()).convert(mode), fmt, **params)
    for fmt, mode, params in [
        ("JPEG", "RGB", {"progressive": True}),
        ("PNG", "RGBA", {}),
        ("PNG", "P", {}),
        ("WEBP", "RGB", {}),
        ("BMP", "RGB", {}),
    ]
}


@settings(max_examples=300, deadline=1000, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(sorted(SEEDS)),
    cut=st.floats(0.0, 1.0),
    flips=st.lists(st.tuples(st.floats(0.0, 1.0), st.integers(0, 255)), max_size=8),
)
def test_damaged_files_give_an_image_or_an_image_error(
    seed: str, cut: float, flips: list[tuple[float, int]]
) -> None:
    data = bytearray(SEEDS[seed])
    for where, value in flips:
        data[int(where * (len(data) - 1))] = value
    data = data[: max(1, int(cut * len(data)))] if cut < 0.5 else data
    try:
        decoded = decode(bytes(data))
    except ImageError:
        return
    assert decoded.ndim == 3 and decoded.shape[2] == 3 and decoded.dtype == np.uint8


# --- sniffing -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "JPEG"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "PNG"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "WEBP"),
        (b"BM" + b"\x00" * 12 + struct.pack("<I", 40), "BMP"),
        (b"BMW is a car brand and this is text", None),
        (b"GIF89a", "GIF"),
        (b"II*\x00", "TIFF"),
        (b"MM\x00*", "TIFF"),
        (b"\x00\x00\x00\x18ftypheic", "HEIC"),
        (b"\x00\x00\x00\x1cftypavif", "AVIF"),
        (b"%PDF-1.7", "PDF"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "SVG"),
        (b"RIFF\x00\x00\x00\x00WAVEfmt ", None),
        (b"hello", None),
        (b"", None),
    ],
)
def test_sniff_format(head: bytes, expected: str | None) -> None:
    assert sniff_format(head) == expected


def test_allowed_formats() -> None:
    assert frozenset({"JPEG", "PNG", "WEBP", "BMP"}) == ALLOWED_FORMATS
    assert set(imaging.__all__) == {
        "ALLOWED_FORMATS", "DEFAULT_LIMITS", "ImageLimits", "decode", "encode_jpeg",
        "read_bytes", "sniff_format", "to_rgb",
    }  # fmt: skip


# --- good files -----------------------------------------------------------------------------


def assert_rgb(array: np.ndarray, height: int, width: int) -> None:
    assert array.shape == (height, width, 3)
    assert array.dtype == np.uint8
    assert array.flags.c_contiguous
    assert array.flags.writeable


@pytest.mark.parametrize(
    ("fmt", "params", "max_error"),
    [
        ("PNG", {}, 0),
        ("BMP", {}, 0),
        ("WEBP", {"lossless": True}, 0),
        ("WEBP", {"quality": 90}, 40),
        ("JPEG", {"quality": 95}, 40),
    ],
)
def test_round_trip(tmp_path: Path, fmt: str, params: dict[str, Any], max_error: int) -> None:
    original = gradient()
    data = encoded(Image.fromarray(original), fmt, **params)
    path = _write(tmp_path, f"photo.{fmt.lower()}", data)
    for source in (data, bytearray(data), memoryview(data), path, str(path)):
        decoded = decode(source)
        assert_rgb(decoded, 30, 40)
        assert np.abs(decoded.astype(int) - original).max() <= max_error


def test_rgba_png_is_composited_on_white() -> None:
    rgba = np.zeros((20, 20, 4), np.uint8)  # transparent black: must come out white
    rgba[:, 10:] = (255, 0, 0, 255)  # opaque red stays red
    rgba[:5, :5] = (0, 0, 255, 128)  # half-transparent blue over white
    decoded = decode(encoded(Image.fromarray(rgba), "PNG"))
    assert (decoded[10, 2] == 255).all()
    assert decoded[0, 15].tolist() == [255, 0, 0]
    assert decoded[0, 0].tolist() == [127, 127, 255]


@pytest.mark.parametrize(
    ("mode", "params"),
    [("LA", {}), ("L", {"transparency": 0}), ("RGB", {"transparency": (0, 0, 0)})],
)
def test_other_transparency_is_composited_on_white(mode: str, params: dict[str, Any]) -> None:
    image = Image.new("RGBA", (20, 20), (0, 0, 0, 0)).convert(mode)
    assert (decode(encoded(image, "PNG", **params)) == 255).all()


def test_palette_with_transparent_index_is_white() -> None:
    image = Image.new("P", (20, 20), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.paste(1, (10, 0, 20, 20))
    decoded = decode(encoded(image, "PNG", transparency=0))
    assert decoded[0, 0].tolist() == [255, 255, 255]
    assert decoded[0, 15].tolist() == [255, 0, 0]


@pytest.mark.parametrize("mode", ["L", "1"])
def test_greyscale_is_expanded(mode: str) -> None:
    grey = np.tile(np.arange(0, 256, 16, dtype=np.uint8), (16, 1))
    image = Image.fromarray(grey).convert(mode)
    decoded = decode(encoded(image, "PNG"))
    assert_rgb(decoded, 16, 16)
    assert (decoded[..., 0] == decoded[..., 1]).all()
    assert (decoded[..., 0] == np.asarray(image.convert("L"))).all()


def test_16_bit_png_is_scaled_not_clipped() -> None:
    values = np.array([0, 256, 1000, 32768, 65535], dtype=np.uint16)
    grey16 = np.tile(np.repeat(values, 4), (20, 1))
    data = encoded(Image.fromarray(grey16), "PNG")
    assert Image.open(io.BytesIO(data)).mode.startswith("I")
    decoded = decode(data)
    assert_rgb(decoded, 20, 20)
    assert decoded[0, ::4, 0].tolist() == [0, 1, 3, 128, 255]


def test_cmyk_jpeg_is_converted() -> None:
    decoded = decode(encoded(Image.new("CMYK", (20, 20), (0, 255, 255, 0)), "JPEG"))
    assert_rgb(decoded, 20, 20)
    assert np.abs(decoded[10, 10].astype(int) - [255, 0, 0]).max() < 10


def test_exif_orientation_6_rotates_clockwise() -> None:
    pixels = np.zeros((20, 40, 3), np.uint8)
    pixels[:, :20] = (255, 0, 0)  # left half red
    pixels[:, 20:] = (0, 0, 255)  # right half blue
    exif = Image.Exif()
    exif[274] = 6  # Orientation: the camera was turned; display rotated 90 degrees clockwise
    decoded = decode(jpeg_bytes(pixels, exif=exif.tobytes(), quality=95))
    assert_rgb(decoded, 40, 20)
    # After a clockwise turn the left edge is on top.
    assert np.abs(decoded[5, 10].astype(int) - [255, 0, 0]).max() < 30
    assert np.abs(decoded[35, 10].astype(int) - [0, 0, 255]).max() < 30


def test_animated_webp_gives_first_frame() -> None:
    frames = [Image.new("RGB", (20, 20), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    data = encoded(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True)
    assert getattr(Image.open(io.BytesIO(data)), "n_frames", 1) == 2
    assert decode(data)[10, 10].tolist() == [255, 0, 0]


def test_encode_jpeg_carries_no_metadata() -> None:
    exif = Image.Exif()
    exif[274] = 6
    exif[0x010F] = "Secret Camera Co"  # Make
    photo = decode(jpeg_bytes(gradient(), exif=exif.tobytes()))
    data = encode_jpeg(photo)
    assert b"Exif" not in data
    assert b"Secret" not in data
    reopened = Image.open(io.BytesIO(data))
    assert reopened.format == "JPEG"
    assert len(reopened.getexif()) == 0
    assert decode(data).shape == photo.shape


@pytest.mark.parametrize("quality", [0, 101, True])
def test_encode_jpeg_refuses_bad_quality(quality: int) -> None:
    with pytest.raises(ConfigError):
        encode_jpeg(gradient(), quality=quality)


def test_encode_jpeg_refuses_bad_arrays() -> None:
    with pytest.raises(ImageError, match="empty image"):
        encode_jpeg(np.zeros((0, 10, 3), np.uint8))
    with pytest.raises(ImageError, match="dtype"):
        encode_jpeg(np.zeros((10, 10, 3), np.int64))


# --- numpy input ----------------------------------------------------------------------------

GREY = np.array([[0, 128], [200, 255]], dtype=np.uint8)
GREY_RGB = np.repeat(GREY[:, :, None], 3, axis=2)

# input, expected output (both as small arrays)
ARRAY_CASES: list[tuple[str, np.ndarray, np.ndarray]] = [
    ("uint8 grey", GREY, GREY_RGB),
    ("uint8 (H,W,1)", GREY[:, :, None], GREY_RGB),
    ("uint8 rgb", GREY_RGB, GREY_RGB),
    ("uint8 rgba opaque", np.dstack([GREY_RGB, np.full((2, 2), 255, np.uint8)]), GREY_RGB),
    (
        "uint8 rgba transparent",
        np.dstack([GREY_RGB, np.zeros((2, 2), np.uint8)]),
        np.full((2, 2, 3), 255, np.uint8),
    ),
    ("uint16", GREY.astype(np.uint16) * 257, GREY_RGB),
    ("big-endian uint16", (GREY.astype(np.uint16) * 257).astype(">u2"), GREY_RGB),
    ("float64", GREY / 255.0, GREY_RGB),
    ("float32", (GREY / 255.0).astype(np.float32), GREY_RGB),
    (
        # A resampled [0, 1] image overshoots a little at sharp edges: clipped.
        "float overshoot clipped",
        np.array([[-0.5, 0.0], [1.0, 1.5]]),
        np.repeat(np.array([[0, 0], [255, 255]], np.uint8)[:, :, None], 3, axis=2),
    ),
    (
        "non-contiguous",
        np.ascontiguousarray(GREY_RGB.transpose(1, 0, 2)).transpose(1, 0, 2),
        GREY_RGB,
    ),
]


@pytest.mark.parametrize(
    ("array", "expected"), [c[1:] for c in ARRAY_CASES], ids=[c[0] for c in ARRAY_CASES]
)
def test_to_rgb_accepts(array: np.ndarray, expected: np.ndarray) -> None:
    result = to_rgb(array)
    assert_rgb(result, 2, 2)
    assert result.tolist() == expected.tolist()
    assert not np.shares_memory(result, array)


REFUSED_ARRAYS: list[tuple[str, object, str]] = [
    ("bool", np.ones((2, 2), bool), "dtype bool"),
    ("complex", np.ones((2, 2), complex), "dtype complex128"),
    ("int64", np.ones((2, 2), np.int64), "dtype int64"),
    ("object", np.array([[1, "a"]], dtype=object), "dtype object"),
    ("1-d", np.ones(4, np.uint8), "shape (4,)"),
    ("4-d", np.ones((2, 2, 3, 1), np.uint8), "shape (2, 2, 3, 1)"),
    ("two channels", np.ones((2, 2, 2), np.uint8), "shape (2, 2, 2)"),
    ("nan", np.array([[0.5, np.nan]]), "NaN or infinite"),
    # Another scale, not an overshoot: clipped, such an image turned white and held no face.
    (
        "float on the 0-255 scale",
        GREY.astype(np.float64),
        "values reach 255: an image on the 0-255 scale",
    ),
    ("float far below 0", np.array([[-3.0, 0.5]]), "values reach -3"),
    ("inf", np.array([[0.5, np.inf]]), "NaN or infinite"),
    ("a list", [[0, 1], [2, 3]], "expected a numpy array"),
]


@pytest.mark.parametrize(
    ("array", "phrase"), [c[1:] for c in REFUSED_ARRAYS], ids=[c[0] for c in REFUSED_ARRAYS]
)
def test_to_rgb_refuses(array: Any, phrase: str) -> None:
    error = timed_refusal(lambda: to_rgb(array))
    assert type(error) is ImageError
    assert phrase in error.message


def test_a_photo_as_floats_on_the_0_255_scale_is_refused_not_whitened(faces_dir: Path) -> None:
    """``photo.astype(np.float32)`` (OpenCV, DeepFace's preprocessing) keeps 0-255 values:
    clipped to [0, 1], every pixel over 1 went white, and the pipeline silently found no
    face in a plain portrait. Refused instead, saying how to fix it; divided by 255 it
    decodes to the photo itself."""
    photo = decode(faces_dir / "face_recognition" / "examples" / "obama.jpg")
    error = timed_refusal(lambda: decode(photo.astype(np.float32)))
    assert type(error) is ImageError
    assert "[0, 1]" in error.message and "divide by 255" in error.message
    assert (decode(photo.astype(np.float32) / 255) == photo).all()


@pytest.mark.parametrize(
    ("build", "phrase"),
    [
        (lambda data: "data:image/jpeg;base64," + base64.b64encode(data).decode(), "data: URI"),
        (lambda data: base64.b64encode(data).decode(), "too long to be a file path"),
    ],
    ids=["data URI", "bare base64"],
)
def test_an_image_as_base64_text_is_refused_in_a_few_words(
    faces_dir: Path, build: Callable[[bytes], str], phrase: str
) -> None:
    """DeepFace and CompreFace take a photo as base64 text; handed to decode as a str it was
    tried as a file name, and the error quoted all of it (373,278 characters for one
    portrait) in a message meant for a log line. Now: what it is, and what to pass."""
    text = build((faces_dir / "face_recognition" / "examples" / "obama.jpg").read_bytes())
    error = timed_refusal(lambda: decode(text))
    assert phrase in error.message and "pass the bytes" in error.message
    assert len(error.message) < 300
    named = timed_refusal(lambda: decode(text, name="probe image"))
    assert named.message.startswith("probe image: ") and len(named.message) < 300


def test_a_url_is_not_fetched_and_the_refusal_says_so() -> None:
    error = timed_refusal(lambda: decode("https://example.com/face.jpg"))
    assert error.message == (
        "https://example.com/face.jpg: file not found (URLs are not fetched: download the "
        "image and pass its bytes)"
    )


def test_decode_array_applies_limits_and_copies() -> None:
    image = gradient()
    decoded = decode(image)
    assert_rgb(decoded, 30, 40)
    assert (decoded == image).all()
    assert not np.shares_memory(decoded, image)
    small = timed_refusal(lambda: decode(np.zeros((4, 64), np.uint8), name="camera 2"))
    assert "image is 64x4 pixels, too small to hold a face" in small.message
    assert small.source == "camera 2"
    big = timed_refusal(lambda: decode(image, limits=ImageLimits(max_pixels=1000)))
    assert type(big) is ImageTooLargeError
    assert "image declares 40x30 pixels, over the limit of 1000" in big.message


# --- a real photo ---------------------------------------------------------------------------


def test_real_rgba_photo() -> None:
    path = FACES / "face_recognition" / "tests" / "test_images" / "32bit.png"
    if not FACES.is_dir():
        pytest.skip("../shared/data/faces is absent (a fresh clone); CI has it")
    decoded = decode(path)
    assert_rgb(decoded, 1200, 626)


def test_real_photos_decode_to_pillows_plain_recipe(faces_dir: Path, lfw_dir: Path) -> None:
    # decode turns EXIF orientation in place and skips the RGB-to-RGB convert (two
    # copies fewer): the same pixels as Pillow's plain exif_transpose then convert.
    photos = sorted(p for p in faces_dir.rglob("*") if p.suffix.lower() in {".jpg", ".png"})
    photos += sorted((lfw_dir / "lfw").rglob("*.jpg"))[:20]
    assert len(photos) >= 25
    for path in photos:
        with Image.open(path) as opened:
            if opened.has_transparency_data:  # composited on white instead: tested apart
                continue
            plain = np.array(ImageOps.exif_transpose(opened).convert("RGB"))
        decoded = imaging.decode(path)
        np.testing.assert_array_equal(decoded, plain, err_msg=path.name)
        assert decoded.flags.c_contiguous and decoded.flags.writeable
