"""``subjects import``: bulk enrollment from a folder or a CSV, resumable.

One line ``enrolled <subject id> <source>`` is printed on stdout for each
person, right after their transaction committed (tools can rely on it as the
acknowledgement); progress, skips and the summary go to stderr. The exit
code is 0 when every source was enrolled (now or by an earlier run), 1 when
any was skipped (what was enrolled stays: fix the skipped ones and run it
again), so a script can tell a complete import from a partial one.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
from tqdm import tqdm

from facewarden.cli._common import deployment_options, open_warden
from facewarden.service.bulk import ImportEvent, items_from_csv, items_from_folder

__all__ = ["import_"]


@click.command("import")
@click.argument(
    "folder", required=False, type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@click.option(
    "--csv",
    "csv_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A CSV with a header of record fields and a 'photo' column instead.",
)
@click.option(
    "--lawful-basis",
    help="Lawful basis of every imported enrollment "
    "(required for a folder; fills empty CSV cells).",
)
@click.option(
    "--watchlist",
    "-w",
    "watchlist_refs",
    multiple=True,
    help="Put every imported subject on this watchlist (repeatable).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Accept faces below the quality bar, and a folder's photos that do not match "
    "each other (audited as forced).",
)
@click.option(
    "--allow-erased",
    is_flag=True,
    help="Enroll people erased since all the same (new consent): without it they are "
    "skipped, so a re-run cannot undo an erasure. Audited (import.allow_erased).",
)
@click.option("--workers", type=click.IntRange(min=1), help="Processes (default: one per core).")
@deployment_options
def import_(
    folder: Path | None,
    csv_file: Path | None,
    lawful_basis: str | None,
    watchlist_refs: tuple[str, ...],
    force: bool,
    allow_erased: bool,
    workers: int | None,
) -> None:
    """Enroll many people: FOLDER with one subfolder of photos per person, or --csv FILE.

    Prints `enrolled <subject id> <source>` once each person is committed. Run it
    again after an interruption: what was done is skipped, and so is a person erased
    since (unless --allow-erased). Exits 1 when any source was skipped (named with its
    reasons on stderr); what was enrolled stays.
    """
    if (folder is None) == (csv_file is None):
        raise click.UsageError("give FOLDER or --csv FILE, not both")
    if folder is not None:
        if not lawful_basis:
            raise click.UsageError("--lawful-basis is required when importing a folder")
        items = list(items_from_folder(folder, lawful_basis=lawful_basis))
    else:
        items = list(items_from_csv(csv_file or Path(), lawful_basis=lawful_basis))
    warden = open_warden()
    bar = tqdm(
        total=sum(len(i.photos) for i in items),
        unit="photo",
        file=sys.stderr,
        disable=None,
        leave=False,
    )

    def on_event(event: ImportEvent) -> None:
        if event.kind == "enrolled":
            click.echo(f"enrolled {event.subject_id} {event.source}")
            sys.stdout.flush()
        elif event.kind == "already":
            bar.write(f"already done: {event.source}", file=sys.stderr)
        else:
            bar.write(f"skipped {event.source}: {'; '.join(event.reasons)}", file=sys.stderr)

    def on_photo(done: int, total: int) -> None:
        bar.update(done - bar.n)

    try:
        summary = warden.bulk.run(
            items,
            watchlists=watchlist_refs,
            force=force,
            allow_erased=allow_erased,
            workers=workers,
            on_event=on_event,
            on_photo=on_photo,
        )
    finally:
        bar.close()
    click.echo(
        f"{summary.enrolled} enrolled ({summary.faces} faces), {summary.already} already "
        f"done, {len(summary.skipped)} skipped",
        err=True,
    )
    for event in summary.skipped:
        click.echo(f"  skipped {event.source}: {'; '.join(event.reasons)}", err=True)
    if summary.skipped:
        raise SystemExit(1)
