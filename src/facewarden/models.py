"""Where the model weights live, and loading them once per process.

The weights ship in the ``face-recognition-models`` wheel. That package finds
its files through ``pkg_resources``, which recent setuptools no longer
provides, so we locate the package directory with ``importlib`` and never
import it. Nothing here downloads anything.

Loaded models are cached per process (worker processes load their own copy
once); nothing is loaded at import time.
"""

from __future__ import annotations

import functools
import importlib.util
import threading
from pathlib import Path
from typing import Any

from facewarden.errors import ModelError

__all__ = ["MODEL_FILES", "cached", "load", "model_path", "models_dir", "remember"]

#: Logical model name -> file name inside the face-recognition-models wheel.
MODEL_FILES: dict[str, str] = {
    "resnet_embedder": "dlib_face_recognition_resnet_model_v1.dat",
    "mmod_detector": "mmod_human_face_detector.dat",
    "shape_5": "shape_predictor_5_face_landmarks.dat",
    "shape_68": "shape_predictor_68_face_landmarks.dat",
}

_lock = threading.Lock()


@functools.cache
def models_dir() -> Path:
    """The folder holding the dlib weights of the installed face-recognition-models wheel.

    Raises:
        ModelError: the package is not installed or holds no models folder.
    """
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(
            "the face-recognition-models package is not installed; "
            "install facewarden with pip so its dependencies come along"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "models"
    if not folder.is_dir():
        raise ModelError(f"face-recognition-models has no models folder at {folder}")
    return folder


def model_path(name: str) -> Path:
    """The file of the logical model ``name`` (a key of :data:`MODEL_FILES`).

    Raises:
        ModelError: unknown name, or the file is missing.
    """
    try:
        file_name = MODEL_FILES[name]
    except KeyError:
        choices = ", ".join(sorted(MODEL_FILES))
        raise ModelError(f"unknown model {name!r}; choose one of: {choices}") from None
    path = models_dir() / file_name
    if not path.is_file():
        raise ModelError(f"model file {path} is missing; reinstall face-recognition-models")
    return path


_cache: dict[str, Any] = {}


def load(name: str) -> Any:
    """The dlib object for model ``name``, loaded on first use and then shared.

    Raises:
        ModelError: the file is missing or dlib cannot read it.
    """
    model = _cache.get(name)
    if model is not None:
        return model
    with _lock:
        model = _cache.get(name)
        if model is None:
            model = _construct(name, model_path(name))
            _cache[name] = model
    return model


def cached(name: str) -> Any:
    """The object stored under ``name`` in this process, or None."""
    return _cache.get(name)


def remember(name: str, model: Any) -> Any:
    """Keep ``model`` for this process under ``name`` (first one wins) and return the kept one."""
    with _lock:
        return _cache.setdefault(name, model)


def _construct(name: str, path: Path) -> Any:
    import dlib

    constructors = {
        "resnet_embedder": dlib.face_recognition_model_v1,
        "mmod_detector": dlib.cnn_face_detection_model_v1,
        "shape_5": dlib.shape_predictor,
        "shape_68": dlib.shape_predictor,
    }
    try:
        return constructors[name](str(path))
    except RuntimeError as exc:  # dlib reports unreadable files as RuntimeError
        raise ModelError(f"dlib could not load {path.name}: {exc}") from exc
