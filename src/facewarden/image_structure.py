"""Bound the work a decoder is asked to do, from a file's structure, before it decodes.

The pixel cap bounds the memory a decode takes, but not its time: a file can
ask a decoder to go over the same pixels again and again, cheaply.

- A progressive JPEG holds any number of scans, and each one makes libjpeg
  walk every block of the image again; with end-of-band runs a scan over a
  40-megapixel image costs a dozen bytes. A 260 KB file of 2000 such scans
  kept a worker busy for nearly a minute, a 20 MB one would for hours.
  libjpeg-turbo calls this LJT-01-003 ("Two Issues with the JPEG Standard")
  and leaves the limit to the application. Encoders write 10 scans (libjpeg,
  Pillow, mozjpeg's 11) and at most 18 (CMYK); 64 leaves room to spare.
- Pillow reads the segments of a JPEG up to its first scan, and every chunk
  of a PNG, one at a time in Python: 20 MB of empty segments or chunks took
  5 to 11 seconds where a real photo of that size decodes in one. A photo
  holds a few dozen; 16384 leaves room for a PNG written one row per chunk.
  Bytes between a JPEG's header segments (fill or junk) Pillow skips one by
  one: 20 MB of them took 15 seconds. A damaged camera file may carry some
  padding there, never 64 KiB.

:func:`check_structure` walks the segments or chunks (in C where the data is
long: a JPEG's entropy-coded data is skipped with one regular expression)
and refuses a file over either limit, before any decoder sees it.
"""

from __future__ import annotations

import re

from facewarden.errors import ImageError

__all__ = ["MAX_JPEG_HEADER_JUNK", "MAX_JPEG_SCANS", "MAX_PARTS", "check_structure"]

MAX_JPEG_SCANS = 64
"""The most scans (start-of-scan segments) a JPEG may hold before its end-of-image."""

MAX_PARTS = 16384
"""The most segments a JPEG, or chunks a PNG, may hold."""

MAX_JPEG_HEADER_JUNK = 65536
"""The most bytes outside any segment a JPEG may hold before its first scan."""

# In a JPEG's entropy-coded data a 0xFF byte is followed by a stuffed 0x00 or
# is a restart marker (0xD0-0xD7), both part of the scan; any other byte after
# it starts the next marker (a run of 0xFF fill bytes is matched at its last one,
# so the search stays linear).
_NEXT_MARKER = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")
_SOS, _EOI = 0xDA, 0xD9
# Markers that stand alone, with no length field after them.
_STANDALONE = frozenset({0x01, *range(0xD0, 0xD9)})
_PNG_SIGNATURE_LENGTH = 8


def check_structure(data: bytes, fmt: str, source: str | None) -> None:
    """Refuse a JPEG or PNG whose structure would make decoding it unboundedly slow.

    Other formats, and files too damaged to walk, pass: the decoder judges them.

    Args:
        data: The whole encoded file.
        fmt: Its sniffed format (``"JPEG"``, ``"PNG"``, ...).
        source: What to call it in an error.

    Raises:
        ImageError: over :data:`MAX_JPEG_SCANS` scans or :data:`MAX_PARTS` parts.
    """
    if fmt == "JPEG":
        _check_jpeg(data, source)
    elif fmt == "PNG":
        _check_png(data, source)


def _check_jpeg(data: bytes, source: str | None) -> None:
    scans = segments = junk = 0
    position = 2  # after the start-of-image marker
    while True:
        if scans:
            found = _NEXT_MARKER.search(data, position)
        else:  # in the header, look no further than the junk still allowed
            window = position + MAX_JPEG_HEADER_JUNK - junk + 2
            found = _NEXT_MARKER.search(data, position, window)
            if found is None and window < len(data):
                raise ImageError(
                    _too_many("a long run of bytes between its segments"), source=source
                )
        if found is None:
            return
        junk += 0 if scans else found.start() - position
        marker, position = data[found.end() - 1], found.end()
        if marker == _EOI:
            return  # what follows (a phone's second picture, a gain map) is not decoded
        segments += 1
        if segments > MAX_PARTS:
            raise ImageError(_too_many(f"more than {MAX_PARTS} segments"), source=source)
        if marker in _STANDALONE:
            continue
        if marker == _SOS:
            scans += 1
            if scans > MAX_JPEG_SCANS:
                raise ImageError(
                    _too_many(f"more than {MAX_JPEG_SCANS} progressive scans"), source=source
                )
        if position + 2 > len(data):
            return
        # Skip the segment's own bytes (an EXIF thumbnail's markers are not the file's);
        # after a start-of-scan header the search then skips the scan's coded data.
        position += int.from_bytes(data[position : position + 2], "big")


def _check_png(data: bytes, source: str | None) -> None:
    chunks = 0
    position = _PNG_SIGNATURE_LENGTH
    while position + 8 <= len(data):
        chunks += 1
        if chunks > MAX_PARTS:
            raise ImageError(_too_many(f"more than {MAX_PARTS} chunks", "PNG"), source=source)
        length = int.from_bytes(data[position : position + 4], "big")
        if data[position + 4 : position + 8] == b"IEND":
            return
        position += 12 + length  # length, type, payload, CRC


def _too_many(what: str, label: str = "JPEG") -> str:
    return f"refused {label}: the file holds {what}, far more than any photo needs"
