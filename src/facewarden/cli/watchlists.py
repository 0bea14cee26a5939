"""``watchlists``: create them (with purpose and lawful basis) and fill them."""

from __future__ import annotations

import click

from facewarden.cli._common import deployment_options, echo_json, open_warden
from facewarden.match.thresholds import FMR_CHOICES

__all__ = ["watchlists"]


@click.group()
def watchlists() -> None:
    """Create watchlists and put subjects on them."""


@watchlists.command("create")
@click.argument("name")
@click.option("--purpose", required=True, help="Why it exists (shown in every audit entry).")
@click.option("--lawful-basis", required=True, help="The legal ground for the processing.")
@click.option(
    "--fmr",
    type=click.Choice(FMR_CHOICES),
    default="1e-3",
    show_default=True,
    help="Operating point: the false match rate of its threshold.",
)
@deployment_options
def wl_create(name: str, purpose: str, lawful_basis: str, fmr: str) -> None:
    """Create watchlist NAME; prints its id."""
    wl = open_warden().watchlists.create(
        name, purpose=purpose, lawful_basis=lawful_basis, fmr=float(fmr)
    )
    click.echo(wl.watchlist_id)


@watchlists.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@deployment_options
def wl_list(as_json: bool) -> None:
    """List watchlists with their purpose, lawful basis, FMR and size."""
    rows = open_warden().watchlists.all()
    if as_json:
        echo_json([w.to_dict() for w in rows])
        return
    for w in rows:
        click.echo(
            f"{w.watchlist_id}  {w.name}  members={w.members} fmr={w.fmr:g}  "
            f"purpose: {w.purpose}  lawful basis: {w.lawful_basis}"
        )


@watchlists.command("add")
@click.argument("watchlist")
@click.argument("subject_ids", nargs=-1, required=True)
@deployment_options
def wl_add(watchlist: str, subject_ids: tuple[str, ...]) -> None:
    """Put SUBJECT_IDS on WATCHLIST."""
    lists = open_warden().watchlists
    for subject_id in subject_ids:
        added = lists.add(watchlist, subject_id)
        click.echo(f"{'added' if added else 'already on it'}: {subject_id}")


@watchlists.command("remove")
@click.argument("watchlist")
@click.argument("subject_ids", nargs=-1, required=True)
@deployment_options
def wl_remove(watchlist: str, subject_ids: tuple[str, ...]) -> None:
    """Take SUBJECT_IDS off WATCHLIST."""
    lists = open_warden().watchlists
    for subject_id in subject_ids:
        removed = lists.remove(watchlist, subject_id)
        click.echo(f"{'removed' if removed else 'not on it'}: {subject_id}")
