"""Uploaded images as bytes: multipart file fields, or base64 in JSON, capped.

The bytes go to the service layer, whose safe decoder (``imaging.decode``)
checks the format allow-list, the byte cap and the pixel cap; here only
the transport is undone, with the byte cap applied before anything is
decoded.

Uploads stay in memory (SECURITY.md promise 10: a probe never touches a
disk, not even a temporary file): Starlette's multipart parser spools file
parts to a ``SpooledTemporaryFile`` that rolls over to an unencrypted file
in the temporary directory past 1 MiB. :func:`keep_uploads_in_memory`
raises that threshold above the request body cap, so the spool never rolls
over; the body cap (``BodyLimit``) bounds the memory a request can take.
"""

from __future__ import annotations

import base64
import binascii
import re

from fastapi import UploadFile
from starlette.formparsers import MultiPartParser

from facewarden.errors import ImageError, ImageTooLargeError

__all__ = ["decode_base64_image", "keep_uploads_in_memory", "read_upload"]


def keep_uploads_in_memory(max_request_bytes: int) -> None:
    """Keep every multipart file part of a body up to ``max_request_bytes`` in memory.

    Starlette reads the threshold from the class attribute
    ``MultiPartParser.spool_max_size`` for every request of the process;
    it is only ever raised here, so apps with different caps in one process
    all keep their uploads in memory.
    """
    MultiPartParser.spool_max_size = max(MultiPartParser.spool_max_size, max_request_bytes)


async def read_upload(upload: UploadFile, max_bytes: int, *, field: str = "file") -> bytes:
    """The bytes of an uploaded file, at most ``max_bytes``.

    Raises:
        ImageError: the part is empty.
        ImageTooLargeError: it is over the cap.
    """
    data = await upload.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ImageTooLargeError(f"{field}: the image is larger than {max_bytes} bytes")
    if not data:
        raise ImageError(f"{field}: the file is empty")
    return data


#: A URL where an image's bytes belong: a scheme other than ``data:``, then ``//``.
_URL = re.compile(r"\s*[A-Za-z][A-Za-z0-9+.-]*://")


def decode_base64_image(text: str, max_bytes: int, *, field: str = "file") -> bytes:
    """The bytes of a base64 image, at most ``max_bytes``.

    A ``data:`` URL prefix, whitespace (wrapped lines) and missing ``=``
    padding are accepted, as browsers and Java's decoder accept them.

    Raises:
        ImageError: not valid base64, empty, or a URL (nothing is fetched).
        ImageTooLargeError: the decoded image is over the cap.
    """
    if _URL.match(text):
        # The address of an image, not its bytes. Nothing is fetched: a server
        # that fetches what a client names can be made to reach inward (SSRF).
        raise ImageError(
            f"{field}: a URL is not fetched; send the image's bytes (base64, or a multipart file)"
        )
    if text.startswith("data:"):
        _, comma, text = text.partition(",")
        if not comma:
            raise ImageError(
                f"{field}: a data: URL needs a comma before its base64 (data:image/jpeg;base64,...)"
            )
    if len(text) > (max_bytes + 2) // 3 * 4 + 8:
        raise ImageTooLargeError(f"{field}: the image is larger than {max_bytes} bytes")
    compact = "".join(text.split())
    if "=" not in compact and len(compact) % 4 in (2, 3):
        # Java's decoder (CompreFace's) and many JavaScript encoders leave the padding out.
        compact += "=" * (-len(compact) % 4)
    try:
        data = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError):
        raise ImageError(f"{field}: not valid base64") from None
    if not data:
        raise ImageError(f"{field}: the image is empty")
    if len(data) > max_bytes:
        raise ImageTooLargeError(f"{field}: the image is larger than {max_bytes} bytes")
    return data
