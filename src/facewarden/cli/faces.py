"""``detect``, ``compare`` and ``embed``: the face analysis commands."""

from __future__ import annotations

import io
import json
from pathlib import Path

import click
from tqdm import tqdm

from facewarden.match.thresholds import FMR_CHOICES
from facewarden.service.comparison import compare_images
from facewarden.types import Face
from facewarden.vision.batch import run_batch
from facewarden.vision.pipeline import Pipeline

__all__ = ["compare", "detect", "embed"]

_MODE = click.Choice(["fast", "accurate"])
_IMAGE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.command()
@click.argument("images", nargs=-1, required=True, type=_IMAGE)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per image on stdout.")
@click.option(
    "--draw",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the image with the faces drawn on it (one input image only; .jpg or .png).",
)
@click.option(
    "--mode",
    type=_MODE,
    default="fast",
    show_default=True,
    help="fast: MTCNN, the photo turned by quarter turns where no face is clear (faces of "
    "40 px and more), and where it finds none, a face filling the photo; accurate: the same, "
    "turns searched for faces of any size, then the HOG/CNN cascade.",
)
@click.option("--workers", type=click.IntRange(min=1), help="Processes (default: one per core).")
def detect(
    images: tuple[Path, ...], as_json: bool, draw: Path | None, mode: str, workers: int | None
) -> None:
    """Find the faces in IMAGES, with boxes (xyxy pixels), landmarks and quality."""
    if draw is not None:
        _check_drawing(draw, images)
    pipeline = Pipeline.from_mode(mode)
    failures = 0
    results = run_batch(pipeline, images, workers=1 if len(images) == 1 else workers, embed=False)
    for item in tqdm(results, total=len(images), unit="img", disable=len(images) < 2, leave=False):
        if item.error is not None:
            failures += 1
            click.echo(f"error: {item.error.message}", err=True)
            continue
        if as_json:
            click.echo(json.dumps({"image": item.name, "faces": [f.to_dict() for f in item.faces]}))
        else:
            click.echo(f"{item.name}: {len(item.faces)} face(s)")
            for number, face in enumerate(item.faces, start=1):
                click.echo(f"  {number}. {_describe(face)}")
    if draw is not None and failures == 0:
        from facewarden.cli.draw import draw_faces
        from facewarden.imaging import encode_jpeg

        image = pipeline.decode(images[0], name=str(images[0]))
        canvas = draw_faces(image, pipeline.run(image, embed=False))
        import numpy as np

        if draw.suffix.lower() == ".png":
            # Pixels alone, as encode_jpeg writes them: the canvas carries no metadata.
            buffer = io.BytesIO()
            canvas.save(buffer, format="PNG")
            encoded = buffer.getvalue()
        else:
            encoded = encode_jpeg(np.asarray(canvas))
        try:
            draw.write_bytes(encoded)
        except OSError as exc:
            click.echo(f"error: cannot write {draw}: {exc.strerror or exc}", err=True)
            raise SystemExit(1) from None
        click.echo(f"drawn: {draw}", err=True)
    if failures:
        raise SystemExit(1)


_DRAW_SUFFIXES = (".jpg", ".jpeg", ".png")


def _check_drawing(draw: Path, images: tuple[Path, ...]) -> None:
    """Refuse a --draw file before any work: one input, a format we write, never the input."""
    if len(images) != 1:
        raise click.UsageError("--draw takes exactly one input image")
    if draw.suffix.lower() not in _DRAW_SUFFIXES:
        raise click.UsageError(f"--draw writes .jpg, .jpeg or .png, not {draw.name!r}")
    if draw.exists() and draw.samefile(images[0]):
        raise click.UsageError(f"--draw {draw} would overwrite the input photo; name a new file")


def _describe(face: Face) -> str:
    x0, y0, x1, y1 = (round(v) for v in face.box.as_tuple())
    text = f"box=({x0},{y0},{x1},{y1}) score={face.detector_score:.2f} by {face.detector}"
    if face.quality is not None:
        verdict = (
            "usable" if face.quality.usable else "NOT usable: " + "; ".join(face.quality.reasons)
        )
        text += f" size={face.quality.face_px:.0f}px yaw={face.quality.yaw_degrees:.0f} {verdict}"
    return text


@click.command()
@click.argument("image_a", type=_IMAGE)
@click.argument("image_b", type=_IMAGE)
@click.option(
    "--fmr",
    type=click.Choice(FMR_CHOICES),
    default="1e-3",
    show_default=True,
    help="Operating point: the false match rate the threshold is calibrated for.",
)
@click.option(
    "--mode",
    type=_MODE,
    default="accurate",
    show_default=True,
    help="accurate (default for a decision on one photo each) or fast.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def compare(image_a: Path, image_b: Path, fmr: str, mode: str, as_json: bool) -> None:
    """Is the main face of IMAGE_A the same person as that of IMAGE_B?"""
    # The faces are compared even below the quality bar: the warnings say so.
    result = compare_images(Pipeline.from_mode(mode), image_a, image_b, fmr=float(fmr), force=True)
    similarity, threshold, same = result.similarity, result.threshold, result.is_match
    warnings = list(result.warnings)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "similarity": round(similarity, 4),
                    "threshold": threshold,
                    "fmr": float(fmr),
                    "same_person": same,
                    "mode": mode,
                    "warnings": warnings,
                }
            )
        )
        return
    for warning in warnings:
        click.echo(f"warning: {warning}", err=True)
    verdict = "SAME person" if same else "DIFFERENT people"
    click.echo(f"similarity {similarity:.4f}, threshold {threshold:.4f} at FMR {fmr}: {verdict}")


@click.command()
@click.argument("image", type=_IMAGE)
@click.option("--mode", type=_MODE, default="accurate", show_default=True)
def embed(image: Path, mode: str) -> None:
    """Print the embedding of each face in IMAGE as JSON (for developers and tests)."""
    pipeline = Pipeline.from_mode(mode)
    faces = pipeline.run(pipeline.decode(image, name=str(image)))
    for face in faces:
        vector = face.require_embedding()
        payload = face.to_dict() | {"embedding": [round(float(v), 6) for v in vector]}
        click.echo(json.dumps(payload))
