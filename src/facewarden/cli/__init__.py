"""The ``facewarden`` command line: parse, call the library, print.

Exit codes: 0 success, 1 a facewarden error or a path the system refuses
(one line on stderr), 2 bad usage or configuration.
"""

from __future__ import annotations

import logging
from typing import Any

import click

from facewarden.cli.access import api_keys
from facewarden.cli.admin import (
    audit,
    backup,
    check,
    keys,
    processing_report,
    purge,
    restore,
)
from facewarden.cli.cameras import cameras, watch
from facewarden.cli.demo import demo
from facewarden.cli.evaluate import eval_group
from facewarden.cli.faces import compare, detect, embed
from facewarden.cli.recognize import identify, verify
from facewarden.cli.registry import init, subjects
from facewarden.cli.serve import serve
from facewarden.cli.watchlists import watchlists
from facewarden.cli.worker import worker
from facewarden.errors import FacewardenError

__all__ = ["cli", "main"]


class _Group(click.Group):
    """A group that turns facewarden and operating-system errors into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except FacewardenError as exc:
            click.echo(f"error: {exc.message}", err=True)
            ctx.exit(exc.exit_code)
        except OSError as exc:
            # A path the user named that the system refuses (a name too long, a
            # folder that may not be searched, a full disk): its reason in one
            # line, as for facewarden's own errors, never a traceback.
            named = f"{exc.filename}: " if exc.filename else ""
            click.echo(f"error: {named}{exc.strerror or exc}", err=True)
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="facewarden")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def cli(verbose: int) -> None:
    """facewarden: face detection, verification and identification, safe by construction."""
    level = logging.WARNING - 10 * min(verbose, 2)
    # Debug output is facewarden's own: a library's debug log can print what
    # it parses (Pillow prints the EXIF text of a probe photo), so others
    # stay at INFO at most, and Pillow at WARNING.
    logging.basicConfig(
        level=max(level, logging.INFO), format="%(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("facewarden").setLevel(level)
    logging.getLogger("PIL").setLevel(logging.WARNING)
    # The multipart parser warns about every malformed upload, which the server
    # answers with a 400: a client's mistake, and a way for anyone to fill the log.
    logging.getLogger("python_multipart").setLevel(logging.ERROR)


cli.add_command(detect)
cli.add_command(compare)
cli.add_command(embed)
cli.add_command(eval_group)
cli.add_command(demo)
cli.add_command(init)
cli.add_command(subjects)
cli.add_command(watchlists)
cli.add_command(identify)
cli.add_command(verify)
cli.add_command(audit)
cli.add_command(keys)
cli.add_command(api_keys)
cli.add_command(purge)
cli.add_command(processing_report)
cli.add_command(check)
cli.add_command(backup)
cli.add_command(restore)
cli.add_command(cameras)
cli.add_command(watch)
cli.add_command(serve)
cli.add_command(worker)


def main() -> None:
    """Console-script entry point."""
    cli.main(prog_name="facewarden")
