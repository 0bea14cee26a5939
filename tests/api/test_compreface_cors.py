"""A web page of another origin calls the CompreFace-compatible API only where configured.

CompreFace's web server answers CORS preflights and allows every origin, so
its JavaScript SDK runs in pages served elsewhere (its demos do). facewarden
allows no origin by default, and ``FACEWARDEN_COMPREFACE_CORS_ORIGINS``
names those that may. Shown over raw HTTP (the preflight and its headers)
and in a real headless Chromium, whose page on another loopback port calls
the API with ``fetch``: the browser itself enforces what the headers say.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from facewarden.config import Settings
from facewarden.errors import ConfigError

from ._live import LiveServer, serving

CHROMIUM = Path(os.environ.get("FACEWARDEN_CHROMIUM", "/usr/bin/chromium"))
SUBJECTS = "/api/v1/recognition/subjects"
_PAGE = b"<!doctype html><title>a CompreFace client elsewhere</title>"


class _Page(SimpleHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(_PAGE)))
        self.end_headers()
        self.wfile.write(_PAGE)

    def log_message(self, format: str, *args: Any) -> None:
        return


@pytest.fixture(scope="module")
def page_origin() -> Iterator[str]:
    """Another origin on loopback: a page that a browser client would be served from."""
    with ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Page)) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        yield f"http://127.0.0.1:{server.server_address[1]}"
        server.shutdown()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory, page_origin: str) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("cors")
    with serving(root, compreface_cors_origins=page_origin) as running:
        yield running


def _preflight(live: LiveServer, path: str, origin: str) -> httpx.Response:
    return httpx.options(
        live.url + path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key, content-type",
        },
    )


def test_an_allowed_origin_is_answered_a_preflight_and_marked_answers(
    live: LiveServer, page_origin: str
) -> None:
    preflight = _preflight(live, "/api/v1/recognition/recognize", page_origin)
    assert preflight.status_code == 204, preflight.text
    assert preflight.headers["access-control-allow-origin"] == page_origin
    assert "x-api-key" in preflight.headers["access-control-allow-headers"]
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["vary"] == "Origin"
    assert "access-control-allow-credentials" not in preflight.headers
    with live.client("operator") as client:
        listed = client.get(SUBJECTS, headers={"Origin": page_origin})
    assert listed.status_code == 200
    assert listed.headers["access-control-allow-origin"] == page_origin
    # The key is still checked: an error is an error, readable by the page.
    refused = httpx.get(live.url + SUBJECTS, headers={"Origin": page_origin})
    assert refused.status_code == 401 and refused.json()["code"] == 20
    assert refused.headers["access-control-allow-origin"] == page_origin


@pytest.mark.parametrize(
    ("path", "origin"),
    [
        ("/api/v1/recognition/recognize", "http://127.0.0.1:1"),  # another origin
        ("/v1/identify", "same as the page"),  # the native API stays same-origin
    ],
)
def test_other_origins_and_the_native_api_get_no_cors(
    live: LiveServer, page_origin: str, path: str, origin: str
) -> None:
    sent = page_origin if origin == "same as the page" else origin
    preflight = _preflight(live, path, sent)
    assert preflight.status_code != 204
    assert "access-control-allow-origin" not in preflight.headers


def test_without_the_setting_no_origin_is_allowed(tmp_path: Path, page_origin: str) -> None:
    with serving(tmp_path) as plain:
        preflight = _preflight(plain, "/api/v1/recognition/recognize", page_origin)
        assert preflight.status_code == 401
        assert "access-control-allow-origin" not in preflight.headers


@pytest.mark.parametrize(
    "value", ["http://example.com/app", "example.com", "ftp://example.com", "http://a b"]
)
def test_an_origin_that_is_no_origin_is_refused_at_start(value: str) -> None:
    with pytest.raises(ConfigError, match="not a web origin"):
        Settings.load(compreface_cors_origins=value)


def test_origins_are_read_as_a_browser_writes_them() -> None:
    settings = Settings.load(compreface_cors_origins="HTTP://Example.com:8080/, *")
    assert settings.compreface_cors_origins == ("http://example.com:8080", "*")


def test_a_page_of_the_allowed_origin_calls_the_api_in_a_real_browser(
    live: LiveServer, page_origin: str
) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    if not CHROMIUM.is_file():
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium)")
    script = """async ([url, key]) => {
        try {
            const answer = await fetch(url, {headers: {'x-api-key': key}});
            return {status: answer.status, body: await answer.json()};
        } catch (error) {
            return {blocked: String(error)};
        }
    }"""
    key = live.keys["operator"]
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=["--headless", "--no-sandbox", "--disable-gpu"]
        )
        try:
            page = browser.new_page()
            page.goto(page_origin + "/")
            allowed = page.evaluate(script, [live.url + SUBJECTS, key])
            native = page.evaluate(script, [live.url + "/v1/watchlists", key])
        finally:
            browser.close()
    assert allowed == {"status": 200, "body": {"subjects": []}}
    # The same key on the native API: the browser refuses the page the answer.
    assert "blocked" in native and "Failed to fetch" in native["blocked"]
