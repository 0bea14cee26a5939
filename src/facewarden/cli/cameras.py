"""``cameras`` (add, list, remove) and ``watch CAMERA`` (process its source)."""

from __future__ import annotations

import os
from functools import partial

import click

from facewarden.cli._common import deployment_options, echo_json, open_warden
from facewarden.service.alerts import SightingAlert, check_webhook_url
from facewarden.service.crowd import OccupancyAlert
from facewarden.service.frames import FrameProcessor, FrameResult
from facewarden.service.ingest import watch as watch_source
from facewarden.service.stream_hosts import check_stream_host, stream_targets
from facewarden.vision.people import make_people_detector
from facewarden.vision.sources import open_source

__all__ = ["cameras", "watch"]


@click.group()
def cameras() -> None:
    """Register cameras: location, watchlists checked, sensitive places."""


@cameras.command("add")
@click.argument("name")
@click.option("--location", required=True, help="A location label (north entrance).")
@click.option("--watchlist", "watchlists", multiple=True, help="A watchlist checked (repeat).")
@click.option(
    "--sensitive/--not-sensitive",
    default=None,
    help="Place of worship, clinic, shelter: counts only. Left out: as the place was (a "
    "place where a sensitive camera was stays sensitive); --not-sensitive there lifts it.",
)
@click.option("--gps", nargs=2, type=float, default=None, help="Latitude and longitude.")
@click.option("--retention-hours", type=int, default=None, help="Sighting retention here.")
@click.option(
    "--source",
    default=None,
    help="A video file (stored as an absolute path) or an rtsp:// or http(s):// URL.",
)
@click.option("--keep-thumbnails", is_flag=True, help="Keep an encrypted face crop per sighting.")
@deployment_options
def cam_add(
    name: str,
    location: str,
    watchlists: tuple[str, ...],
    sensitive: bool | None,
    gps: tuple[float, float] | None,
    retention_hours: int | None,
    source: str | None,
    keep_thumbnails: bool,
) -> None:
    """Register camera NAME; prints its id."""
    if source is not None and "://" not in source and source.strip():
        # A file named relative to here is stored whole: the server and workers
        # that read it run elsewhere (`make run` in the checkout, a service at /).
        source = os.path.abspath(source)
    camera = open_warden().cameras.add(
        name,
        location=location,
        watchlists=watchlists,
        sensitive=sensitive,
        latitude=gps[0] if gps else None,
        longitude=gps[1] if gps else None,
        retention_hours=retention_hours,
        source=source,
        keep_thumbnails=keep_thumbnails,
        role="admin",  # whoever runs the CLI holds the deployment's keys
    )
    click.echo(camera.camera_id)


@cameras.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@deployment_options
def cam_list(as_json: bool) -> None:
    """List cameras (sources redacted: kind, scheme and host only)."""
    rows = open_warden().cameras.all()
    if as_json:
        echo_json([c.to_dict() for c in rows])
        return
    for c in rows:
        flag = "sensitive (counts only)" if c.sensitive else f"watchlists={','.join(c.watchlists)}"
        # Never the full source: it may carry a password (see Camera.redacted_source).
        source = f"{c.source_kind}:{c.redacted_source}" if c.source else "-"
        click.echo(f"{c.camera_id}  {c.name}  {c.location}  {flag}  source={source}")


@cameras.command("remove")
@click.argument("camera")
@deployment_options
def cam_remove(camera: str) -> None:
    """Remove CAMERA with its sightings and crowd counts."""
    open_warden().cameras.remove(camera)
    click.echo(f"removed: {camera}")


def _webhook(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """A webhook option, checked before the camera's source is opened."""
    if value is None:
        return None
    try:
        return check_webhook_url(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.command("watch")
@click.argument("camera")
@click.option("--source", default=None, help="Override the camera's source.")
@click.option(
    "--fps-budget",
    type=click.FloatRange(min=0.1, max=60),
    default=5.0,
    show_default=True,
    help="Frames processed per second (of video time for files); the rest are skipped.",
)
@click.option("--people/--no-people", default=True, show_default=True, help="Count bodies too.")
@click.option(
    "--alert-url",
    default=None,
    callback=_webhook,
    help="POST a JSON alert here at high occupancy.",
)
@click.option("--alert-threshold", type=click.IntRange(min=1), default=50, show_default=True)
@click.option(
    "--sighting-url",
    default=None,
    callback=_webhook,
    help="POST a JSON alert (ids only) per sighting.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@deployment_options
def watch(
    camera: str,
    source: str | None,
    fps_budget: float,
    people: bool,
    alert_url: str | None,
    alert_threshold: int,
    sighting_url: str | None,
    as_json: bool,
) -> None:
    """Process CAMERA's source: track, identify, record sightings, count the crowd.

    A file is processed to its end; a stream until interrupted (Ctrl-C),
    reconnecting with backoff when it drops.
    """
    warden = open_warden()
    config = warden.settings
    row = warden.cameras.get(camera)
    uri = source or row.source
    if not uri:
        raise click.UsageError(f"camera {row.name!r} has no source; give --source")
    check_stream_host(uri, config.camera_allowed_networks)
    frames = open_source(
        uri,
        fps_budget=fps_budget,
        connect_to=partial(stream_targets, allowed=config.camera_allowed_networks),
    )
    alert = OccupancyAlert(alert_url, alert_threshold) if alert_url else None
    processor = FrameProcessor(
        warden.with_actor(f"camera:{row.name}"),
        row.camera_id,
        people=make_people_detector(config.people_detector, config.people_model_dir)
        if people
        else None,
        alert=alert,
        sighting_alert=SightingAlert(sighting_url) if sighting_url else None,
    )

    def progress(result: FrameResult) -> None:
        for sighting in result.new_sightings:
            click.echo(f"sighting {sighting} at {result.when.isoformat()}", err=True)

    try:
        summary = watch_source(
            warden, row.camera_id, frames, processor=processor, on_frame=progress
        )
    except KeyboardInterrupt:
        frames.stop()
        raise click.Abort() from None
    data = {
        "camera": row.name,
        "frames": summary.frames,
        "faces": summary.faces,
        "identifications": summary.identifications,
        "sightings": len(summary.sightings),
        "unique_visitors": summary.visitors,
        "skipped_frames": summary.skipped,
    }
    if as_json:
        echo_json(data)
    else:
        click.echo("  ".join(f"{k}={v}" for k, v in data.items()))
