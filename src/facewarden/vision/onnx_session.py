"""ONNX Runtime sessions, one per model and settings per process, CPU unless CUDA is asked for.

``onnxruntime`` is an optional dependency, imported only when a session is
first needed. CUDA is used only when asked for (``device="cuda"``) and
offered by the installed onnxruntime (the ``onnxruntime-gpu`` wheel); when it
is not, the session runs on the CPU and a warning says so: the GPU path is
never required.

One intra-op thread per session by default: facewarden's batch pipeline
already runs one worker process per core, and more threads per process would
only compete for the same cores. Raise ``threads`` for a single-process use
(an API server, a benchmark).
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Callable
from typing import Any

from facewarden import models
from facewarden.errors import ConfigError, ModelError

__all__ = ["DEVICES", "available_providers", "run", "session"]

#: Device names a backend accepts.
DEVICES = ("cpu", "cuda")

log = logging.getLogger(__name__)

# Held while a session is built: threads of an API server asking for the same
# model at start would otherwise each build one (seconds and memory each) and
# keep only the first.
_building = threading.Lock()


def _runtime() -> Any:
    try:
        # Imported by name: onnxruntime is optional and ships no type information.
        return importlib.import_module("onnxruntime")
    except ImportError as exc:
        raise ModelError(
            "the ONNX backends need the onnxruntime package; "
            "reinstall facewarden with its dependencies"
        ) from exc


def available_providers() -> list[str]:
    """The execution providers of the installed onnxruntime (empty if it is missing)."""
    try:
        return list(_runtime().get_available_providers())
    except ModelError:
        return []


def _providers(device: str) -> list[str]:
    if device not in DEVICES:
        raise ConfigError(f"unknown device {device!r}; choose one of: {', '.join(DEVICES)}")
    if device == "cuda":
        if "CUDAExecutionProvider" in available_providers():
            return ["CUDAExecutionProvider", "CPUExecutionProvider"]
        log.warning("CUDA was asked for but onnxruntime offers no CUDA provider; using the CPU")
    return ["CPUExecutionProvider"]


def session(key: str, load: Callable[[], bytes | str], *, threads: int, device: str) -> Any:
    """The process's ``onnxruntime.InferenceSession`` for ``key`` with these settings.

    Args:
        key: identifies the model (a logical name or a file path).
        load: returns the serialized model or its path; called once per process.
        threads: intra-op threads (0 lets onnxruntime use every core).
        device: ``cpu`` or ``cuda``.

    Raises:
        ModelError: onnxruntime is missing or cannot load the model.
        ConfigError: unknown device or a negative thread count.
    """
    if threads < 0:
        raise ConfigError(f"threads must be 0 (all cores) or more, got {threads}")
    cache_key = f"onnx-session:{key}:{threads}:{device}"
    found = models.cached(cache_key)
    if found is not None:
        return found
    with _building:
        found = models.cached(cache_key)
        if found is not None:
            return found
        runtime = _runtime()
        options = runtime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # Pool threads sleep when idle instead of spinning: spinning burned about as
        # much CPU again as the work itself (measured on MTCNN on 2 loaded cores),
        # taken from the other processes and threads of a busy machine.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.graph_optimization_level = runtime.GraphOptimizationLevel.ORT_ENABLE_ALL
        model, providers = load(), _providers(device)
        try:
            created = runtime.InferenceSession(model, options, providers=providers)
        except Exception as exc:  # onnxruntime's errors share no base class below Exception
            raise ModelError(f"onnxruntime cannot load {key}: {exc}") from exc
        return models.remember(cache_key, created)


def run(runtime: Any, feeds: dict[str, Any], *, what: str) -> list[Any]:
    """All outputs of ``runtime`` for ``feeds``; a runtime failure becomes a ModelError.

    onnxruntime raises its own exception classes (``Fail``, ``InvalidArgument``,
    ...), which derive from ``Exception`` only: left alone, one odd input
    would end a whole batch instead of failing that input.
    """
    try:
        return list(runtime.run(None, feeds))
    except Exception as exc:
        raise ModelError(f"{what} failed: {exc}") from exc
