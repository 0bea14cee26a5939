"""The console's browser tests: the real server on loopback, a real headless Chromium.

The server runs in a subprocess (``create_app`` under uvicorn, on a socket
bound to 127.0.0.1 port 0 so two runs never collide) over a fresh deployment
in a temporary folder, whose users are created beforehand through the access
service. Chromium is Debian's (``/usr/bin/chromium``), driven by Playwright's
sync API; nothing is downloaded. Screenshots of every page land in
``tests/web/artifacts/`` for people to look at.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from facewarden.config import Settings

playwright_sync = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

CHROMIUM = Path(os.environ.get("FACEWARDEN_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # A synthetic camera (a test pattern, no face), so webcam capture can be exercised.
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
VIEWPORT = {"width": 1440, "height": 900}
_FAILED_LOAD = re.compile(r"Failed to load resource: the server responded with a status of 4\d\d")

# Accounts created before the server starts (passwords: 12 characters or more).
USERS = {
    "admin": ("ada-admin", "correct horse battery"),
    "operator": ("olivia-op", "operator password 1"),
    "auditor": ("aubrey-audit", "auditor password 1"),
}

# Runs in the server subprocess: bind first (port 0: the OS picks a free one),
# say which port, then serve the real app until terminated.
_SERVE = """
import socket, sys
import uvicorn
from facewarden.api.app import create_app
from facewarden.config import Settings

sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.bind(("127.0.0.1", 0))
app = create_app(Settings.load())
print(sock.getsockname()[1], flush=True)
uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=2)).run(
    sockets=[sock]
)
"""


@dataclass
class Server:
    """A running facewarden server."""

    url: str
    settings: Settings
    log: Path
    users: dict[str, tuple[str, str]] = field(default_factory=lambda: dict(USERS))


def _create_deployment(settings: Settings) -> None:
    from facewarden.service.warden import Warden

    with Warden.open(settings, create=True, actor="test:setup") as warden:
        for role, (username, password) in USERS.items():
            warden.access.create_user(username, password, role)


def _wait_healthy(url: str, proc: subprocess.Popen[str], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    raise RuntimeError(f"the server did not become healthy in {timeout} s:\n{log.read_text()}")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, faces_dir: Path) -> Iterator[Server]:
    """The real server on 127.0.0.1 over a fresh deployment with one user per role."""
    root = tmp_path_factory.mktemp("console")
    settings = Settings(data_dir=root / "data", key_dir=root / "keys", workers=1)
    _create_deployment(settings)
    env = dict(os.environ)
    env.update(
        FACEWARDEN_DATA_DIR=str(settings.data_dir),
        FACEWARDEN_KEY_DIR=str(settings.key_dir),
        FACEWARDEN_WORKERS="1",
        PYTHONWARNINGS="ignore",
    )
    log = root / "server.log"
    with serve_subprocess(_SERVE, env, log) as (url, _):
        yield Server(url=url, settings=settings, log=log)


@contextmanager
def serve_subprocess(
    script: str, env: dict[str, str], log: Path
) -> Iterator[tuple[str, list[str]]]:
    """Run a server script that first prints its port (and what else it says) on stdout.

    Yields the server's URL once it answers ``/health``, and the other words of
    that first line; on leaving, terminates it (killed after 20 s).
    Its stderr goes to ``log``.
    """
    with log.open("w") as log_stream:
        proc = subprocess.Popen(
            [sys.executable, "-c", script],
            stdout=subprocess.PIPE,
            stderr=log_stream,
            env=env,
            text=True,
        )
    try:
        assert proc.stdout is not None
        words = proc.stdout.readline().split()
        if not words or not words[0].isdigit():
            proc.wait(timeout=10)
            raise RuntimeError(f"the server did not start:\n{words}\n{log.read_text()}")
        url = f"http://127.0.0.1:{words[0]}"
        _wait_healthy(url, proc, log)
        yield url, words[1:]
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[playwright_sync.Browser]:
    """Debian's Chromium, headless; skipped where it is not installed (CI installs it)."""
    if not CHROMIUM.exists() and shutil.which("chromium") is None:
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (CI installs Debian's chromium)")
    executable = CHROMIUM if CHROMIUM.exists() else Path(shutil.which("chromium") or "")
    with playwright_sync.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(executable), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@dataclass
class Console:
    """One browser tab on the console, with what it saw."""

    page: playwright_sync.Page
    base: str
    urls: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def open(self, route: str = "") -> None:
        """Go to ``#/<route>`` of the console."""
        self.page.goto(f"{self.base}/console/#/{route}")

    def login(self, username: str, password: str) -> None:
        """Sign in through the form and wait for the dashboard."""
        self.page.goto(f"{self.base}/console/")
        self.page.get_by_label("Username").fill(username)
        self.page.get_by_label("Password").fill(password)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.locator(".page-dashboard").wait_for()

    def shot(self, name: str) -> Path:
        """Screenshot the whole page (grown to its height: no sticky-header artefacts)."""
        page = self.page
        page.evaluate("document.getElementById('toasts')?.replaceChildren()")
        height = page.evaluate("document.documentElement.scrollHeight")
        page.set_viewport_size(
            {"width": VIEWPORT["width"], "height": max(VIEWPORT["height"], height)}
        )
        page.evaluate("window.scrollTo(0, 0)")
        ARTIFACTS.mkdir(exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        page.screenshot(path=str(path))
        page.set_viewport_size(VIEWPORT)
        return path


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Iterator[None]:  # pragma: no cover - pytest plumbing
    report = yield
    if report.when == "call":
        item.stash[_CALL_FAILED] = report.failed
    return report


_CALL_FAILED = pytest.StashKey[bool]()


@pytest.fixture
def console(
    browser: playwright_sync.Browser, server: Server, request: pytest.FixtureRequest
) -> Iterator[Console]:
    """A fresh browser context (no cookies) on the console, recording requests and errors.

    When the test fails, the page as it was is saved as ``FAILED-<test>.png``.
    """
    with open_tab(browser, server.url, request) as tab:
        yield tab


@contextmanager
def open_tab(
    browser: playwright_sync.Browser, base: str, request: pytest.FixtureRequest | None
) -> Iterator[Console]:
    """A browser context of its own on the console at ``base`` (see :func:`console`)."""
    context = browser.new_context(viewport=VIEWPORT, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(20_000)
    tab = Console(page=page, base=base)
    page.on("request", lambda r: tab.urls.append(r.url))
    page.on("pageerror", lambda error: tab.problems.append(f"uncaught: {error}"))

    def on_console(message: playwright_sync.ConsoleMessage) -> None:
        # API refusals (401 before sign-in, 404 after an erasure) are shown on the
        # page and logged by Chromium as failed loads; anything else is a problem.
        if message.type == "error" and not _FAILED_LOAD.match(message.text):
            tab.problems.append(f"console: {message.text}")

    page.on("console", on_console)
    try:
        yield tab
        if request is not None and request.node.stash.get(_CALL_FAILED, False):
            tab.shot(f"FAILED-{request.node.name}")
    finally:
        context.close()


# The camera pages' fixtures (their own server with the ingest supervisor, frames
# from real photos): tests/web/conftest_cameras.py.
from .conftest_cameras import cam_console, camera_server, frames  # noqa: E402, F401
