"""Many images through one pipeline on every core: :func:`run_batch` and its :class:`BatchItem`.

Worker processes (spawned, one per core by default) each load the models
once and take chunks of inputs; each chunk's faces are embedded in one batch
(:meth:`~facewarden.vision.pipeline.Pipeline.run_many`). Results come back
in input order, and an input that fails yields its error instead of ending
the run. A worker ends with the process that started it.
"""

from __future__ import annotations

import ctypes
import itertools
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path

from facewarden.errors import ConfigError, FacewardenError, ModelError
from facewarden.types import Face
from facewarden.vision.pipeline import Embed, Pipeline, RGBImage, Source

__all__ = ["BatchItem", "run_batch"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BatchItem:
    """The outcome for one input of :func:`run_batch`: faces, or the error it raised."""

    index: int
    name: str
    faces: list[Face] = field(default_factory=list)
    error: FacewardenError | None = None
    image_shape: tuple[int, ...] = ()


_worker_pipeline: Pipeline | None = None


def _init_worker(pipeline: Pipeline, started: Synchronized[int]) -> None:
    global _worker_pipeline  # noqa: PLW0603 - one pipeline per worker process, set once
    _worker_pipeline = pipeline
    # Reached only once the spawned process has imported the caller's main
    # module again: the parent tells "could not start" from "died while working".
    started.value = 1
    _die_with_parent()
    # One worker per core already: OpenCV's own thread pool (the pyramid's and
    # the crops' resizing) would only make the workers compete for the cores,
    # as ONNX Runtime's sessions would with more than their one thread.
    import cv2

    cv2.setNumThreads(1)


def _die_with_parent() -> None:
    """End this worker when the process that started it dies, even by SIGKILL.

    Otherwise a killed ``subjects import`` leaves its workers behind, idle
    with the models loaded. Linux tells us at once (``PR_SET_PDEATHSIG``);
    elsewhere a watcher thread notices the new parent within a second.
    """
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)
        return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _process(pipeline: Pipeline, index: int, source: Source, embed: Embed) -> BatchItem:
    name = _name(index, source)
    try:
        image = pipeline.decode(source, name=name)
        faces = pipeline.run(image, embed=embed)
    except FacewardenError as exc:
        return BatchItem(index, name, error=exc)
    except RuntimeError as exc:
        # dlib reports its own failures as RuntimeError (the ONNX backends
        # raise ModelError, caught above); one odd image must not end a batch.
        logger.exception("dlib failed on %s", name)
        return BatchItem(index, name, error=ModelError(f"{name}: the models failed: {exc}"))
    return BatchItem(index, name, faces, image_shape=image.shape)


def _process_chunk(pipeline: Pipeline, chunk: list[tuple[int, Source, Embed]]) -> list[BatchItem]:
    """:func:`_process` on each input of ``chunk``, with one embedding batch for all of them.

    Images are decoded one at a time as detection reaches them (only their
    faces' chips wait for the batch). If running them together fails, each
    input is run on its own, so that the error names it and the others keep
    their faces.
    """
    items: dict[int, BatchItem] = {}
    decoded: list[tuple[int, str, tuple[int, ...]]] = []

    def images() -> Iterator[RGBImage]:
        for index, source, _ in chunk:
            name = _name(index, source)
            try:
                image = pipeline.decode(source, name=name)
            except FacewardenError as exc:
                items[index] = BatchItem(index, name, error=exc)
                continue
            decoded.append((index, name, image.shape))
            yield image

    try:
        # run_batch gives every input of a run the same ``embed``.
        found = pipeline.run_many(images(), embed=chunk[0][2])
    except (FacewardenError, RuntimeError):
        return [_process(pipeline, *task) for task in chunk]
    for (index, name, shape), faces in zip(decoded, found, strict=True):
        items[index] = BatchItem(index, name, faces, image_shape=shape)
    return [items[index] for index, _, _ in chunk]


def _name(index: int, source: Source) -> str:
    return str(source) if isinstance(source, str | os.PathLike) else f"#{index}"


def _work(chunk: list[tuple[int, Source, Embed]]) -> list[BatchItem]:
    if _worker_pipeline is None:
        raise RuntimeError("batch worker used before its initializer ran")
    return _process_chunk(_worker_pipeline, chunk)


def run_batch(
    pipeline: Pipeline,
    sources: Iterable[Source],
    *,
    workers: int | None = None,
    embed: Embed = True,
    chunksize: int = 4,
) -> Iterator[BatchItem]:
    """Run ``pipeline`` over many images, in input order, using every core.

    Each worker process decodes its own inputs and loads the models once. An
    input that fails (not an image, too large) yields a :class:`BatchItem`
    with its error; the run goes on.

    Args:
        pipeline: what to run on each image.
        sources: paths, bytes or RGB arrays.
        workers: processes to use; ``None`` means one per available core, 1 runs in-process.
        embed: embed every face (True), none (False: detection and quality
            only), or those a module-level predicate chooses (it goes to the
            worker processes by name), such as :func:`is_usable`.
        chunksize: inputs handed to a worker at a time.

    Raises:
        FacewardenError: a worker process died (killed, or crashed in native
            code); the items yielded before it stand, the rest are not run.
    """
    if workers is None:
        workers = len(os.sched_getaffinity(0))
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    tasks = (
        (i, Path(s) if isinstance(s, os.PathLike) else s, embed) for i, s in enumerate(sources)
    )
    if workers == 1:
        for chunk in _chunks(tasks, chunksize):
            yield from _process_chunk(pipeline, chunk)
        return
    # spawn, not fork: dlib and numpy threads do not survive a fork safely.
    # An executor, not a Pool: a worker that dies raises BrokenProcessPool here
    # instead of being replaced forever while the caller hangs.
    context = multiprocessing.get_context("spawn")
    started: Synchronized[int] = context.Value("b", 0)
    done = 0
    try:
        with ProcessPoolExecutor(
            workers, mp_context=context, initializer=_init_worker, initargs=(pipeline, started)
        ) as executor:
            # A bounded window of chunks in flight keeps memory flat on huge inputs
            # while results still come back in input order.
            window: deque[Future[list[BatchItem]]] = deque()
            for chunk in _chunks(tasks, chunksize):
                window.append(executor.submit(_work, chunk))
                if len(window) >= workers * 4:
                    for item in window.popleft().result():
                        done += 1
                        yield item
            while window:
                for item in window.popleft().result():
                    done += 1
                    yield item
    except BrokenProcessPool:
        if not started.value:
            # Spawned workers import the main module again; a script that calls
            # run_batch at its top level calls it there too, and Python refuses.
            raise FacewardenError(
                "the worker processes could not start: a script that calls run_batch "
                "must call it under `if __name__ == '__main__':` (each worker imports "
                "the script again; see the error above), or pass workers=1"
            ) from None
        # Killed from outside (the kernel's OOM killer, say) or crashed in
        # native code: a person gets one line, not the executor's stack trace.
        raise FacewardenError(
            f"a worker process ended abruptly (killed, perhaps for lack of memory) after "
            f"{done} of the images; the rest were not processed: run again, with fewer "
            "workers if memory is short"
        ) from None


def _chunks(
    tasks: Iterable[tuple[int, Source, Embed]], size: int
) -> Iterator[list[tuple[int, Source, Embed]]]:
    iterator = iter(tasks)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk
