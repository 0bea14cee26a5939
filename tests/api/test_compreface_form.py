"""How a multipart part named only by RFC 5987's ``filename*`` becomes a file part.

The whole path (a real upload over HTTP) is in test_compreface_routes; here the
header rewriting, on the spellings clients send.
"""

from __future__ import annotations

import pytest
from python_multipart.multipart import parse_options_header

from facewarden.api.compreface_form import with_plain_filename


@pytest.mark.parametrize(
    ("disposition", "filename"),
    [
        (b"form-data; name=\"file\"; filename*=UTF-8''%C3%A9t%C3%A9.jpg", "été.jpg"),
        (b"form-data; name=file; filename*=utf-8'en'a%20b.png", "a b.png"),
        # What would end the quoted value or the parameter is replaced, not passed on.
        (b"form-data; name=file; filename*=UTF-8''a%22%3B%5C%0D%0Ab.jpg", "a_____b.jpg"),
        (b"form-data; name=file; filename*=UTF-8''", ""),
    ],
)
def test_an_encoded_filename_alone_gets_its_plain_spelling(
    disposition: bytes, filename: str
) -> None:
    rewritten = with_plain_filename(disposition)
    assert rewritten is not None
    _, options = parse_options_header(rewritten)
    assert options[b"filename"].decode("utf-8") == filename
    assert options[b"name"] == b"file"


@pytest.mark.parametrize(
    "disposition",
    [
        None,
        b"",
        b'form-data; name="file"',
        b'form-data; name="file"; filename="plain.jpg"',
        b'form-data; name="file"; filename="plain.jpg"; filename*=UTF-8\'\'other.jpg',
        # Too long to be a file's name: not decoded (a cost bounded before it is paid).
        b"form-data; name=file; filename*=UTF-8''" + b"%41" * 3000,
    ],
)
def test_other_dispositions_are_left_as_they_are(disposition: bytes | None) -> None:
    assert with_plain_filename(disposition) == disposition
