"""What the registry commands share: where the deployment is, who acts, how to print."""

from __future__ import annotations

import functools
import getpass
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from facewarden.config import Settings
from facewarden.errors import ConfigError
from facewarden.service.warden import Warden

__all__ = [
    "IMAGE",
    "cli_actor",
    "deployment_options",
    "echo_json",
    "open_warden",
    "settings",
    "with_embedded_postgres",
]

F = TypeVar("F", bound=Callable[..., Any])

IMAGE = click.Path(exists=True, dir_okay=False, path_type=Path)


def deployment_options(command: F) -> F:
    """Add ``--data-dir`` and ``--key-dir`` (defaults from ``FACEWARDEN_*``) to a command."""

    @click.option(
        "--key-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Key directory, never inside the data directory [FACEWARDEN_KEY_DIR; default: "
        "~/.config/facewarden/keys/<data dir name>-<hash>].",
    )
    @click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Data directory [FACEWARDEN_DATA_DIR; default: ./facewarden-data].",
    )
    @functools.wraps(command)
    def wrapper(*args: Any, data_dir: Path | None, key_dir: Path | None, **kwargs: Any) -> Any:
        overrides: dict[str, object] = {}
        if data_dir is not None:
            overrides["data_dir"] = data_dir
        if key_dir is not None:
            overrides["key_dir"] = key_dir
        click.get_current_context().meta["facewarden.settings"] = Settings.load(**overrides)
        return command(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def cli_actor() -> str:
    """``cli:<os user>``: who the audit log names for a command-line action."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (containers)
        user = f"uid{os.getuid()}"
    return f"cli:{user}"[:128]


def settings() -> Settings:
    """The settings :func:`deployment_options` loaded for the running command."""
    loaded = click.get_current_context().meta.get("facewarden.settings")
    if not isinstance(loaded, Settings):
        raise RuntimeError("the command lacks @deployment_options")
    return loaded


def with_embedded_postgres(config: Settings, *, share: bool) -> Settings:
    """``config`` with the URL of the embedded PostgreSQL when it asks for one.

    With ``FACEWARDEN_POSTGRES=embedded`` the deployment's own server (in
    ``<data dir>/postgres``) is started, and stopped when the running command
    ends; with ``share``, one that ``facewarden serve`` runs is used as it is.

    Raises:
        ConfigError: ``FACEWARDEN_DATABASE_URL`` is set too.
        ConflictError: another process runs it (and not ``share``).
    """
    if config.postgres != "embedded":
        return config
    if config.database_url is not None:
        raise ConfigError(
            "FACEWARDEN_POSTGRES=embedded runs facewarden's own PostgreSQL: unset "
            "FACEWARDEN_DATABASE_URL, or set FACEWARDEN_POSTGRES=off to use that server"
        )
    from facewarden.store.pg_local import LocalPostgres

    local = LocalPostgres(config.data_dir)
    # Registered before the deployment's own close callback, so it runs after it.
    click.get_current_context().call_on_close(local.stop)
    url = local.start(share=share)
    return config.model_copy(update={"database_url": url})


def open_warden(*, create: bool = False) -> Warden:
    """Open the deployment for the running command, acting as the OS user; closed at exit."""
    config = with_embedded_postgres(settings(), share=True)
    warden = Warden.open(config, actor=cli_actor(), create=create)
    click.get_current_context().call_on_close(warden.close)
    return warden


def echo_json(data: object) -> None:
    """Print one JSON document on stdout."""
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
