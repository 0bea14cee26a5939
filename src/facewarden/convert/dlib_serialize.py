"""dlib's serialization primitives, as ``dlib/serialize.h`` and ``dlib/dnn/tensor.h`` write them.

* an integer is a control byte (bit 7: negative; low 4 bits: the byte count,
  1 to 8; bits 4-6 unused) followed by its magnitude in little-endian bytes;
* a float is two integers, a 64-bit mantissa and a 16-bit exponent, worth
  ``mantissa * 2**exponent`` (exponents 32000-32002 mean inf, -inf, NaN);
  dlib's older text floats are refused;
* a string is its length then its bytes; a bool is the character ``0`` or ``1``;
* a tensor (format 2) is its shape ``(n, k, nr, nc)`` then raw little-endian
  float32 values; an alias tensor (format 1) is only a shape.

Every failure is a :class:`~facewarden.errors.ModelError` naming the file,
what was being read, and the byte offset.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from facewarden.errors import ModelError

__all__ = ["DlibReader"]

FloatArray = npt.NDArray[np.float32]

_FLOAT_SPECIAL = 32000  # exponents from here on encode inf, -inf and NaN


class DlibReader:
    """Decodes dlib's primitives from a byte string, naming the offset on failure.

    Attributes:
        pos: the offset of the next byte to read.
        source: the file's name, for messages.
        where: what is being read, for messages (the caller keeps it current).
    """

    def __init__(self, data: bytes, source: str) -> None:
        self.data = memoryview(data)
        self.pos = 0
        self.source = source
        self.where = "the file header"

    def fail(self, message: str, at: int | None = None) -> ModelError:
        offset = self.pos if at is None else at
        return ModelError(
            f"{self.source}: not a dlib network facewarden understands: {message} "
            f"(at byte {offset}, in {self.where})"
        )

    def take(self, count: int) -> memoryview:
        if count < 0 or self.pos + count > len(self.data):
            raise self.fail(f"the file ends early (wanted {count} more bytes)")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def integer(self, what: str, *, max_bytes: int = 8, signed: bool = True) -> int:
        start = self.pos
        control = self.take(1)[0]
        negative = bool(control & 0x80)
        size = control & 0x0F
        if size == 0 or size > max_bytes or control & 0x70 or (negative and not signed):
            raise self.fail(f"bad integer control byte 0x{control:02x} for {what}", start)
        value = int.from_bytes(self.take(size), "little")
        return -value if negative else value

    def count(self, what: str, *, limit: int = 1 << 31) -> int:
        start = self.pos
        value = self.integer(what, signed=False)
        if value > limit:
            raise self.fail(f"{what} is {value}, more than {limit}", start)
        return value

    def real(self, what: str) -> float:
        start = self.pos
        if self.pos < len(self.data) and self.data[self.pos] & 0x70:
            raise self.fail(f"{what} uses dlib's old text float format", start)
        mantissa = self.integer(f"{what} (mantissa)")
        exponent = self.integer(f"{what} (exponent)", max_bytes=2)
        if exponent >= _FLOAT_SPECIAL:
            raise self.fail(f"{what} is not a finite number", start)
        return float(np.ldexp(float(mantissa), exponent))

    def boolean(self, what: str) -> bool:
        start = self.pos
        char = bytes(self.take(1))
        if char not in (b"0", b"1"):
            raise self.fail(f"{what} should be '0' or '1', found {char!r}", start)
        return char == b"1"

    def string(self, what: str, *, limit: int = 256) -> str:
        start = self.pos
        size = self.count(f"length of {what}", limit=limit)
        raw = bytes(self.take(size))
        try:
            return raw.decode("ascii")
        except UnicodeDecodeError:
            raise self.fail(f"{what} is not text: {raw[:32]!r}", start) from None

    def peek_string(self) -> str | None:
        saved, where = self.pos, self.where
        try:
            return self.string("a name")
        except ModelError:
            return None
        finally:
            self.pos, self.where = saved, where

    def shape(self, what: str) -> tuple[int, int, int, int]:
        dims = tuple(self.count(f"{what} dimension", limit=1 << 28) for _ in range(4))
        return dims[0], dims[1], dims[2], dims[3]

    def tensor(self, what: str) -> FloatArray:
        start = self.pos
        version = self.integer(f"{what} version")
        if version != 2:
            raise self.fail(f"{what} has tensor format {version}; only format 2 is read", start)
        shape = self.shape(what)
        size = int(np.prod(shape, dtype=np.int64))
        left = len(self.data) - self.pos
        if size * 4 > left:
            raise self.fail(
                f"the file ends early: {what} {shape} needs {size * 4} bytes, {left} left"
            )
        values = np.frombuffer(self.take(size * 4), dtype="<f4").astype(np.float32)
        if not np.all(np.isfinite(values)):
            raise self.fail(f"{what} holds values that are not finite", start)
        return values

    def alias(self, what: str) -> tuple[int, int, int, int]:
        start = self.pos
        if self.integer(f"{what} version") != 1:
            raise self.fail(f"unknown alias tensor version for {what}", start)
        return self.shape(what)

    def expect(self, condition: bool, message: str) -> None:
        if not condition:
            raise self.fail(message)
