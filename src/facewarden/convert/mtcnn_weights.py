"""MTCNN's weights as the ``mtcnn`` wheel ships them, read without unpickling anything.

The MIT-licensed ``mtcnn`` wheel (1.0.0, by Iván de Paz Centeno) keeps the
weights of its three networks in ``mtcnn/assets/weights/{pnet,rnet,onet}.lz4``:
an LZ4 frame holding a joblib pickle of a list of numpy arrays, each pickled
as a ``joblib.numpy_pickle.NumpyArrayWrapper`` followed by the array's raw
bytes. ``joblib.load`` would run whatever a pickle asks for; instead
:mod:`facewarden.convert.joblib_arrays` interprets the few pickle opcodes
such a file uses, accepts exactly three globals (the wrapper class,
``numpy.ndarray`` as its subclass field, ``numpy.dtype`` for little-endian
float32), and reads the raw bytes itself; this module checks the arrays
against each network's architecture. Anything else (another opcode, another
global, a truncated array, a list of the wrong length, shapes other than the
architecture's, a non-finite value) is refused with a
:class:`~facewarden.errors.ModelError` that names it.

The files are also pinned by SHA-256 to the release the graphs were checked
against, so an altered weight file that still parses is refused too.

Only the wheel's files are read (the package is located with
``importlib.util.find_spec``, which does not import it: its ``__init__``
imports TensorFlow, which facewarden never needs).
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path

import numpy as np
import numpy.typing as npt

from facewarden.convert.joblib_arrays import load_arrays
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
    arrays = load_arrays(stream, source)
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
