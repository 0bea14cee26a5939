"""The fuzzing harnesses hold on their seeds, and every crash ever found stays fixed.

``make fuzz-smoke`` fuzzes each harness for a bounded time (coverage-guided
with atheris); this replays, in the ordinary test run, the seed corpus of each
harness (synthetic, plus ``../shared`` files where present) and every input
kept under ``fuzz/regressions/<harness>/`` after the crash it caused was
fixed. The harnesses are imported without atheris instrumentation here.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
REGRESSIONS = REPO_ROOT / "fuzz" / "regressions"
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

HARNESSES = sorted(p.stem.removeprefix("fuzz_") for p in (REPO_ROOT / "fuzz").glob("fuzz_*.py"))


def _target(name: str, monkeypatch: pytest.MonkeyPatch) -> Callable[[bytes], None]:
    monkeypatch.setenv("FUZZ_ENGINE", "hypothesis")
    module = importlib.import_module(f"fuzz.fuzz_{name}")
    target: Callable[[bytes], None] = module.test_one_input
    return target


def _regressions() -> list[Path]:
    return sorted(p for p in REGRESSIONS.rglob("*") if p.is_file() and p.name != "README.md")


def test_every_harness_has_seeds() -> None:
    from fuzz.seeds import SEEDS

    assert set(SEEDS) == set(HARNESSES)


@pytest.mark.parametrize("name", HARNESSES)
def test_harness_holds_on_its_seeds(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from fuzz.seeds import SEEDS

    target = _target(name, monkeypatch)
    seeds = list(SEEDS[name]())
    assert seeds, f"{name} has no seed"
    for _, data in seeds:
        target(data)
        # The empty input and a truncated seed are the first mutations any fuzzer tries.
        target(data[: len(data) // 3])
    target(b"")


@pytest.mark.parametrize("path", _regressions(), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_regression_input_stays_fixed(path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = _target(path.parent.name, monkeypatch)
    target(path.read_bytes())


def test_csv_that_is_not_utf8_is_refused_naming_its_line(tmp_path: Path) -> None:
    """The first crash fuzzing found: a Latin-1 byte escaped as UnicodeDecodeError."""
    from facewarden.errors import InvalidInputError
    from facewarden.service.bulk import items_from_csv

    sheet = tmp_path / "people.csv"
    sheet.write_bytes(b"full_name,photo\nJos\xe9 Garc\xeda,jose.jpg\n")
    with pytest.raises(InvalidInputError, match=r"people\.csv:2: not UTF-8"):
        list(items_from_csv(sheet, lawful_basis="consent"))


def test_csv_photo_path_with_nul_is_a_skipped_row(tmp_path: Path) -> None:
    """The second: a NUL in a photo path raised ValueError while resolving it."""
    from facewarden.service.bulk import items_from_csv

    sheet = tmp_path / "people.csv"
    sheet.write_bytes(b"full_name,photo\nJane Doe,jane\x00.jpg\nJohn Roe,john.jpg\n")
    first, second = items_from_csv(sheet, lawful_basis="consent")
    assert first.record is None and first.problem == "a photo path holds NUL"
    assert second.record is not None and second.photos == ((tmp_path / "john.jpg").resolve(),)


def test_wider_ground_truth_with_an_absolute_image_path_is_refused(tmp_path: Path) -> None:
    """The third: an absolute name in a WIDER ground truth pointed outside the dataset."""
    from facewarden.errors import EvaluationError
    from facewarden.eval.wider import read_wider_gt

    truth = tmp_path / "gt.txt"
    truth.write_text("/etc/a.jpg\n1\n0 0 4 4 0 0 0 0 0 0\n")
    with pytest.raises(
        EvaluationError,
        match=r"line 1: expected an image path inside the dataset, got '/etc/a\.jpg'",
    ):
        read_wider_gt(truth)
