"""``identify`` and ``verify``: audited recognition against the registry.

``compare A B`` (in :mod:`facewarden.cli.faces`) compares two images with no
registry at all; ``verify A B`` is the same decision made by a deployment,
with its audit entry.
"""

from __future__ import annotations

from pathlib import Path

import click

from facewarden.cli._common import IMAGE, deployment_options, echo_json, open_warden
from facewarden.match.thresholds import FMR_CHOICES
from facewarden.service.recognition_results import Identification, Verification

__all__ = ["identify", "verify"]


@click.command()
@click.argument("image", type=IMAGE)
@click.option("--watchlist", "-w", required=True, help="Watchlist name or id to search.")
@click.option(
    "--top-k", type=click.IntRange(min=1), default=3, show_default=True, help="Candidates per face."
)
@click.option(
    "--names/--no-names",
    default=True,
    show_default=True,
    help="Show the names of matched subjects (an audited read).",
)
@click.option("--purpose", default="", help="Why, e.g. a case reference (for the audit log).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@deployment_options
def identify(
    image: Path, watchlist: str, top_k: int, names: bool, purpose: str, as_json: bool
) -> None:
    """Search every face in IMAGE against a watchlist. The image is never stored."""
    result = open_warden().recognition.identify(
        image, watchlist, top_k=top_k, include_names=names, purpose=purpose
    )
    if as_json:
        echo_json(result.to_dict())
    else:
        _print_identification(image, result)


def _print_identification(image: Path, result: Identification) -> None:
    click.echo(
        f"{image}: {len(result.faces)} face(s), watchlist {result.watchlist_name} "
        f"(threshold {result.threshold:.4f} at FMR {result.fmr:g})"
    )
    for number, probe in enumerate(result.faces, start=1):
        x0, y0, x1, y1 = (round(v) for v in probe.face.box.as_tuple())
        where = f"  {number}. box=({x0},{y0},{x1},{y1})"
        if not probe.usable:
            click.echo(f"{where} not searched: {'; '.join(probe.reasons)}")
            continue
        best = probe.matches[0] if probe.matches else None
        if best is None:
            top = probe.candidates[0].similarity if probe.candidates else None
            closest = "" if top is None else f" (closest similarity {top:.4f})"
            click.echo(f"{where} unknown{closest}")
        else:
            name = f" {best.display_name}" if best.display_name else ""
            click.echo(f"{where} MATCH {best.subject_id}{name} similarity {best.similarity:.4f}")
        for other in probe.candidates[1:] if best is not None else probe.candidates:
            if other.is_match:
                click.echo(
                    f"       also over the threshold: {other.subject_id} {other.similarity:.4f}"
                )


@click.command()
@click.argument("image", type=IMAGE)
@click.argument("image_b", required=False, type=IMAGE)
@click.option("--subject", "-s", "subject_id", help="Compare IMAGE with this enrolled subject.")
@click.option(
    "--fmr",
    type=click.Choice(FMR_CHOICES),
    default="1e-3",
    show_default=True,
    help="Operating point: the false match rate of the threshold.",
)
@click.option("--force", is_flag=True, help="Compare faces below the quality bar.")
@click.option("--purpose", default="", help="Why (for the audit log).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@deployment_options
def verify(
    image: Path,
    image_b: Path | None,
    subject_id: str | None,
    fmr: str,
    force: bool,
    purpose: str,
    as_json: bool,
) -> None:
    """Is IMAGE the enrolled --subject, or the same person as IMAGE_B? Exit 0 either way."""
    if (image_b is None) == (subject_id is None):
        raise click.UsageError("give IMAGE --subject SUBJECT_ID, or two images IMAGE IMAGE_B")
    recognition = open_warden().recognition
    result = (
        recognition.verify(image, subject_id, fmr=float(fmr), force=force, purpose=purpose)
        if subject_id is not None
        else recognition.verify_images(
            image, image_b or image, fmr=float(fmr), force=force, purpose=purpose
        )
    )
    if as_json:
        echo_json(result.to_dict())
    else:
        _print_verification(result)


def _print_verification(result: Verification) -> None:
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    verdict = "SAME person" if result.is_match else "DIFFERENT people"
    who = f" ({result.subject_id})" if result.subject_id else ""
    click.echo(
        f"similarity {result.similarity:.4f}, threshold {result.threshold:.4f} at FMR "
        f"{result.fmr:g}: {verdict}{who}"
    )
