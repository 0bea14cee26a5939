"""``facewarden serve``: the HTTP server, closed by default (SECURITY.md promises 1 and 2).

It binds 127.0.0.1. Any other address (``0.0.0.0``, a LAN address, even
another loopback address) is refused with exit code 2 unless TLS is
configured (certificate and key) and an admin exists. The first start
creates the admin with a random password and an admin API key and prints
them once; nothing has a default secret.

``--postgres embedded`` (``FACEWARDEN_POSTGRES=embedded``) runs the
deployment on a private PostgreSQL whose cluster lives in the data
directory (:mod:`facewarden.store.pg_local`): started before the
deployment opens, stopped after it closes, also on SIGTERM and Ctrl-C.
"""

from __future__ import annotations

import errno
import logging
import signal
import socket
import ssl
import stat
from pathlib import Path
from types import FrameType
from typing import Any

import click

from facewarden.cli._common import deployment_options, settings, with_embedded_postgres
from facewarden.config import Settings
from facewarden.service.access import Bootstrap
from facewarden.service.supervisor import IngestSupervisor
from facewarden.service.warden import Warden
from facewarden.vision.people import BodyDetector, people_detector_for

__all__ = ["check_exposure", "serve"]

_LOCAL_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


def check_exposure(settings: Settings, *, admin_exists: bool | None) -> str | None:
    """Why the server may not listen where ``settings`` say, or None when it may.

    Args:
        settings: host, TLS certificate and key.
        admin_exists: whether an enabled admin exists (None: not known yet).
    """
    if settings.tls:
        # Checked wherever the server listens (127.0.0.1 too), before uvicorn
        # loads them: it ends with a traceback on files it cannot use.
        problem = _tls_problem(settings.tls_cert, settings.tls_key)
        if problem is not None:
            return problem
    if settings.host in _LOCAL_HOSTS:
        return None
    if not settings.tls:
        return (
            f"refusing to listen on {settings.host}: only 127.0.0.1 is served without TLS. "
            "Configure FACEWARDEN_TLS_CERT and FACEWARDEN_TLS_KEY (or --tls-cert/--tls-key) "
            "and make sure an admin exists (the first start on 127.0.0.1 creates one)"
        )
    if admin_exists is False:
        return (
            f"refusing to listen on {settings.host}: no admin exists yet. Start "
            "`facewarden serve` once on 127.0.0.1 (it creates the admin and prints the "
            "credentials once), then start it on this address"
        )
    return None


def _tls_problem(cert: Path | None, key: Path | None) -> str | None:
    """Why ``cert`` and ``key`` cannot serve HTTPS, or None when they can."""
    if cert is None or not cert.is_file():
        return f"the TLS certificate {cert} is not a readable file"
    if key is None or not key.is_file():
        return f"the TLS key {key} is not a readable file"
    if key.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        return f"the TLS key {key} is readable by others; run `chmod 600 {key}`"
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        # An encrypted key gets an empty password (refused), never a prompt.
        context.load_cert_chain(cert, key, password=lambda: b"")
    except (ssl.SSLError, OSError, ValueError) as exc:
        return (
            f"the TLS certificate {cert} and key {key} cannot be used ({exc}): give the "
            "PEM certificate (with its chain) and its own unencrypted PEM private key"
        )
    return None


def _can_listen(host: str, port: int) -> bool:
    """Whether ``host:port`` can be bound now, as uvicorn binds it (checked before anything
    is opened, so a port in use fails fast instead of after the deployment has started)."""
    try:
        addresses = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except OSError:
        return True  # not an address this check understands: uvicorn says what is wrong
    family, kind, proto, _, address = addresses[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as exc:
            return exc.errno != errno.EADDRINUSE  # others (no such address...): uvicorn says
    return True


def _refuse(reason: str) -> None:
    click.echo(f"error: {reason}", err=True)
    raise SystemExit(2)


def _exit_on_sigterm(signum: int, frame: FrameType | None) -> None:
    # Unwinds like Ctrl-C does, so that the deployment is closed and an
    # embedded PostgreSQL stopped (click's close callbacks run on the way out).
    raise SystemExit(0)


def _print_bootstrap(boot: Bootstrap) -> None:
    click.echo(
        "\nFirst start: an admin was created. These credentials are shown ONCE and "
        "cannot be shown again;\nstore them in a password manager now.\n"
        f"  username: {boot.username}\n"
        f"  password: {boot.password}\n"
        f"  API key:  {boot.api_key}\n"
    )


def _run(app: Any, config: Settings) -> None:
    import uvicorn

    from facewarden.api.http_connections import guarded_h11
    from facewarden.api.security import MAX_HEAD_BYTES

    server_config = uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        ssl_certfile=str(config.tls_cert) if config.tls else None,
        ssl_keyfile=str(config.tls_key) if config.tls else None,
        timeout_keep_alive=config.keep_alive_seconds,
        limit_concurrency=config.max_connections,
        # Connections waiting for a head do not count against max_connections, and
        # the head is due within the read timeout: idle sockets cannot shut others out.
        http=guarded_h11(head_timeout=config.read_timeout_seconds, uncapped=config.trusted_proxies),
        h11_max_incomplete_event_size=MAX_HEAD_BYTES,
        # Request lines carry paths, and a CompreFace subject name in a path
        # is personal data: no access log. Errors are logged by the app.
        access_log=False,
        # X-Forwarded-For names the client (the address sign-in lockouts count
        # by) only when it comes from a configured proxy: otherwise a client
        # could pick its own address, and behind an unconfigured proxy every
        # client would be one address that any stranger could lock out.
        proxy_headers=bool(config.trusted_proxies),
        forwarded_allow_ips=list(config.trusted_proxies),
        server_header=False,
        ws="none",
        lifespan="on",
        log_level="info",
    )
    try:
        uvicorn.Server(server_config).run()
    except KeyboardInterrupt:
        # uvicorn shuts down cleanly on Ctrl-C, then raises the signal again for
        # whoever runs it: the shutdown is done, so end quietly (exit 0, no
        # "Aborted!" from click, and `make run` prints no error for it).
        logging.getLogger(__name__).info("stopped by Ctrl-C")


@click.command()
@click.option("--host", help="Address to bind [FACEWARDEN_HOST; default: 127.0.0.1].")
@click.option("--port", type=click.IntRange(1, 65535), help="Port [FACEWARDEN_PORT; 8000].")
@click.option(
    "--tls-cert",
    type=click.Path(dir_okay=False, path_type=Path),
    help="PEM certificate for HTTPS [FACEWARDEN_TLS_CERT].",
)
@click.option(
    "--tls-key",
    type=click.Path(dir_okay=False, path_type=Path),
    help="PEM private key for HTTPS [FACEWARDEN_TLS_KEY].",
)
@click.option("--init", is_flag=True, help="Create the deployment first if it does not exist.")
@click.option(
    "--postgres",
    type=click.Choice(["off", "embedded"]),
    help="embedded: run a private PostgreSQL whose cluster lives in <data dir>/postgres "
    "(Unix socket only), stopped on exit [FACEWARDEN_POSTGRES; off].",
)
@click.option(
    "--ingest/--no-ingest",
    default=None,
    help="Also run the cameras' sources (this server's share of them) [FACEWARDEN_INGEST; on].",
)
@deployment_options
def serve(
    host: str | None,
    port: int | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    init: bool,
    postgres: str | None,
    ingest: bool | None,
) -> None:
    """Serve the API and the operator console (127.0.0.1 unless TLS and an admin are set up)."""
    base = settings()
    overrides: dict[str, object] = {"data_dir": base.data_dir, "key_dir": base.key_dir}
    for name, value in (
        ("host", host),
        ("port", port),
        ("tls_cert", tls_cert),
        ("tls_key", tls_key),
        ("postgres", postgres),
        ("ingest", ingest),
    ):
        if value is not None:
            overrides[name] = value
    config = Settings.load(**overrides)
    reason = check_exposure(config, admin_exists=None)
    if reason is not None:
        _refuse(reason)
    if not _can_listen(config.host, config.port):
        _refuse(
            f"{config.host}:{config.port} is in use (another facewarden serve?); "
            "choose another with --port or FACEWARDEN_PORT"
        )
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    config = with_embedded_postgres(config, share=False)
    warden = Warden.open(config, actor="system:server", create=init)
    click.get_current_context().call_on_close(warden.close)
    reason = check_exposure(config, admin_exists=warden.access.has_admin())
    if reason is not None:
        _refuse(reason)
    boot = warden.access.bootstrap()
    if boot is not None:
        _print_bootstrap(boot)

    from facewarden.api import create_app

    # Built once, for pushed frames and the cameras alike (one hash check, one notice).
    people = people_detector_for(config)
    supervisor = _start_ingest(warden, config, people) if config.ingest else None
    scheme = "https" if config.tls else "http"
    shown = f"[{config.host}]" if ":" in config.host else config.host
    click.echo(
        f"facewarden is serving on {scheme}://{shown}:{config.port}/ "
        f"(console: {scheme}://{shown}:{config.port}/console/)"
    )
    _run(create_app(config, warden=warden, ingest=supervisor, people=people), config)


def _start_ingest(
    warden: Warden, config: Settings, people: BodyDetector | None
) -> IngestSupervisor:
    """The managed ingest worker: this server's share of the cameras, stopped before the store."""
    supervisor = IngestSupervisor(
        warden.with_actor("system:ingest"),
        fps_budget=config.camera_fps,
        people=people,
    )
    supervisor.start()
    # Registered after the deployment's close, so it runs before it (last in, first out).
    click.get_current_context().call_on_close(supervisor.stop)
    return supervisor
