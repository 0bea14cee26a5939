"""Multipart uploads: the framework's form parser plus ``api/uploads.read_upload``.

Every upload route reads its image parts through Starlette's multipart parser
(with the route's file and field limits) and then ``read_upload`` (the byte
cap). The first line of the input is the ``Content-Type`` header, the rest
the body, so the boundary parameter is fuzzed too. Allowed outcomes: the
parts' bytes (each within the cap), an ``ImageError``, or the framework's
HTTP 400 for a malformed body.
"""

from __future__ import annotations

import asyncio
import atexit
import warnings

from fuzz.engine import fuzz_main, instrumented

with instrumented(
    "facewarden.api.uploads", "starlette.formparsers", "python_multipart", "multipart"
):
    from starlette.datastructures import UploadFile
    from starlette.exceptions import HTTPException
    from starlette.formparsers import MultiPartException
    from starlette.requests import Request

    from facewarden.api.uploads import read_upload
    from facewarden.errors import ImageError

CAP = 4096
_LOOP = asyncio.new_event_loop()
atexit.register(_LOOP.close)


def _request(content_type: bytes, body: bytes) -> Request:
    sent = False

    async def receive() -> dict[str, object]:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/identify",
        "query_string": b"",
        "headers": [(b"content-type", content_type), (b"content-length", b"%d" % len(body))],
        "app": None,  # as under a real app: parse errors become HTTP 400
    }
    return Request(scope, receive)


async def _parse(content_type: bytes, body: bytes) -> list[bytes]:
    request = _request(content_type, body)
    images = []
    async with request.form(max_files=2, max_fields=16) as form:
        for _, value in form.multi_items():
            if isinstance(value, UploadFile):
                images.append(await read_upload(value, CAP))
    return images


def test_one_input(data: bytes) -> None:
    header, _, body = data.partition(b"\n")
    content_type = b"multipart/form-data; " + header[:200].strip()
    try:
        # A body cut before its closing boundary parses as an empty form and
        # leaves the open part's SpooledTemporaryFile to the garbage collector
        # (Starlette's behaviour; the route then answers 400 "part missing").
        # Its ResourceWarning is that, not a crash of ours.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)
            images = _LOOP.run_until_complete(_parse(content_type, body))
    except (ImageError, MultiPartException):
        return
    except HTTPException as exc:
        assert exc.status_code == 400, exc.status_code
        return
    assert all(0 < len(image) <= CAP for image in images)


if __name__ == "__main__":
    fuzz_main(test_one_input)
