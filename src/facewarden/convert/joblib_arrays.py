"""A list of float32 arrays from a joblib pickle, read without unpickling anything.

joblib pickles each numpy array as a ``joblib.numpy_pickle.NumpyArrayWrapper``
followed by the array's raw bytes. :func:`load_arrays` runs only the few
pickle opcodes such a list uses, accepts exactly three globals (the wrapper
class, ``numpy.ndarray`` as its subclass field, ``numpy.dtype`` for
little-endian float32) and reads the raw bytes itself, so a hostile file can
name no other code to run. Every other opcode or global, a truncated array
or trailing bytes is a :class:`~facewarden.errors.ModelError` naming the
byte offset. It serves the MTCNN weight files
(:mod:`facewarden.convert.mtcnn_weights`).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from facewarden.errors import ModelError

__all__ = ["load_arrays"]

FloatArray = npt.NDArray[np.float32]


def load_arrays(stream: bytes, source: str) -> list[FloatArray]:
    """The arrays of the pickled list in ``stream`` (the decompressed file).

    Args:
        stream: the pickle's bytes.
        source: what to call the file in error messages.

    Raises:
        ModelError: the stream holds anything but such a list, or is truncated.
    """
    return _Reader(stream, source).load()


class _Mark:
    """The MARK opcode's stack marker."""


class _Global:
    """One of the three globals a weight file may name."""

    def __init__(self, name: str) -> None:
        self.name = name


@dataclass
class _DtypeSpec:
    code: str
    byteorder: str = "<"


@dataclass
class _Wrapper:
    state: dict[str, Any] | None = None


_ALLOWED_GLOBALS = {
    ("joblib.numpy_pickle", "NumpyArrayWrapper"): "wrapper",
    ("numpy", "ndarray"): "ndarray",
    ("numpy", "dtype"): "dtype",
}
_MAX_ELEMENTS = 4_000_000


class _Reader:
    """Runs the pickle opcodes of a joblib weight list; refuses every other opcode."""

    def __init__(self, data: bytes, source: str) -> None:
        self.data = data
        self.pos = 0
        self.source = source
        self.stack: list[Any] = []
        self.memo: dict[int, Any] = {}
        self.ops: dict[int, Callable[[], object]] = {
            0x80: lambda: self._take(1),  # PROTO
            0x95: lambda: self._take(8),  # FRAME: a read-ahead hint, nothing to do
            ord("]"): lambda: self.stack.append([]),
            ord("}"): lambda: self.stack.append({}),
            ord(")"): lambda: self.stack.append(()),
            ord("("): lambda: self.stack.append(_Mark()),
            0x94: lambda: self.memo.__setitem__(len(self.memo), self._top()),  # MEMOIZE
            ord("q"): lambda: self.memo.__setitem__(self._take(1)[0], self._top()),
            ord("r"): lambda: self.memo.__setitem__(self._u32(), self._top()),
            ord("h"): lambda: self.stack.append(self._memo(self._take(1)[0])),
            ord("j"): lambda: self.stack.append(self._memo(self._u32())),
            0x8C: lambda: self.stack.append(self._text(self._take(1)[0])),
            ord("X"): lambda: self.stack.append(self._text(self._u32())),
            ord("K"): lambda: self.stack.append(self._take(1)[0]),
            ord("M"): lambda: self.stack.append(struct.unpack("<H", self._take(2))[0]),
            ord("J"): lambda: self.stack.append(struct.unpack("<i", self._take(4))[0]),
            ord("N"): lambda: self.stack.append(None),
            0x88: lambda: self.stack.append(True),
            0x89: lambda: self.stack.append(False),
            ord("t"): lambda: self.stack.append(tuple(self._pop_mark())),
            0x85: lambda: self.stack.append((self._pop(),)),
            0x86: self._tuple2,
            0x87: self._tuple3,
            0x93: self._stack_global,
            0x81: self._newobj,
            ord("R"): self._reduce,
            ord("b"): self._build,
            ord("u"): self._setitems,
            ord("s"): self._setitem,
            ord("e"): self._appends,
            ord("a"): self._append,
        }

    def fail(self, problem: str) -> ModelError:
        return ModelError(f"{self.source}: {problem} (at byte {self.pos} of the weight stream)")

    def load(self) -> list[FloatArray]:
        while True:
            code = self._take(1)[0]
            if code == ord("."):  # STOP
                break
            handler = self.ops.get(code)
            if handler is None:
                raise self.fail(f"pickle opcode {code:#04x} is not one a weight list uses")
            handler()
        if self.pos != len(self.data):
            raise self.fail(f"{len(self.data) - self.pos} bytes follow the end of the weights")
        result = self._pop()
        if self.stack or not isinstance(result, list):
            raise self.fail("the file does not hold a single list of arrays")
        if not all(isinstance(a, np.ndarray) for a in result):
            raise self.fail("the list holds something other than arrays")
        return result

    def _take(self, count: int) -> bytes:
        end = self.pos + count
        if count < 0 or end > len(self.data):
            raise self.fail(
                f"truncated: {count} more bytes needed, {len(self.data) - self.pos} left"
            )
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def _u32(self) -> int:
        value: int = struct.unpack("<I", self._take(4))[0]
        return value

    def _text(self, length: int) -> str:
        try:
            return self._take(length).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise self.fail("a string is not UTF-8") from exc

    def _top(self) -> Any:
        if not self.stack:
            raise self.fail("the pickle stack is empty where a value is needed")
        return self.stack[-1]

    def _pop(self) -> Any:
        value = self._top()
        self.stack.pop()
        if isinstance(value, _Mark):
            raise self.fail("a mark where a value is needed")
        return value

    def _memo(self, index: int) -> Any:
        if index not in self.memo:
            raise self.fail(f"memo entry {index} is used before it is stored")
        return self.memo[index]

    def _pop_mark(self) -> list[Any]:
        for index in range(len(self.stack) - 1, -1, -1):
            if isinstance(self.stack[index], _Mark):
                items = self.stack[index + 1 :]
                del self.stack[index:]
                return items
        raise self.fail("no mark to pop to")

    def _tuple2(self) -> None:
        second = self._pop()
        self.stack.append((self._pop(), second))

    def _tuple3(self) -> None:
        third, second = self._pop(), self._pop()
        self.stack.append((self._pop(), second, third))

    def _stack_global(self) -> None:
        name, module = self._pop(), self._pop()
        kind = _ALLOWED_GLOBALS.get((module, name))
        if kind is None:
            raise self.fail(f"the file names {module}.{name}; a weight file may not")
        self.stack.append(_Global(kind))

    def _newobj(self) -> None:
        args, cls = self._pop(), self._pop()
        if not (isinstance(cls, _Global) and cls.name == "wrapper" and args == ()):
            raise self.fail("an object other than an array wrapper is created")
        self.stack.append(_Wrapper())

    def _reduce(self) -> None:
        args, call = self._pop(), self._pop()
        if not (isinstance(call, _Global) and call.name == "dtype"):
            raise self.fail("a call other than numpy.dtype")
        if not (isinstance(args, tuple) and len(args) == 3 and args[0] in ("f4", "<f4")):
            raise self.fail(f"dtype {args!r} is not float32")
        self.stack.append(_DtypeSpec("f4"))

    def _build(self) -> None:
        state, target = self._pop(), self._top()
        if isinstance(target, _DtypeSpec):
            if not (isinstance(state, tuple) and len(state) >= 2 and state[1] in ("<", "|")):
                raise self.fail(f"dtype state {state!r} is not little-endian float32")
            return
        if isinstance(target, _Wrapper) and isinstance(state, dict):
            self.stack[-1] = self._array(state)
            return
        raise self.fail("state applied to something other than a dtype or an array wrapper")

    def _array(self, state: dict[str, Any]) -> FloatArray:
        subclass, shape, order, dtype = (
            state.get(k) for k in ("subclass", "shape", "order", "dtype")
        )
        if not (isinstance(subclass, _Global) and subclass.name == "ndarray"):
            raise self.fail("an array of a class other than numpy.ndarray")
        if not isinstance(dtype, _DtypeSpec):
            raise self.fail("an array without a float32 dtype")
        if order not in ("C", "F"):
            raise self.fail(f"array order {order!r} is neither C nor F")
        if not (
            isinstance(shape, tuple)
            and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape)
        ):
            raise self.fail(f"array shape {shape!r} is not a tuple of sizes")
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if count > _MAX_ELEMENTS:
            raise self.fail(f"an array of {count} values; no MTCNN layer has more than a million")
        if state.get("numpy_array_alignment_bytes") is not None:
            padding = self._take(1)[0]
            self._take(padding)
        raw = self._take(count * 4)
        array = np.frombuffer(raw, dtype="<f4", count=count).astype(np.float32)
        if order == "F":
            return np.ascontiguousarray(array.reshape(shape[::-1]).T)
        return array.reshape(shape)

    def _setitems(self) -> None:
        items = self._pop_mark()
        target = self._top()
        if not isinstance(target, dict) or len(items) % 2:
            raise self.fail("SETITEMS on something other than a dict")
        for key, value in zip(items[::2], items[1::2], strict=True):
            target[key] = value

    def _setitem(self) -> None:
        value, key = self._pop(), self._pop()
        target = self._top()
        if not isinstance(target, dict):
            raise self.fail("SETITEM on something other than a dict")
        target[key] = value

    def _appends(self) -> None:
        items = self._pop_mark()
        target = self._top()
        if not isinstance(target, list):
            raise self.fail("APPENDS on something other than a list")
        target.extend(items)

    def _append(self) -> None:
        value = self._pop()
        target = self._top()
        if not isinstance(target, list):
            raise self.fail("APPEND on something other than a list")
        target.append(value)
