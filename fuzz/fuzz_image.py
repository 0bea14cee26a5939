"""Image decoding (``imaging.decode``): every allowed format, headers, EXIF orientation.

Promise 19: any bytes give an RGB array within the caps or an ``ImageError``,
fast; a kept photo carries no EXIF. The first byte picks a format prefix to
splice in front of the rest, so mutations reach every plugin's header parser
even from a random start.
"""

from __future__ import annotations

import io
import time

from fuzz.engine import fuzz_main, instrumented

with instrumented("facewarden.imaging", "PIL"):
    import numpy as np
    from PIL import Image

    from facewarden.errors import ImageError
    from facewarden.imaging import ImageLimits, decode, encode_jpeg, sniff_format

LIMITS = ImageLimits(max_bytes=1 << 20, max_pixels=2_000_000, min_side=16)
# Decoding is promised to answer "well under a second"; this leaves room for a busy machine.
SLOW_S = 2.0
PREFIXES = (
    b"",
    b"\xff\xd8\xff",
    b"\x89PNG\r\n\x1a\n",
    b"RIFF\x00\x00\x00\x00WEBPVP8X",
    b"BM",
)


def test_one_input(data: bytes) -> None:
    """Decode, check the invariants of a success, and re-encode as a kept photo would be."""
    if data:
        data = PREFIXES[data[0] % len(PREFIXES)] + data[1:]
    sniff_format(data)  # must never raise
    started = time.monotonic()
    try:
        rgb = decode(data, limits=LIMITS, name="fuzz")
    except ImageError:
        return
    finally:
        elapsed = time.monotonic() - started
        if elapsed > SLOW_S:
            raise AssertionError(f"decoding took {elapsed:.1f} s ({len(data)} bytes)")
    height, width = rgb.shape[:2]
    assert rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3, rgb.shape
    assert rgb.flags.c_contiguous
    assert width * height <= LIMITS.max_pixels and min(width, height) >= LIMITS.min_side
    if width * height <= 250_000:
        kept = encode_jpeg(rgb)
        with Image.open(io.BytesIO(kept)) as reopened:
            assert not reopened.getexif(), "EXIF survived into a kept photo"
            assert "icc_profile" not in reopened.info and "xmp" not in reopened.info


if __name__ == "__main__":
    fuzz_main(test_one_input)
