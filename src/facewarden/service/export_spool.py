"""An export drained from its snapshot at once, into a sealed spool, and read out at any pace.

A subject's export is read from one snapshot of the store
(:func:`facewarden.service.export.export_chunks`). Streamed straight to an
HTTP client (or a pipe), the snapshot would stay open for as long as the
reader takes; on SQLite an open read snapshot blocks every checkpoint (an
erasure's, a purge's) for the busy timeout, under the store's lock, so a
slow download held up the whole deployment. :func:`spooled` reads the
export to its end first, into an anonymous temporary file beside the data,
then hands it out: the snapshot is held only as long as reading takes.

Nothing decrypted reaches the disk: the spool holds AES-256-GCM blocks
under a key made for this export and held only in memory (each block's
nonce its number, so blocks cannot be reordered, dropped or replayed
unseen), and the file has no name (it is gone when closed, or when the
process dies). Memory stays bounded: one block of about :data:`BLOCK` bytes
at a time.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from facewarden.errors import FacewardenError

__all__ = ["BLOCK", "Spool", "spooled"]

BLOCK = 1 << 16
"""Plaintext bytes sealed per block of the spool."""
_LENGTH = 4


class Spool:
    """The sealed export, read back block by block (an iterable of bytes); closes itself."""

    def __init__(self, file: IO[bytes], aead: AESGCM, blocks: int) -> None:
        self._file = file
        self._aead = aead
        self._blocks = blocks

    def __iter__(self) -> Iterator[bytes]:
        try:
            self._file.seek(0)
            for number in range(self._blocks):
                size = int.from_bytes(self._file.read(_LENGTH), "big")
                sealed = self._file.read(size)
                yield self._aead.decrypt(_nonce(number), sealed, None)
        finally:
            self.close()

    def close(self) -> None:
        """Drop the spool (its file has no name: closing it frees the disk); idempotent."""
        self._file.close()


def spooled(chunks: Iterator[str], directory: Path) -> Spool:
    """``chunks`` read to their end now, sealed into an unnamed file in ``directory``.

    Errors raised by ``chunks`` (the subject erased meanwhile) come from
    here, before anything is handed out.

    Raises:
        FacewardenError: the spool cannot be written (a full disk); nothing is left.
    """
    aead = AESGCM(AESGCM.generate_key(bit_length=256))
    try:
        # A PostgreSQL deployment may not have written to its data directory yet.
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        file = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 - handed to the Spool
    except OSError as exc:
        raise FacewardenError(f"cannot spool the export in {directory}: {exc.strerror}") from None
    blocks = 0
    pending = bytearray()
    try:
        for chunk in chunks:
            pending += chunk.encode("utf-8")
            while len(pending) >= BLOCK:
                _write(file, aead, blocks, bytes(pending[:BLOCK]))
                del pending[:BLOCK]
                blocks += 1
        if pending:
            _write(file, aead, blocks, bytes(pending))
            blocks += 1
        file.flush()
    except BaseException as exc:
        with contextlib.suppress(OSError):  # flushing what is buffered fails the same way
            file.close()
        _close(chunks)  # ends the store snapshot the export reads from, now
        if isinstance(exc, OSError):
            raise FacewardenError(f"cannot spool the export: {exc.strerror or exc}") from None
        raise
    return Spool(file, aead, blocks)


def _close(chunks: Iterator[str]) -> None:
    close = getattr(chunks, "close", None)
    if close is not None:
        close()


def _write(file: IO[bytes], aead: AESGCM, number: int, block: bytes) -> None:
    sealed = aead.encrypt(_nonce(number), block, None)
    file.write(len(sealed).to_bytes(_LENGTH, "big") + sealed)


def _nonce(number: int) -> bytes:
    return number.to_bytes(12, "big")
