"""Converted models, computed once and kept in the user's cache folder.

A conversion, not a download: the ONNX model is computed from the dlib file of
the installed ``face-recognition-models`` wheel and stored as
``$XDG_CACHE_HOME/facewarden/models/<dlib file stem>-<sha256 prefix>-c<converter version>.onnx``
(``~/.cache`` when ``XDG_CACHE_HOME`` is unset). The key is the hash of the
source file's bytes, so a different file never meets a stale conversion, and
the converter version, so a fixed converter never serves an old graph.

Files are written atomically (a temporary file in the same folder, flushed,
then renamed), so concurrent worker processes converting at once each end
with a complete file. A cache that cannot be written is not an error: the
model is converted in memory and a warning is logged.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from facewarden import models
from facewarden.errors import ModelError

__all__ = [
    "CONVERTER_VERSION",
    "cache_dir",
    "cached_conversion",
    "converted_model",
    "converted_mtcnn",
    "sha256_of",
]

#: Bump whenever the converter's output for the same input changes.
CONVERTER_VERSION = 4

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/facewarden/models``, or ``~/.cache/facewarden/models``."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "facewarden" / "models"


def sha256_of(path: Path) -> str:
    """The hex SHA-256 of the file at ``path``."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_atomically(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def converted_model(model: str, *, folder: Path | None = None) -> bytes:
    """The serialized ONNX model converted from dlib's ``model``, from the cache when there.

    Args:
        model: ``resnet_embedder`` or ``mmod_detector``.
        folder: the cache folder; :func:`cache_dir` when None.

    Raises:
        ModelError: the dlib file is missing or cannot be converted.
    """
    source = models.model_path(model)
    return cached_conversion(source, source.stem, lambda: _convert(model, source), folder=folder)


def converted_mtcnn(network: str, *, folder: Path | None = None) -> bytes:
    """The serialized ONNX graph of MTCNN's ``network`` (``pnet``, ``rnet``, ``onet``).

    Converted from the installed ``mtcnn`` wheel's weight file, which is
    checked (:func:`facewarden.convert.mtcnn_weights.read_weights`) before
    its first conversion.

    Raises:
        ModelError: the weight file is missing, altered or not understood.
    """
    from facewarden.convert.mtcnn_weights import weights_path

    source = weights_path(network)

    def convert() -> bytes:
        from facewarden.convert.mtcnn_onnx import build_mtcnn
        from facewarden.convert.mtcnn_weights import read_weights

        return bytes(build_mtcnn(network, read_weights(network, source)).SerializeToString())

    return cached_conversion(source, f"mtcnn-{network}", convert, folder=folder)


def cached_conversion(
    source: Path, stem: str, convert: Callable[[], bytes], *, folder: Path | None = None
) -> bytes:
    """``convert()``'s result for the file ``source``, cached under its hash and the converter's.

    Raises:
        ModelError: from ``convert``.
    """
    digest = sha256_of(source)
    target = (folder or cache_dir()) / f"{stem}-{digest[:16]}-c{CONVERTER_VERSION}.onnx"
    try:
        return target.read_bytes()
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("cannot read the cached model %s (%s); converting again", target, exc)
    data = convert()
    try:
        _write_atomically(target, data)
        log.info("converted %s to %s", source.name, target)
    except OSError as exc:
        log.warning(
            "cannot cache the converted model in %s (%s); using it from memory", target, exc
        )
    return data


def _convert(model: str, source: Path) -> bytes:
    try:
        from facewarden.convert.dlib_format import read_network
        from facewarden.convert.to_onnx import build_onnx
    except ImportError as exc:  # a broken install: onnx is a dependency
        raise ModelError(
            f"converting dlib models needs the onnx package ({exc.name} is missing); "
            "reinstall facewarden with its dependencies"
        ) from exc
    return bytes(build_onnx(read_network(source), model).SerializeToString())
