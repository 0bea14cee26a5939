"""The LFW pairs reader of the evaluator (``eval/lfw_pairs.parse_pairs``).

Promise: the pairs in file order, every path inside the dataset root, or an
``EvaluationError`` naming the line.
"""

from __future__ import annotations

from fuzz._scratch import scratch_dir
from fuzz.engine import fuzz_main, instrumented

with instrumented("facewarden.eval.lfw_pairs"):
    from facewarden.errors import EvaluationError
    from facewarden.eval.lfw_pairs import parse_pairs

BASE = scratch_dir("lfw")
PAIRS = BASE / "pairs.txt"
ROOT = BASE / "lfw"


def test_one_input(data: bytes) -> None:
    PAIRS.write_bytes(data)
    try:
        pairs = parse_pairs(PAIRS, ROOT)
    except EvaluationError:
        return
    for pair in pairs:
        for path in (pair.first, pair.second):
            # A name cannot climb out of the root (no "..", no separators).
            assert path.parent.parent == ROOT, path
        assert pair.first != pair.second


if __name__ == "__main__":
    fuzz_main(test_one_input)
