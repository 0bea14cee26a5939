"""Import suppressions: an erased person is not enrolled again by re-running an import.

A bulk import remembers what it enrolled by a keyed hash of each source
(``import_progress``), so a re-run skips it; erasing the person deletes that
record with them, and the next run of the same import (a nightly HR sync)
would enroll them again, silently undoing an Art. 17 erasure. So erasing a
person who came from an import also records, here, a **suppression token**
of each of their import sources: ``HMAC-SHA256(suppression key, kind ||
source key)``, truncated to 128 bits. A re-import of a suppressed source is
skipped and reported.

Not of their ID number, on purpose: with the whole key directory, a number of
a guessable format could be brute-forced back from such a token, where
nothing facewarden keeps gives an erased person's number back, even with the
key directory (its archives leave the blind-index tokens out for that reason).

Layout: ``import-suppressions`` in the key directory (mode 0600); the first
line is ``key <64 hex>`` (the suppression key, random, made at the first
erasure that needs it), then one token a line. What it gives away:

* **the file alone**: how many imported people were erased; no token links
  to anything else (a source key, a subject id, another deployment's token),
  since it is keyed with a key of its own;
* **the whole key directory**: whoever can also compute source keys (the
  blind-index key) can test a guessed source (a path that names a person)
  for "was erased". That is the price of checking at all; a
  deployment that would rather forget every suppression destroys the file
  (the key goes with it), and ``--allow-erased`` lifts those of the sources
  imported with it (audited).

Appends are fsynced under the key directory's lock, before the erasure
commits (a crash after it leaves the token, which is harmless: the erasure is
completed at the next open from the erasure ledger).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from facewarden.errors import IntegrityError
from facewarden.privacy._keydir import append_line, check_private, locked, write_atomic

__all__ = ["SOURCE", "SUPPRESSIONS", "ImportSuppressions", "Suppressed"]

SUPPRESSIONS = "import-suppressions"
SOURCE = "source"
"""Kind of a bulk-import source's key (:meth:`~facewarden.service.bulk.BulkImporter.source_key`)."""
_HEADER = b"key "
_TOKEN_HEX = 32


class ImportSuppressions:
    """The import-suppression tokens of one key directory."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory
        self._path = directory / SUPPRESSIONS

    def __repr__(self) -> str:
        return f"ImportSuppressions({str(self._path)!r})"

    def suppress(self, values: Iterable[tuple[str, str]]) -> None:
        """Record a token of each (kind, value) pair, in one fsynced append.

        ``kind`` says what the value is (:data:`SOURCE`).
        """
        values = list(values)
        if not values:
            return
        with locked(self._dir, exclusive=True):
            key, _ = self._read()
            if key is None:
                key = secrets.token_bytes(32)
                append_line(self._path, lambda _fd: _HEADER + key.hex().encode("ascii") + b"\n")
            line = b"".join(_token(key, k, v).encode("ascii") + b"\n" for k, v in values)
            append_line(self._path, lambda _fd: line)

    def matcher(self) -> Suppressed:
        """What is suppressed now, to test many values against (one read of the file)."""
        with locked(self._dir, exclusive=False):
            key, tokens = self._read()
        return Suppressed(key, tokens)

    def lift(self, values: Iterable[tuple[str, str]]) -> int:
        """Remove the tokens of these (kind, value) pairs; returns how many were there."""
        with locked(self._dir, exclusive=True):
            key, tokens = self._read()
            if key is None:
                return 0
            gone = {_token(key, k, v) for k, v in values} & tokens
            if gone:
                kept = b"".join(t.encode("ascii") + b"\n" for t in sorted(tokens - gone))
                body = _HEADER + key.hex().encode("ascii") + b"\n" + kept
                write_atomic(self._dir, SUPPRESSIONS, body)
            return len(gone)

    def _read(self) -> tuple[bytes | None, set[str]]:
        try:
            fd = os.open(self._path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            return None, set()
        try:
            check_private(self._path, os.fstat(fd))
            with os.fdopen(os.dup(fd), "rb") as handle:
                data = handle.read()
        finally:
            os.close(fd)
        lines = data[: data.rfind(b"\n") + 1].split(b"\n")[:-1]  # a torn last line is not read
        if not lines:
            return None, set()
        header = lines[0]
        try:
            if not header.startswith(_HEADER):
                raise ValueError
            key = bytes.fromhex(header[len(_HEADER) :].decode("ascii"))
            if len(key) != 32:
                raise ValueError
        except ValueError:
            raise IntegrityError(
                f"{self._path} does not start with its key; restore it from backup, or delete "
                "it to forget every import suppression"
            ) from None
        return key, {line.decode("ascii", "replace") for line in lines[1:] if line}


class Suppressed:
    """A snapshot of the suppression tokens: is a value suppressed?"""

    def __init__(self, key: bytes | None, tokens: set[str]) -> None:
        self._key = key
        self._tokens = frozenset(tokens)

    def __contains__(self, kind_value: tuple[str, str]) -> bool:
        if self._key is None:
            return False
        kind, value = kind_value
        return _token(self._key, kind, value) in self._tokens


def _token(key: bytes, kind: str, value: str) -> str:
    message = kind.encode("ascii") + b"\x00" + value.encode("utf-8")
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:_TOKEN_HEX]
