"""``worker``: run this process's share of the deployment's cameras until stopped."""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime
from types import FrameType

import click

from facewarden.cli._common import deployment_options, open_warden
from facewarden.service.purge_schedule import PurgeSchedule
from facewarden.service.supervisor import IngestSupervisor, default_worker_id
from facewarden.vision.people import make_people_detector

__all__ = ["worker"]


@click.command("worker")
@click.option("--worker-id", default=None, help="Unique among live workers [default: host:pid].")
@click.option(
    "--fps",
    type=click.FloatRange(min=0.1, max=60),
    default=5.0,
    show_default=True,
    help="Frames processed per second per camera (of video time for files).",
)
@click.option(
    "--rebalance-seconds",
    type=click.FloatRange(min=0.1, max=600),
    default=2.0,
    show_default=True,
    help="How often cameras are listed and claims reviewed (the take-over bound).",
)
@click.option(
    "--retry-seconds",
    type=click.FloatRange(min=0.1),
    default=30.0,
    show_default=True,
    help="A camera that failed is started again after this.",
)
@click.option("--people/--no-people", default=True, show_default=True, help="Count bodies too.")
@click.option(
    "--realtime",
    is_flag=True,
    help="Play video files no faster than their own time, as a camera would (demos, tests).",
)
@deployment_options
def worker(
    worker_id: str | None,
    fps: float,
    rebalance_seconds: float,
    retry_seconds: float,
    people: bool,
    realtime: bool,
) -> None:
    """Run cameras until SIGTERM or Ctrl-C: on PostgreSQL, a fair share of them.

    Workers on one PostgreSQL database (on any host) claim cameras through
    it: each camera is run by one live worker at a time, and a dead
    worker's cameras are taken over within about --rebalance-seconds. On
    SQLite one worker runs every camera. Prints each claim and release, with
    its time, as it happens. Runs the retention purge too, as it starts and
    then every FACEWARDEN_PURGE_INTERVAL_MINUTES (unset: left to `facewarden
    purge`), as `facewarden serve` does.
    """
    warden = open_warden()
    config = warden.settings
    names: dict[str, str] = {}

    def name_of(camera_id: str) -> str:
        if camera_id not in names:
            try:
                names[camera_id] = warden.cameras.get(camera_id).name
            except Exception:  # removed meanwhile: the id will do
                return camera_id
        return names[camera_id]

    def told(event: str, camera_id: str) -> None:
        when = datetime.now(UTC).isoformat()
        click.echo(f"{when} {event} {camera_id} {name_of(camera_id)}")

    supervisor = IngestSupervisor(
        warden,
        worker_id=worker_id or default_worker_id(),
        fps_budget=fps,
        rebalance_seconds=rebalance_seconds,
        retry_seconds=retry_seconds,
        realtime=realtime,
        people=make_people_detector(config.people_detector, config.people_model_dir)
        if people
        else None,
        on_claim=told,
    )
    done = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        done.set()

    interval = config.purge_interval_minutes
    purges = PurgeSchedule(warden, interval * 60) if interval is not None else None
    previous = {s: signal.signal(s, on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        if purges is not None:
            purges.start()
        supervisor.start()
        click.echo(f"worker {supervisor.worker_id} running (SIGTERM or Ctrl-C stops it)", err=True)
        while not done.wait(0.5):
            pass
    finally:
        supervisor.stop()
        if purges is not None:
            purges.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    click.echo(f"worker {supervisor.worker_id} stopped", err=True)
