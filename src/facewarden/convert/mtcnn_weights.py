"""MTCNN's weights as the ``mtcnn`` wheel ships them, read without unpickling anything.

The MIT-licensed ``mtcnn`` wheel (1.0.0, by Iván de Paz Centeno) keeps the
weights of its three networks in ``mtcnn/assets/weights/{pnet,rnet,onet}.lz4``:
an LZ4 frame holding a joblib pickle of a list of numpy arrays, each pickled
as a ``joblib.numpy_pickle.NumpyArrayWrapper`` followed by the array's raw
bytes. ``joblib.load`` would run whatever a pickle asks for; instead this
module interprets the few pickle opcodes such a file uses, accepts exactly
three globals (the wrapper class, ``numpy.ndarray`` as its subclass field,
``numpy.dtype`` for little-endian float32), and reads the raw bytes itself.
Anything else (another opcode, another global, a truncated array, a list of
the wrong length, shapes other than the architecture's, a non-finite value)
is refused with a :class:`~facewarden.errors.ModelError` that names it.

The files are also pinned by SHA-256 to the release the graphs were checked
against, so an altered weight file that still parses is refused too.

Only the wheel's files are read (the package is located with
``importlib.util.find_spec``, which does not import it: its ``__init__``
imports TensorFlow, which facewarden never needs).
"""

from __future__ import annotations

import hashlib
import importlib.util
import struct
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from facewarden.errors import ModelError

__all__ = [
    "ARCHITECTURES",
    "NETWORKS",
    "WEIGHT_SHA256",
    "parse_weights",
    "read_weights",
    "weights_path",
]

FloatArray = npt.NDArray[np.float32]

#: The three networks, in the order they run.
NETWORKS = ("pnet", "rnet", "onet")

#: SHA-256 of the weight files of ``mtcnn`` 1.0.0, the release these graphs were checked against.
WEIGHT_SHA256 = {
    "pnet": "ea6b0c3e685ebee3165326ad6484acc95f2ef78f1c94fbf40a55704fa989f7b5",
    "rnet": "cb00e6460f3c98b0bfafaba3c0a0ded4bdf6e62cee7174d969e8670d7e757fee",
    "onet": "94f6ea2f4cf985275ee958cdd762d17b6009348a4fb9d8c6be39ba73ffd22ca3",
}

# Keras' ``get_weights`` order: per layer kernel then bias (Conv2D, Dense), alpha (PReLU).
# Conv kernels are (rows, columns, in, out); PReLU alphas shared over the image axes
# are (1, 1, channels); Dense kernels are (in, out).
ARCHITECTURES: dict[str, tuple[tuple[str, tuple[int, ...]], ...]] = {
    "pnet": (
        ("conv1.kernel", (3, 3, 3, 10)),
        ("conv1.bias", (10,)),
        ("prelu1.alpha", (1, 1, 10)),
        ("conv2.kernel", (3, 3, 10, 16)),
        ("conv2.bias", (16,)),
        ("prelu2.alpha", (1, 1, 16)),
        ("conv3.kernel", (3, 3, 16, 32)),
        ("conv3.bias", (32,)),
        ("prelu3.alpha", (1, 1, 32)),
        ("conv4-1.kernel", (1, 1, 32, 4)),
        ("conv4-1.bias", (4,)),
        ("conv4-2.kernel", (1, 1, 32, 2)),
        ("conv4-2.bias", (2,)),
    ),
    "rnet": (
        ("conv1.kernel", (3, 3, 3, 28)),
        ("conv1.bias", (28,)),
        ("prelu1.alpha", (1, 1, 28)),
        ("conv2.kernel", (3, 3, 28, 48)),
        ("conv2.bias", (48,)),
        ("prelu2.alpha", (1, 1, 48)),
        ("conv3.kernel", (2, 2, 48, 64)),
        ("conv3.bias", (64,)),
        ("prelu3.alpha", (1, 1, 64)),
        ("fc4.kernel", (576, 128)),
        ("fc4.bias", (128,)),
        ("prelu4.alpha", (128,)),
        ("fc5-1.kernel", (128, 4)),
        ("fc5-1.bias", (4,)),
        ("fc5-2.kernel", (128, 2)),
        ("fc5-2.bias", (2,)),
    ),
    "onet": (
        ("conv1.kernel", (3, 3, 3, 32)),
        ("conv1.bias", (32,)),
        ("prelu1.alpha", (1, 1, 32)),
        ("conv2.kernel", (3, 3, 32, 64)),
        ("conv2.bias", (64,)),
        ("prelu2.alpha", (1, 1, 64)),
        ("conv3.kernel", (3, 3, 64, 64)),
        ("conv3.bias", (64,)),
        ("prelu3.alpha", (1, 1, 64)),
        ("conv4.kernel", (2, 2, 64, 128)),
        ("conv4.bias", (128,)),
        ("prelu4.alpha", (1, 1, 128)),
        ("fc5.kernel", (1152, 256)),
        ("fc5.bias", (256,)),
        ("prelu5.alpha", (256,)),
        ("fc6-1.kernel", (256, 4)),
        ("fc6-1.bias", (4,)),
        ("fc6-2.kernel", (256, 10)),
        ("fc6-2.bias", (10,)),
        ("fc6-3.kernel", (256, 2)),
        ("fc6-3.bias", (2,)),
    ),
}

# The largest file is ~3.4 MB decompressed; anything far larger is not one of these.
_MAX_DECOMPRESSED = 16 << 20
_LZ4_MAGIC = b"\x04\x22\x4d\x18"


def weights_path(network: str) -> Path:
    """The wheel's weight file of ``network`` (``pnet``, ``rnet`` or ``onet``).

    Raises:
        ModelError: an unknown network, or the ``mtcnn`` wheel is not installed.
    """
    if network not in NETWORKS:
        raise ModelError(f"unknown MTCNN network {network!r}; choose one of: {', '.join(NETWORKS)}")
    spec = importlib.util.find_spec("mtcnn")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the small-face detector needs the mtcnn package's weight files; "
            "reinstall facewarden with its dependencies"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / "assets" / "weights"
    found = path / f"{network}.lz4"
    if not found.is_file():
        raise ModelError(f"the mtcnn package has no weight file {found}")
    return found


def read_weights(network: str, path: Path | None = None) -> dict[str, FloatArray]:
    """The named, shape-checked arrays of ``network`` from its weight file.

    Args:
        network: ``pnet``, ``rnet`` or ``onet``.
        path: the file (default: the installed wheel's, which is also checked
            against :data:`WEIGHT_SHA256`).

    Raises:
        ModelError: the file is missing, truncated, altered or not understood;
            the message names the file and the problem.
    """
    source = path or weights_path(network)
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise ModelError(f"cannot read the MTCNN weight file {source}: {exc}") from exc
    arrays = parse_weights(data, network, source=str(source))
    expected = WEIGHT_SHA256.get(network, "")
    actual = hashlib.sha256(data).hexdigest()
    if expected and actual != expected:
        raise ModelError(
            f"{source}: the {network} weights parse but are not those of mtcnn 1.0.0 "
            f"(sha256 {actual[:16]}..., expected {expected[:16]}...): the file was altered"
        )
    return arrays


def parse_weights(data: bytes, network: str, *, source: str = "<bytes>") -> dict[str, FloatArray]:
    """The named arrays of ``network`` from the bytes of its ``.lz4`` weight file.

    Raises:
        ModelError: the bytes are not such a file, or do not hold this network's
            weights; the message says what is wrong.
    """
    if network not in ARCHITECTURES:
        raise ModelError(f"unknown MTCNN network {network!r}; choose one of: {', '.join(NETWORKS)}")
    stream = _decompress(data, source)
    arrays = _Reader(stream, source).load()
    return _named(arrays, network, source)


def _decompress(data: bytes, source: str) -> bytes:
    if not data.startswith(_LZ4_MAGIC):
        raise ModelError(f"{source}: not an LZ4 frame (the file is empty or of another format)")
    import lz4.frame

    decompressor = lz4.frame.LZ4FrameDecompressor()
    try:
        out: bytes = decompressor.decompress(data, max_length=_MAX_DECOMPRESSED)
    except RuntimeError as exc:  # lz4 reports corrupt frames and bad checksums this way
        raise ModelError(f"{source}: the LZ4 frame is corrupt ({exc})") from exc
    if not decompressor.eof:
        if len(out) >= _MAX_DECOMPRESSED:
            raise ModelError(f"{source}: decompresses to more than {_MAX_DECOMPRESSED} bytes")
        raise ModelError(f"{source}: the LZ4 frame is truncated (it ends before its end mark)")
    if decompressor.unused_data:
        raise ModelError(f"{source}: {len(decompressor.unused_data)} bytes follow the LZ4 frame")
    return out


def _named(arrays: list[FloatArray], network: str, source: str) -> dict[str, FloatArray]:
    layout = ARCHITECTURES[network]
    if len(arrays) != len(layout):
        raise ModelError(
            f"{source}: holds {len(arrays)} arrays; the {network} architecture has {len(layout)}"
        )
    named: dict[str, FloatArray] = {}
    for (name, shape), array in zip(layout, arrays, strict=True):
        if array.shape != shape:
            raise ModelError(
                f"{source}: {network} {name} has shape {array.shape}; "
                f"the architecture needs {shape}"
            )
        if not np.isfinite(array).all():
            raise ModelError(f"{source}: {network} {name} holds values that are not finite")
        named[name] = array
    return named


# -- a pickle interpreter for exactly what joblib writes here -------------------------


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
