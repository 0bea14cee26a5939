"""The multipart body of a CompreFace-compatible request, read as Spring reads it.

Starlette's parser takes a part for a file only when its Content-Disposition
has a plain ``filename=``; it skips the extended ``filename*=`` of RFC 5987
(RFC 7578 forbids it in forms, and python-multipart drops it). Clients that
name a non-ASCII file that way alone (``filename*=UTF-8''%C3%A9t%C3%A9.jpg``)
still send a file: Spring, under CompreFace, parses ``filename*`` and binds
the part as the upload. Here such a part is given the plain filename it
spells, before Starlette decides, so it is a file too.

The body is read once per request, with the same bounds as before (at most
16 file parts and 16 other fields; the request body cap bounds the bytes, and
file parts stay in memory: :mod:`facewarden.api.uploads`), and kept on the
request until :func:`close_form` closes it.
"""

from __future__ import annotations

from contextlib import aclosing
from email.message import Message

from fastapi import Request
from python_multipart.multipart import parse_options_header
from starlette.datastructures import FormData
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException, MultiPartParser

__all__ = ["MAX_PARTS", "close_form", "read_form", "with_plain_filename"]

MAX_PARTS = 16
"""File parts, and other fields, one multipart body may hold."""

_MAX_DISPOSITION = 8 * 1024
_UNSAFE_IN_QUOTES = str.maketrans({c: "_" for c in '"\\;\r\n'})


def with_plain_filename(disposition: bytes | None) -> bytes | None:
    """A part's Content-Disposition with a plain ``filename`` where only ``filename*`` names it.

    A header over 8 KiB is left as it is: decoding one costs about 15 us a
    parameter, and older python-multipart releases bound a part header by the
    body cap only (current ones refuse one over 4 KiB).

    The name is decoded as RFC 5987 says (its charset, percent-escapes); quotes,
    backslashes, semicolons and line breaks in it become ``_`` so that it stays
    one quoted value. A disposition with a plain filename, or none at all, is
    returned as it is.
    """
    if not disposition or len(disposition) > _MAX_DISPOSITION:
        return disposition
    if b"filename*" not in disposition.lower():
        return disposition
    if b"filename" in parse_options_header(disposition)[1]:
        return disposition  # a plain filename is there: Starlette reads it
    header = Message()
    header["content-disposition"] = disposition.decode("latin-1")
    name = header.get_filename()
    if name is None:
        return disposition
    quoted = name.translate(_UNSAFE_IN_QUOTES).encode("utf-8")
    return disposition + b'; filename="' + quoted + b'"'


class _SpringMultiPartParser(MultiPartParser):
    """Starlette's parser, taking a part named by ``filename*`` alone for a file."""

    def on_headers_finished(self) -> None:
        part = self._current_part
        part.content_disposition = with_plain_filename(part.content_disposition)
        super().on_headers_finished()


async def read_form(request: Request) -> FormData:
    """The request's multipart body, parsed once (the same form on every call).

    Raises:
        HTTPException: 400, a body that is no valid multipart (Starlette's words).
    """
    form = getattr(request.state, "compreface_form", None)
    if isinstance(form, FormData):
        return form
    try:
        async with aclosing(request.stream()) as stream:
            parser = _SpringMultiPartParser(
                request.headers, stream, max_files=MAX_PARTS, max_fields=MAX_PARTS
            )
            form = await parser.parse()
    except MultiPartException as exc:
        raise HTTPException(status_code=400, detail=exc.message) from None
    request.state.compreface_form = form
    return form


async def close_form(request: Request) -> None:
    """Close the form :func:`read_form` parsed for this request, if it did."""
    form = getattr(request.state, "compreface_form", None)
    if isinstance(form, FormData):
        await form.close()
