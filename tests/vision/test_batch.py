"""Many images through worker processes: input order, errors per input, results as in-process."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import signal
import subprocess
import sys
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from facewarden.errors import FacewardenError, ImageError, ModelError
from facewarden.types import Face
from facewarden.vision.batch import run_batch
from facewarden.vision.detect import Detector
from facewarden.vision.pipeline import Pipeline


def test_run_batch_in_workers_matches_in_process(faces_dir: Path, tmp_path: Path) -> None:
    folder = faces_dir / "face_recognition" / "tests" / "test_images"
    bad = tmp_path / "notes.jpg"
    bad.write_text("not an image")
    sources = [folder / "obama.jpg", bad, folder / "biden.jpg"]
    pipeline = Pipeline.from_mode("fast")
    parallel = list(run_batch(pipeline, sources, workers=2, chunksize=1))
    serial = list(run_batch(pipeline, sources, workers=1))
    assert [i.index for i in parallel] == [0, 1, 2]
    assert isinstance(parallel[1].error, ImageError) and not parallel[1].faces
    for p, s in zip(parallel, serial, strict=True):
        assert len(p.faces) == len(s.faces)
        for fp, fs in zip(p.faces, s.faces, strict=True):
            assert np.allclose(fp.require_embedding(), fs.require_embedding(), atol=1e-6)


@dataclass(frozen=True)
class _FailsOnBlank:
    """The real detector, except that an all-black image fails as a broken model would."""

    inner: Detector
    name: str = "fails-on-blank"

    def detect(self, image: np.ndarray) -> list[Face]:
        if not image.any():
            raise ModelError("the detector failed")
        return self.inner.detect(image)


def test_a_failing_image_of_a_chunk_costs_the_others_nothing(faces_dir: Path) -> None:
    folder = faces_dir / "face_recognition" / "tests" / "test_images"
    pipeline = dataclasses.replace(
        Pipeline.from_mode("fast"), detector=_FailsOnBlank(Pipeline.from_mode("fast").detector)
    )
    sources = [folder / "obama.jpg", np.zeros((64, 64, 3), np.uint8), folder / "biden.jpg"]
    items = list(run_batch(pipeline, sources, workers=1, chunksize=3))
    assert [i.index for i in items] == [0, 1, 2]
    assert isinstance(items[1].error, ModelError) and "detector failed" in str(items[1].error)
    assert items[0].faces and items[2].faces and items[0].error is None


def test_a_worker_killed_mid_run_ends_it_with_a_facewarden_error(faces_dir: Path) -> None:
    # Found by hand: a worker killed mid-run (the kernel's OOM killer, a
    # crash in a native decoder) ended `facewarden detect` and `subjects
    # import` with BrokenProcessPool's stack trace instead of one line.
    folder = faces_dir / "face_recognition" / "tests" / "test_images"
    sources = [folder / "obama.jpg", folder / "biden.jpg"] * 20
    results = run_batch(Pipeline.from_mode("fast"), sources, workers=2, chunksize=1, embed=False)
    done = [next(results)]
    workers = multiprocessing.active_children()
    assert workers, "run_batch started no worker process"
    os.kill(workers[0].pid or 0, signal.SIGKILL)
    with pytest.raises(FacewardenError) as raised:
        done.extend(results)
    assert not isinstance(raised.value, BrokenProcessPool)
    assert raised.value.exit_code == 1
    assert "worker process" in raised.value.message
    assert f"after {len(done)} of the images" in raised.value.message


def test_a_script_that_starts_workers_unguarded_is_told_the_idiom_not_oom(
    faces_dir: Path, tmp_path: Path
) -> None:
    # Found by hand, writing the README's run_batch as a plain script: the spawned
    # workers import the script again, reach run_batch while starting, and die;
    # the run then said a worker was "killed, perhaps for lack of memory".
    photo = faces_dir / "face_recognition" / "tests" / "test_images" / "obama.jpg"
    script = tmp_path / "batch_script.py"
    script.write_text(
        "from facewarden.vision import Pipeline, run_batch\n"
        f"for item in run_batch(Pipeline.from_mode('fast'), [{str(photo)!r}] * 2, workers=2):\n"
        "    print(item.name)\n"
    )
    ran = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=300, check=False
    )
    assert ran.returncode == 1 and ran.stdout == ""
    last = ran.stderr.strip().splitlines()[-1]
    assert "could not start" in last and "if __name__ == '__main__':" in last
    assert "memory" not in last
