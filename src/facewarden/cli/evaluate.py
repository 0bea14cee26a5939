"""``facewarden eval``: evaluators on public benchmark formats."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import click
from tqdm import tqdm

from facewarden.vision.detect import make_detector
from facewarden.vision.people import (
    DEFAULT_PEOPLE_DETECTOR,
    PEOPLE_DETECTORS,
    make_people_detector,
)
from facewarden.vision.pipeline import Pipeline

__all__ = ["eval_group"]

_MODE = click.Choice(["fast", "accurate"])
_FOLDER = click.Path(exists=True, file_okay=False, path_type=Path)


def _plot_path(_ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path | None:
    """``--plot``, checked before an evaluation that can take minutes, not after it."""
    if value is None:
        return None
    if value.is_dir():
        raise click.BadParameter(f"{value} is a folder; give a file name")
    if not value.parent.is_dir():
        raise click.BadParameter(f"there is no folder {value.parent} to write {value.name} in")
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise click.BadParameter(
            "plotting needs matplotlib: pip install 'facewarden[plot]'"
        ) from None
    formats = FigureCanvasAgg(Figure()).get_supported_filetypes()
    if value.suffix.lower().lstrip(".") not in formats:
        raise click.BadParameter(
            f"cannot draw {value.suffix or 'a file without an extension'}; "
            f"use one of: {', '.join('.' + f for f in sorted(formats))}"
        )
    return value


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
    help="accurate: the thorough detector, each embedding averaged over the chip, its "
    "mirror and 8 jittered copies; fast: the default video/API pipeline, chip and mirror.",
)
@click.option("--workers", type=click.IntRange(min=1), help="Processes (default: one per core).")
@click.option(
    "--plot",
    type=click.Path(path_type=Path),
    callback=_plot_path,
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


_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@eval_group.command("detection")
@click.option("--gt", "gt_path", required=True, type=_FILE, help="WIDER FACE ground-truth .txt.")
@click.option(
    "--images", required=True, type=_FOLDER, help="The folder the ground truth's paths start in."
)
@click.option("--mode", type=_MODE, default="fast", show_default=True, help="The pipeline preset.")
@click.option(
    "--detector",
    "detector_name",
    help="Score this detector preset instead of the mode's (e.g. hog-upsample: "
    "face_recognition's default).",
)
@click.option("--workers", type=click.IntRange(min=1), help="Processes (default: one per core).")
@click.option(
    "--plot",
    type=click.Path(path_type=Path),
    callback=_plot_path,
    help="Draw the precision-recall curve (faces >= 20 px) to this PNG file.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def detection(
    gt_path: Path,
    images: Path,
    mode: str,
    detector_name: str | None,
    workers: int | None,
    plot: Path | None,
    as_json: bool,
) -> None:
    """Face detection on WIDER FACE boxes: recall per size, AP50, false positives per image."""
    from facewarden.eval.detection import evaluate_detection
    from facewarden.eval.wider import format_report, plot_precision_recall, read_wider_gt

    pipeline = Pipeline.from_mode(mode)
    if detector_name is not None:
        pipeline = dataclasses.replace(pipeline, detector=make_detector(detector_name))
    label = detector_name or f"{mode} mode"
    progress = _Progress("img")
    try:
        report = evaluate_detection(
            read_wider_gt(gt_path), images, pipeline, workers=workers, on_progress=progress
        )
    finally:
        progress.close()
    report.label = label
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else format_report(report))
    if plot is not None:
        plot_precision_recall([report], plot)
        click.echo(f"precision-recall curve: {plot}", err=True)


@eval_group.command("counting")
@click.option("--root", required=True, type=_FOLDER, help="The folder the CSV's paths start in.")
@click.option("--counts", "counts_path", required=True, type=_FILE, help="CSV: image,count.")
@click.option("--mode", type=_MODE, default="fast", show_default=True, help="The pipeline preset.")
@click.option(
    "--detector",
    "detector_name",
    help="Count with this face detector preset instead of the mode's.",
)
@click.option(
    "--baseline/--no-baseline",
    default=True,
    show_default=True,
    help="Also count face_recognition's faces on the same images (dlib HOG, upsampled once).",
)
@click.option(
    "--people",
    "people_name",
    type=click.Choice(PEOPLE_DETECTORS),
    default=DEFAULT_PEOPLE_DETECTOR,
    envvar="FACEWARDEN_PEOPLE_DETECTOR",
    show_default=True,
    help="The body detector: auto (NanoDet-m when its files were fetched by "
    "scripts/fetch_people_model.py, else HOG with a notice), nanodet or OpenCV's hog.",
)
@click.option(
    "--people-model-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="FACEWARDEN_PEOPLE_MODEL_DIR",
    default=None,
    help="Where NanoDet-m's files are (default: the fetched copy in the user's cache).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def counting(
    root: Path,
    counts_path: Path,
    mode: str,
    detector_name: str | None,
    baseline: bool,
    people_name: str,
    people_model_dir: Path | None,
    as_json: bool,
) -> None:
    """People counted per image against true counts: mean absolute error, totals.

    Beside them, face_recognition's count on the same images (its faces).
    """
    from facewarden.eval.counting import (
        FACE_RECOGNITION,
        evaluate_counting,
        format_counting,
        read_counts,
    )

    pipeline = Pipeline.from_mode(mode)
    if detector_name is not None:
        pipeline = dataclasses.replace(pipeline, detector=make_detector(detector_name))
    progress = _Progress("img")
    try:
        report = evaluate_counting(
            read_counts(counts_path),
            root,
            pipeline,
            people=make_people_detector(people_name, people_model_dir),
            baseline=FACE_RECOGNITION if baseline else None,
            on_progress=progress,
        )
    finally:
        progress.close()
    report.label = detector_name or f"{mode} mode"
    click.echo(json.dumps(report.to_dict(), indent=2) if as_json else format_counting(report))
