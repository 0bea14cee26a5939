"""The evaluators' readers of benchmark files: WIDER FACE ground truth and crowd counts
(``eval/wider.read_wider_gt``, ``eval/counting.read_counts``).

The first byte picks the reader; the rest is the file. Promise: the images (or
rows) in file order, every path relative and inside the dataset, or an
``EvaluationError`` naming the line.
"""

from __future__ import annotations

from pathlib import Path

from fuzz._scratch import scratch_dir
from fuzz.engine import fuzz_main, instrumented

with instrumented("facewarden.eval.wider", "facewarden.eval.counting", "csv"):
    import numpy as np

    from facewarden.errors import EvaluationError
    from facewarden.eval.counting import read_counts
    from facewarden.eval.wider import read_wider_gt

BASE = scratch_dir("eval")


def _inside(name: str) -> bool:
    path = Path(name)
    return not path.is_absolute() and ".." not in path.parts


def test_one_input(data: bytes) -> None:
    wider, rest = (data[:1] != b"c"), data[1:]
    path = BASE / ("gt.txt" if wider else "counts.csv")
    path.write_bytes(rest)
    try:
        if wider:
            images = read_wider_gt(path)
        else:
            rows = read_counts(path)
    except EvaluationError:
        return
    if wider:
        assert images and len({i.name for i in images}) == len(images)
        for image in images:
            assert _inside(image.name), image.name
            assert image.boxes.shape == (len(image.valid), 4)
            assert np.isfinite(image.boxes).all() and (image.widths >= 0).all()
    else:
        assert rows and all(_inside(name) and count >= 0 for name, count in rows)


if __name__ == "__main__":
    fuzz_main(test_one_input)
