"""Values no route may use, refused before any route sees them (route dependencies).

:func:`allow` adds these to every route, so each route, native or
CompreFace, answers them the same way, with the 422 of any other invalid
value (400 with CompreFace's code 26 on its routes):

* A NUL character in a path, a query string, a form field or anywhere in a
  JSON body. No name, id or text holds one, and PostgreSQL text cannot: it
  reached the database driver as a 500 there, where SQLite found nothing.
* A field given several times where the route takes it once: a multipart
  field, a query parameter, a key of a JSON object. FastAPI (and Python's
  JSON parser) keep the last and drop the others unsaid: two photos sent to
  add two faces added one, and ``{"role": "operator", "role": "admin"}``
  issued an admin key. Parameters typed as lists (several photos to enroll)
  take several.

Both read the body FastAPI has already parsed for the route (Starlette keeps
it on the request); neither parses a body the route does not take.
"""

from __future__ import annotations

import json
import types
import typing
from collections import Counter
from collections.abc import Sequence
from typing import Any

from fastapi import Request, params
from fastapi.exceptions import RequestValidationError
from starlette.datastructures import FormData, UploadFile

__all__ = ["refuse_nul_characters", "refuse_repeated_fields"]

_NUL = "\x00"
_Location = tuple[str | int, ...]


async def refuse_nul_characters(request: Request) -> None:
    """A route dependency: a NUL character in any value of the request is a 422."""
    found: list[_Location] = [
        ("path", name)
        for name, value in request.path_params.items()
        if isinstance(value, str) and _NUL in value
    ]
    found += [
        ("query", name)
        for name, value in request.query_params.multi_items()
        if _NUL in name or _NUL in value
    ]
    body = await _parsed_body(request)
    if isinstance(body, FormData):
        found += [
            ("body", name)
            for name, value in body.multi_items()
            if _NUL in name or (isinstance(value, str) and _NUL in value)
        ]
    elif body is not None and _holds_nul_escape(await request.body()):
        found.append(("body",))
    if found:
        raise RequestValidationError(
            [
                {
                    "type": "nul_character",
                    "loc": where,
                    "msg": "holds a NUL character (\\x00), which no name, id or text may",
                    "input": None,
                }
                for where in found[:10]
            ]
        )


async def refuse_repeated_fields(request: Request) -> None:
    """A route dependency: a field the route takes once, given several times, is a 422."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None:
        return
    problems = [
        _repeated(("query", field.alias), len(sent), "")
        for field in dependant.query_params
        if len(sent := request.query_params.getlist(field.alias)) > 1
        and not _takes_many(field.field_info.annotation)
    ]
    body = await _parsed_body(request)
    if isinstance(body, FormData):
        for field in dependant.body_params:
            parts = body.getlist(field.alias)
            if len(parts) > 1 and not _takes_many(field.field_info.annotation):
                advice = " (send one request per photo)" if isinstance(parts[0], UploadFile) else ""
                problems.append(_repeated(("body", field.alias), len(parts), advice))
    elif body is not None:
        problems += [
            {
                "type": "repeated",
                "loc": ("body", *where),
                "msg": f"given {count} times in one JSON object",
                "input": None,
            }
            for where, count in _repeated_keys(await request.body())
        ]
    if problems:
        raise RequestValidationError(problems[:10])


def _repeated(where: _Location, count: int, advice: str) -> dict[str, Any]:
    return {
        "type": "repeated",
        "loc": where,
        "msg": f"sent {count} times; this route takes one{advice}",
        "input": None,
    }


def _repeated_keys(body: bytes) -> list[tuple[_Location, int]]:
    """The keys given more than once in some object of a JSON body (as far as it parses)."""
    found: list[tuple[_Location, int]] = []

    def pairs(items: list[tuple[str, Any]]) -> None:
        if len({key for key, _ in items}) < len(items):  # rare: counted only then
            counts = Counter(key for key, _ in items)
            found.extend(((key,), count) for key, count in counts.items() if count > 1)
        # None for the object: this reading keeps no copy of the body's values
        # beside the one FastAPI parsed (20 MB of small objects take 600 MB).

    try:
        json.loads(body, object_pairs_hook=pairs)
    except (ValueError, RecursionError):
        return []  # FastAPI has parsed it, so this is not reached
    return found


async def _parsed_body(request: Request) -> FormData | Any:
    """The body as FastAPI parsed it for the route: a form, JSON, or None (no body taken)."""
    dependant = getattr(request.scope.get("route"), "dependant", None)
    if dependant is None or not dependant.body_params:
        return None
    if any(isinstance(field.field_info, params.Form) for field in dependant.body_params):
        return await request.form()
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if not (media == "application/json" or media.endswith("+json")):
        return None
    try:
        return await request.json()
    except ValueError:  # FastAPI has answered it already; an empty body is no JSON
        return None


def _holds_nul_escape(body: bytes) -> bool:
    """Whether a JSON text holds a NUL: in JSON a string can hold one only as ``\\u0000``.

    Searched in the text, in C, rather than by walking the parsed value (a
    20 MB array of numbers took 43 s to walk in Python). Escaped backslashes
    are dropped first, pair by pair from the left as JSON reads them, so that
    ``\\\\u0000`` (the text \\u0000) is no NUL.
    """
    text = body.decode(json.detect_encoding(body), errors="replace")  # as json.loads reads it
    return "\\u0000" in text.replace("\\\\", "")


def _takes_many(annotation: Any) -> bool:
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(_takes_many(member) for member in typing.get_args(annotation))
    return isinstance(origin, type) and issubclass(origin, Sequence) and origin is not str
