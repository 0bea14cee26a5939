"""``facewarden eval``: evaluators on public benchmark formats."""

from __future__ import annotations

import json
from pathlib import Path

import click
from tqdm import tqdm

from facewarden.vision.pipeline import Pipeline

__all__ = ["eval_group"]

_MODE = click.Choice(["fast", "accurate"])
_FOLDER = click.Path(exists=True, file_okay=False, path_type=Path)


class _Progress:
    """A tqdm bar on stderr fed by (done, total) callbacks."""

    def __init__(self, unit: str) -> None:
        self._bar: tqdm | None = None
        self._unit = unit

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            self._bar = tqdm(total=total, unit=self._unit, leave=False)
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()


@click.group("eval")
def eval_group() -> None:
    """Measure accuracy on public benchmark formats."""


@eval_group.command("lfw")
@click.option(
    "--root", required=True, type=_FOLDER, help="LFW image folder (<Name>/<Name>_0001.jpg)."
)
@click.option(
    "--pairs",
    "pairs_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="pairs.txt in the official View 2 format.",
)
@click.option(
    "--mode",
    type=_MODE,
    default="accurate",
    show_default=True,
    help="accurate: CNN fallback, embeddings averaged over the chip, its mirror and 8 "
    "jittered copies; fast: the default video/API pipeline, one embedding per face.",
)
@click.option("--workers", type=click.IntRange(min=1), help="Processes (default: one per core).")
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Draw the ROC curve to this PNG file.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def lfw(
    root: Path, pairs_path: Path, mode: str, workers: int | None, plot: Path | None, as_json: bool
) -> None:
    """The LFW View 2 protocol (10 folds, threshold chosen on the other nine)."""
    from facewarden.eval.lfw import evaluate_lfw, format_report, plot_roc

    progress = _Progress("img")
    try:
        report = evaluate_lfw(
            root,
            pairs_path,
            pipeline=Pipeline.from_mode(mode),
            workers=workers,
            on_progress=progress,
        )
    finally:
        progress.close()
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else format_report(report))
    if plot is not None:
        plot_roc(report, plot)
        click.echo(f"ROC curve: {plot}", err=True)


@eval_group.command("thresholds")
@click.option(
    "--root", required=True, type=_FOLDER, help="A folder with one subfolder of photos per person."
)
@click.option("--mode", type=_MODE, default="fast", show_default=True)
@click.option("--workers", type=click.IntRange(min=1), help="Processes (default: one per core).")
def thresholds(root: Path, mode: str, workers: int | None) -> None:
    """Calibrate similarity thresholds at FMR 1e-2, 1e-3 and 1e-4 on labelled photos."""
    from facewarden.eval.calibrate import calibrate_folder

    progress = _Progress("img")
    try:
        result = calibrate_folder(
            root, Pipeline.from_mode(mode), workers=workers, on_progress=progress
        )
    finally:
        progress.close()
    click.echo(result.format())
