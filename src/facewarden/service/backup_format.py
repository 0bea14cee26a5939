"""The backup archive's format: written and read chunk by chunk, in memory bounded by a constant.

Both formats share the frame::

    b"FWBACKUP" | u32 header length | header (JSON, authenticated, not secret)
    then chunks: u32 length | AES-256-GCM(chunk), nonce = prefix (4) | counter (8),
                 associated data = SHA-256(header) | counter | final flag

Every chunk holds at most :data:`CHUNK_BYTES` of plaintext. The counter in the
nonce and the associated data fixes each chunk's place, the header's digest
ties every chunk to its header, and the final flag, set on the last chunk
only, makes a truncated archive fail as surely as a flipped bit.

Format 2 (written since the backup streams): the header names the store, the
master key id, the HKDF salt and the nonce prefix. The chunks before the last
carry the payload; the last (final) chunk carries only the trailer, a JSON
object with the payload's length and SHA-256, so the writer learns them as it
goes and never holds the payload. The payload is a sequence of entries, each
``u16 name length | name`` then blocks ``u32 length | bytes`` ended by an
empty block (a table's size is not known before it has been read).

Format 3 (written since the archive leaves the blind-index tokens out) has
format 2's frame and entries; only the database inside differs: no subject's
ID-number token (``subjects.id_index``) is in it, and a meta flag makes the
restored deployment recompute them, at open, from each subject's ID number
sealed under its own data key (see :mod:`facewarden.service.backup`). An
older reader must not restore it (its lookups by ID number would find
nothing), hence the new number.

Format 2 (still read) holds the database with its tokens.

Format 1 (still read): the payload's length and SHA-256 sit in the header, the
final chunk carries payload too, and an entry is ``u16 name length | name |
u64 size | bytes``.

Readers hand out an entry's bytes in pieces of at most :data:`CHUNK_BYTES`;
the payload's checks (trailer or header checksum, nothing after the final
chunk) run when the last entry has been consumed, so a caller commits what it
wrote only after iterating to the end.
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Iterable, Iterator
from typing import IO, Any, BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from facewarden.errors import IntegrityError, KeyMaterialError
from facewarden.privacy.keys import KeyRing

__all__ = ["CHUNK_BYTES", "FORMAT", "MAGIC", "ArchiveReader", "ArchiveWriter", "archive_key"]

MAGIC = b"FWBACKUP"
FORMAT = 3
READABLE_FORMATS = (1, 2, 3)
CHUNK_BYTES = 1 << 20
_MAX_HEADER = 64 * 1024
_NONCE_PREFIX = 4  # bytes; the chunk's counter fills the other 8 of AES-GCM's 12
_INFO = b"facewarden/backup/v1"
_HEADER_FIELDS = {
    1: ("store", "master_key_id", "salt", "nonce_prefix", "payload_sha256"),
    2: ("store", "master_key_id", "salt", "nonce_prefix"),
    3: ("store", "master_key_id", "salt", "nonce_prefix"),
}


def archive_key(keyring: KeyRing, master_key_id: str, salt: bytes) -> bytes:
    """The archive's AES-256 key, derived from the master key ``master_key_id``.

    Raises:
        KeyMaterialError: the key directory lacks that master key.
    """
    try:
        master = keyring.master_key(master_key_id)
    except KeyMaterialError:
        raise KeyMaterialError(
            f"the archive is encrypted under master key {master_key_id}, which the key "
            f"directory {keyring.path} does not hold; restore the key directory from its "
            "own backup first"
        ) from None
    return HKDF(hashes.SHA256(), 32, salt, _INFO).derive(master)


def _aad(header_digest: bytes, index: int, final: bool) -> bytes:
    return header_digest + struct.pack(">QB", index, final)


# ---------------------------------------------------------------- writing


class ArchiveWriter:
    """Seals a payload, written piece by piece, into an archive of the current format.

    Holds at most two chunks of plaintext. Call :meth:`finish` once the last
    entry is written; an archive without it has no final chunk and is refused.
    """

    def __init__(self, out: BinaryIO, header: dict[str, object], key: bytes) -> None:
        raw = json.dumps({**header, "format": FORMAT}, sort_keys=True).encode()
        out.write(MAGIC + struct.pack(">I", len(raw)) + raw)
        self._out = out
        self._digest = hashlib.sha256(raw).digest()
        self._aead = AESGCM(key)
        self._prefix = bytes.fromhex(str(header["nonce_prefix"]))
        self._pending = bytearray()
        self._index = 0
        self._payload_sha = hashlib.sha256()
        self.payload_bytes = 0

    def entry(self, name: str, blocks: Iterable[bytes | bytearray | memoryview]) -> None:
        """Append the entry ``name`` whose bytes come as ``blocks`` (empty blocks are skipped)."""
        encoded = name.encode()
        self._write(struct.pack(">H", len(encoded)) + encoded)
        for block in blocks:
            if len(block):
                self._write(struct.pack(">I", len(block)))
                self._write(block)
        self._write(struct.pack(">I", 0))

    def finish(self) -> None:
        """Seal what is pending, then the trailer as the final chunk."""
        if self._pending:
            self._seal(bytes(self._pending), final=False)
            self._pending.clear()
        trailer = {
            "payload_bytes": self.payload_bytes,
            "payload_sha256": self._payload_sha.hexdigest(),
        }
        self._seal(json.dumps(trailer, sort_keys=True).encode(), final=True)

    def _write(self, data: bytes | bytearray | memoryview) -> None:
        self._payload_sha.update(data)
        self.payload_bytes += len(data)
        self._pending += data
        while len(self._pending) >= CHUNK_BYTES:
            # Sealed through a view: no copy of the chunk (released before the buffer shrinks).
            with memoryview(self._pending)[:CHUNK_BYTES] as chunk:
                self._seal(chunk, final=False)
            del self._pending[:CHUNK_BYTES]

    def _seal(self, plaintext: bytes | memoryview, *, final: bool) -> None:
        nonce = self._prefix + struct.pack(">Q", self._index)
        sealed = self._aead.encrypt(nonce, plaintext, _aad(self._digest, self._index, final))
        self._out.write(struct.pack(">I", len(sealed)))
        self._out.write(sealed)
        self._index += 1


# ---------------------------------------------------------------- reading


def _read_exact(handle: IO[bytes], count: int, what: str) -> bytes:
    data = handle.read(count)
    if len(data) != count:
        raise IntegrityError(f"the archive is truncated: it ends inside {what}")
    return data


def _read_header(handle: IO[bytes]) -> tuple[dict[str, Any], bytes]:
    if handle.read(len(MAGIC)) != MAGIC:
        raise IntegrityError("not a facewarden backup archive (wrong magic bytes)")
    (length,) = struct.unpack(">I", _read_exact(handle, 4, "the header length"))
    if length > _MAX_HEADER:
        raise IntegrityError(f"the archive header claims {length} bytes: damaged")
    raw = _read_exact(handle, length, "the header")
    try:
        header = json.loads(raw)
        if header["format"] not in READABLE_FORMATS:
            raise IntegrityError(
                f"archive format {header['format']!r}; this version reads formats "
                f"{', '.join(map(str, READABLE_FORMATS))}"
            )
        for name in _HEADER_FIELDS[header["format"]]:
            if not isinstance(header[name], str):
                raise TypeError(name)
        # The header is authenticated only with the first chunk, which needs
        # these bytes: a damaged one must fail here as an IntegrityError too.
        salt, prefix = bytes.fromhex(header["salt"]), bytes.fromhex(header["nonce_prefix"])
        if not salt or len(prefix) != _NONCE_PREFIX:
            raise ValueError("an empty salt, or a nonce prefix not of 4 bytes")
    except (ValueError, KeyError, TypeError, RecursionError) as exc:  # JSON nested too deep
        raise IntegrityError(f"the archive header is damaged ({exc})") from None
    return header, hashlib.sha256(raw).digest()


class ArchiveReader:
    """An open archive: its header at once, its entries authenticated as they are read.

    Raises (from the constructor and while iterating :meth:`entries`):
        IntegrityError: damaged, tampered with, truncated or extended (which chunk says).
        KeyMaterialError: the key directory lacks the master key it was made under.
    """

    def __init__(self, handle: IO[bytes], keyring: KeyRing) -> None:
        self._handle = handle
        self.header, self._digest = _read_header(handle)
        self.format: int = self.header["format"]
        self._key = archive_key(
            keyring, self.header["master_key_id"], bytes.fromhex(self.header["salt"])
        )
        self._buffer = b""
        self._pos = 0
        self._chunks = self._plaintext_chunks()
        self._started = False

    def authenticate_header(self) -> dict[str, Any]:
        """The header, once the first chunk (whose associated data holds its digest) checks out.

        Read it only through this before acting on it: until then it is what
        the file says, not what was written.

        Raises:
            IntegrityError: the first chunk fails its authentication (the header or it was altered).
        """
        if not self._started:
            self._more()  # decrypts the first chunk, or runs every check of an empty payload
        return self.header

    def entries(self) -> Iterator[tuple[str, Iterator[bytes]]]:
        """``(name, pieces)`` per entry, in archive order; read each entry's pieces before the next.

        Pieces an entry's reader left unread are read (and authenticated) before
        the next entry. The loop ends only after the payload's checks passed.
        """
        if self._started:
            raise RuntimeError("an archive's entries are read once")
        self._started = True
        while self._more():
            (length,) = struct.unpack(">H", self._exact(2, "an entry's name length"))
            try:
                name = self._exact(length, "an entry's name").decode()
            except UnicodeDecodeError as exc:
                raise IntegrityError(f"the archive's contents are malformed ({exc})") from None
            if self.format == 1:
                (size,) = struct.unpack(">Q", self._exact(8, "an entry's size"))
                pieces = self._pieces(size)
            else:
                pieces = self._blocks()
            yield name, pieces
            for _ in pieces:
                pass

    def _blocks(self) -> Iterator[bytes]:
        while True:
            (size,) = struct.unpack(">I", self._exact(4, "a block's length"))
            if size == 0:
                return
            yield from self._pieces(size)

    def _pieces(self, size: int) -> Iterator[bytes]:
        while size:
            piece = self._take(min(size, CHUNK_BYTES))
            if not piece:
                raise IntegrityError("the archive's contents are malformed (an entry is cut short)")
            size -= len(piece)
            yield piece

    def _more(self) -> bool:
        """Whether payload bytes remain; pulling past the last chunk runs the payload's checks."""
        while self._pos == len(self._buffer):
            chunk = next(self._chunks, None)
            if chunk is None:
                return False
            self._buffer, self._pos = chunk, 0
        return True

    def _take(self, count: int) -> bytes:
        """Up to ``count`` bytes from the current chunk (fewer at its end); empty at the end."""
        if not self._more():
            return b""
        piece = self._buffer[self._pos : self._pos + count]
        self._pos += len(piece)
        return piece

    def _exact(self, count: int, what: str) -> bytes:
        parts, missing = [], count
        while missing:
            piece = self._take(missing)
            if not piece:
                raise IntegrityError(
                    f"the archive's contents are malformed (they end inside {what})"
                )
            parts.append(piece)
            missing -= len(piece)
        return b"".join(parts)

    def _plaintext_chunks(self) -> Iterator[bytes]:
        """Each chunk's payload, authenticated, in order; then the payload's checks."""
        handle, header = self._handle, self.header
        aead, prefix = AESGCM(self._key), bytes.fromhex(header["nonce_prefix"])
        payload_sha, payload_bytes, index, final = hashlib.sha256(), 0, 0, False
        trailer: dict[str, Any] = header
        while not final:
            size_bytes = handle.read(4)
            if len(size_bytes) < 4:
                raise IntegrityError(
                    f"the archive is truncated: it ends after chunk {index} without its last one"
                )
            (size,) = struct.unpack(">I", size_bytes)
            if size > CHUNK_BYTES + 16:
                raise IntegrityError(f"chunk {index} claims {size} bytes: damaged")
            sealed = _read_exact(handle, size, f"chunk {index}")
            plaintext, final = self._open(aead, prefix, index, sealed)
            index += 1
            if final and self.format >= 2:
                trailer = _trailer(plaintext)
                break
            payload_sha.update(plaintext)
            payload_bytes += len(plaintext)
            yield plaintext
        if handle.read(1):
            raise IntegrityError("the archive goes on after its last chunk: it was altered")
        if payload_sha.hexdigest() != trailer["payload_sha256"] or (
            self.format >= 2 and payload_bytes != trailer["payload_bytes"]
        ):
            raise IntegrityError("the archive's contents do not match the checksum it carries")

    def _open(self, aead: AESGCM, prefix: bytes, index: int, sealed: bytes) -> tuple[bytes, bool]:
        nonce = prefix + struct.pack(">Q", index)
        for final in (False, True):
            try:
                return aead.decrypt(nonce, sealed, _aad(self._digest, index, final)), final
            except InvalidTag:
                continue
        raise IntegrityError(
            f"chunk {index} of the archive fails its authentication: it was altered, "
            "or the header was"
        )


def _trailer(plaintext: bytes) -> dict[str, Any]:
    try:
        trailer = json.loads(plaintext)
        if not isinstance(trailer["payload_sha256"], str) or not isinstance(
            trailer["payload_bytes"], int
        ):
            raise TypeError("payload")
    except (ValueError, KeyError, TypeError) as exc:
        raise IntegrityError(f"the archive's trailer is damaged ({exc})") from None
    return dict(trailer)
