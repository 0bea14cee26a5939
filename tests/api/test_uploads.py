"""Tests for facewarden.api.uploads.decode_base64_image: the base64 clients really send.

Java's ``Base64.getDecoder()`` (which CompreFace decodes with) and many
JavaScript encoders accept or write base64 without its ``=`` padding;
browsers hand over ``data:`` URLs; mail-style encoders wrap lines. Each
is decoded to the same bytes; what is not base64 gets an ImageError that
says what is wrong.
"""

from __future__ import annotations

import base64

import pytest

from facewarden.api.uploads import decode_base64_image
from facewarden.errors import ImageError, ImageTooLargeError

# Lengths 30, 31 and 32: padded with nothing, "==" and "=".
PAYLOADS = [bytes(range(n)) for n in (30, 31, 32)]


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: f"{len(p)} bytes")
@pytest.mark.parametrize(
    "spell",
    [
        lambda text: text,
        lambda text: text.rstrip("="),
        lambda text: "data:image/jpeg;base64," + text,
        lambda text: "data:image/jpeg;base64," + text.rstrip("="),
        lambda text: "\n".join(text[i : i + 8] for i in range(0, len(text), 8)) + "\r\n",
    ],
    ids=["padded", "unpadded", "data URL", "data URL unpadded", "wrapped lines"],
)
def test_every_spelling_gives_the_same_bytes(payload: bytes, spell: object) -> None:
    text = spell(base64.b64encode(payload).decode())  # type: ignore[operator]
    assert decode_base64_image(text, 1000) == payload


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("no*base64!", "file: not valid base64"),
        ("QUJDRA=====", "file: not valid base64"),  # padding past what is missing
        ("QUJDR", "file: not valid base64"),  # one character left over: no byte
        ("QU=JD", "file: not valid base64"),  # padding inside
        ("", "file: the image is empty"),
        ("data:image/jpeg;base64", "a data: URL needs a comma before its base64"),
        # An image's address where its bytes belong: nothing is fetched (no request
        # to another server on a client's say), and the refusal says so.
        ("https://res.cloudinary.com/demo/image/upload/face.jpg", "file: a URL is not fetched"),
        (" HTTP://192.168.1.10/snapshot.jpg", "file: a URL is not fetched"),
        ("file:///etc/passwd", "file: a URL is not fetched"),
    ],
)
def test_what_is_not_base64_is_refused_plainly(text: str, phrase: str) -> None:
    with pytest.raises(ImageError) as info:
        decode_base64_image(text, 1000)
    assert type(info.value) is ImageError
    assert phrase in info.value.message


def test_the_cap_holds_for_unpadded_text_too() -> None:
    text = base64.b64encode(bytes(1001)).decode().rstrip("=")
    with pytest.raises(ImageTooLargeError):
        decode_base64_image(text, 1000)
    assert len(decode_base64_image(text, 1001)) == 1001
