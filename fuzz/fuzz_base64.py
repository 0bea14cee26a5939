"""Base64 images in JSON bodies (``api/uploads.decode_base64_image``, the CompreFace path).

The CompreFace-compatible routes take ``{"file": "<base64>"}``: the body is
parsed as JSON, the field must be a string, and the base64 is undone with the
byte cap applied before and after. Promise: malformed input is an
``ImageError`` (HTTP 400/413), never more than the cap in memory.
"""

from __future__ import annotations

import base64
import binascii
import json

from fuzz.engine import fuzz_main, instrumented

with instrumented("facewarden.api.uploads"):
    from facewarden.api.uploads import decode_base64_image
    from facewarden.errors import ImageError, ImageTooLargeError

CAP = 4096


def test_one_input(data: bytes) -> None:
    """Half the inputs as a raw field value, half as a whole JSON body."""
    text = data[1:].decode("utf-8", errors="replace")
    if data[:1] == b"{":
        try:
            body = json.loads(data)
        except ValueError:
            return  # the route answers 400 "not valid JSON" before reaching the decoder
        if not isinstance(body, dict) or not isinstance(body.get("file"), str):
            return
        text = body["file"]
    try:
        decoded = decode_base64_image(text, CAP)
    except ImageTooLargeError:
        return
    except ImageError as exc:
        assert "base64" in exc.message or "empty" in exc.message, exc.message
        return
    assert 0 < len(decoded) <= CAP
    stripped = text.partition(",")[2] if text.startswith("data:") else text
    compact = "".join(stripped.split())
    if "=" not in compact:
        compact += "=" * (-len(compact) % 4)  # unpadded base64 is accepted (Java's decoder does)
    try:
        expected = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise AssertionError("accepted text the strict decoder refuses") from exc
    assert decoded == expected


if __name__ == "__main__":
    fuzz_main(test_one_input)
