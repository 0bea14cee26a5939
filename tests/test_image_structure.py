"""Tests for facewarden.image_structure: files that ask a decoder for unbounded work.

Every file is built here: a progressive JPEG whose last scan is repeated
(each repeat a dozen bytes, each making libjpeg walk every block again),
segments, chunks and fill bytes by the thousand. Each is refused through
``imaging.decode`` within a second, while real photos, their progressive
and CMYK re-encodings, and a phone's picture with more after its end pass.
"""

from __future__ import annotations

import io
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facewarden.errors import ImageError
from facewarden.image_structure import MAX_JPEG_SCANS, MAX_PARTS, check_structure
from facewarden.imaging import decode, sniff_format


def _saved(image: Image.Image, fmt: str, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **params)
    return buffer.getvalue()


def _segments(jpeg: bytes) -> list[bytes]:
    """A JPEG cut into its segments after SOI, a scan's coded data kept with its header."""
    parts, position = [], 2
    while jpeg[position + 1] != 0xD9:
        length = struct.unpack(">H", jpeg[position + 2 : position + 4])[0]
        end = position + 2 + length
        if jpeg[position + 1] == 0xDA:  # the coded data runs to the next real marker
            while jpeg[end] != 0xFF or jpeg[end + 1] == 0 or 0xD0 <= jpeg[end + 1] <= 0xD7:
                end += 1
        parts.append(jpeg[position:end])
        position = end
    return parts


def _scans(jpeg: bytes) -> int:
    return sum(part[1] == 0xDA for part in _segments(jpeg))


def scan_bomb(total_scans: int, side: int = 1000) -> bytes:
    """A flat grey progressive JPEG whose last (refinement) scan repeats to ``total_scans``."""
    jpeg = _saved(Image.new("L", (side, side), 128), "JPEG", progressive=True)
    parts = _segments(jpeg)
    extra = total_scans - _scans(jpeg)
    assert extra >= 0
    return jpeg[:2] + b"".join(parts) + parts[-1] * extra + b"\xff\xd9"


def _photo() -> Image.Image:
    return Image.fromarray(np.random.default_rng(7).integers(0, 256, (48, 64, 3), np.uint8))


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def _refused_fast(data: bytes, phrase: str) -> None:
    start = time.perf_counter()
    with pytest.raises(ImageError) as info:
        decode(data)
    elapsed = time.perf_counter() - start
    assert elapsed < 1.0, f"refusal took {elapsed:.2f} s"
    assert phrase in info.value.message
    assert info.value.http_status == 400


def test_a_progressive_jpeg_of_thousands_of_scans_is_refused_at_once() -> None:
    # Found by probing: 2000 scans of a 6000x6000 image (259 KB) kept decode() busy for
    # 54 s, and were then accepted; this one (28 KB) took over a second.
    _refused_fast(scan_bomb(2000), f"more than {MAX_JPEG_SCANS} progressive scans")


def test_the_scan_limit_is_exact() -> None:
    assert decode(scan_bomb(MAX_JPEG_SCANS, side=64)).shape == (64, 64, 3)
    _refused_fast(scan_bomb(MAX_JPEG_SCANS + 1, side=64), "progressive scans")


def test_a_flood_of_empty_segments_is_refused() -> None:
    jpeg = _saved(_photo(), "JPEG")
    comment = b"\xff\xfe\x00\x02"
    # The photo's own segments (a dozen) count too.
    assert decode(jpeg[:2] + comment * (MAX_PARTS - 20) + jpeg[2:]).shape == (48, 64, 3)
    _refused_fast(jpeg[:2] + comment * (MAX_PARTS + 1) + jpeg[2:], "more than 16384 segments")


def test_fill_bytes_between_segments_are_bounded() -> None:
    # Pillow skips bytes between header segments one at a time, in Python: 20 MB of
    # 0xFF fill took 15 s. A little padding, as damaged camera files carry, still decodes.
    jpeg = _saved(_photo(), "JPEG")
    app0_end = 4 + struct.unpack(">H", jpeg[4:6])[0]
    for pad in (b"\xff" * 100, b"\x00" * 100):
        assert decode(jpeg[:app0_end] + pad + jpeg[app0_end:]).shape == (48, 64, 3)
    for pad in (b"\xff" * 1_000_000, b"\x00" * 100_000):
        _refused_fast(jpeg[:app0_end] + pad + jpeg[app0_end:], "a long run of bytes")


def test_a_png_of_too_many_chunks_is_refused() -> None:
    png = _saved(_photo(), "PNG")
    after_header = 8 + 25
    private = _png_chunk(b"prVt", b"")
    assert decode(png[:after_header] + private * 1000 + png[after_header:]).shape == (48, 64, 3)
    _refused_fast(png[:after_header] + private * (MAX_PARTS + 1) + png[after_header:], "chunks")


def test_a_png_written_one_row_per_chunk_decodes() -> None:
    rows = 6000
    raw = b"".join(b"\x00" + bytes([90]) * 16 for _ in range(rows))  # filter byte, 16 pixels
    data = zlib.compress(raw, 0)  # stored: a row of the file per row of the image
    step = -(-len(data) // rows)
    header = struct.pack(">IIBBBBB", 16, rows, 8, 0, 0, 0, 0)  # 8-bit grey
    png = (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + b"".join(_png_chunk(b"IDAT", data[i : i + step]) for i in range(0, len(data), step))
        + _png_chunk(b"IEND", b"")
    )
    assert png.count(b"IDAT") > rows // 2
    assert (decode(png) == 90).all()


def test_what_follows_the_end_of_the_picture_is_not_counted() -> None:
    # A phone's second picture or gain map follows the first one's end-of-image marker;
    # an EXIF thumbnail's own scan sits inside a segment. Neither is the photo's scans.
    progressive = _saved(_photo(), "JPEG", progressive=True)
    thumbnail = _saved(_photo().resize((32, 24)), "JPEG", progressive=True)
    exif = b"Exif\x00\x00" + thumbnail * 3
    with_thumbnail = (
        progressive[:2] + b"\xff\xe1" + struct.pack(">H", len(exif) + 2) + exif + progressive[2:]
    )
    appended = with_thumbnail + progressive * (MAX_JPEG_SCANS // _scans(progressive) + 1)
    check_structure(appended, "JPEG", None)
    assert decode(appended).shape == (48, 64, 3)


def test_real_photos_and_their_re_encodings_pass(faces_dir: Path) -> None:
    photos = [p for p in faces_dir.rglob("*") if p.suffix.lower() in {".jpg", ".jpeg", ".png"}]
    assert len(photos) > 50
    for path in photos:
        data = path.read_bytes()
        check_structure(data, sniff_format(data) or "", str(path))
    with Image.open(faces_dir / "face_recognition" / "examples" / "obama.jpg") as opened:
        photo = opened.convert("RGB")
    for mode in ("RGB", "L", "CMYK"):
        encoded = _saved(photo.convert(mode), "JPEG", progressive=True, quality=90)
        assert decode(encoded).shape == (photo.height, photo.width, 3)
