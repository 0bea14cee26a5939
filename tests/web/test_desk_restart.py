"""The server restarts under an open console (the security desk in a real browser).

An upgrade or a crash takes the server away for a few seconds while desks
have reviews open. The desk must say at once that alerts cannot arrive (a
quiet screen is not a quiet site). A decision pressed meanwhile cannot be
recorded: the desk must say so and keep the note and the buttons, so that
the operator presses again once the server is back (same port, same
database, the same session), and the alert feed must carry on by itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import pytest

from .conftest import open_tab, serve_subprocess
from .conftest_cameras import (
    CAMERA_USERS,
    SERVE,
    WATCHLIST,
    CameraServer,
    _prepare,
    _settings,
    serve_env,
)
from .test_desk import _burst

pytestmark = pytest.mark.slow

playwright_sync = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")


def test_a_decision_pressed_while_the_server_restarts_is_pressed_again_after(
    browser: playwright_sync.Browser,
    tmp_path: Path,
    faces_dir: Path,
    request: pytest.FixtureRequest,
) -> None:
    settings = _settings(tmp_path)
    key, subject_id, watchlist_id = _prepare(
        settings, faces_dir / "face_recognition" / "examples" / "obama.jpg"
    )
    log = tmp_path / "server.log"
    port = ["0"]

    @contextmanager
    def running() -> Iterator[CameraServer]:
        env = serve_env(
            settings, tmp_path, FACEWARDEN_TEST_INGEST="0", FACEWARDEN_TEST_PORT=port[0]
        )
        with serve_subprocess(SERVE, env, log) as (url, _):
            port[0] = url.rsplit(":", 1)[1]
            yield CameraServer(url, settings, log, key, subject_id, watchlist_id, ingest=False)

    with ExitStack() as first:
        server = first.enter_context(running())
        with open_tab(browser, server.url, request) as console:
            page = console.page
            cameras = []
            for name in ("gate-r", "gate-s"):
                made = page.request.post(
                    f"{server.url}/v1/cameras",
                    data={"name": name, "location": "Gate", "watchlists": [WATCHLIST]},
                    headers={"X-API-Key": key},
                )
                assert made.ok, made.text()
                cameras.append(made.json()["camera_id"])
            (sighting,) = _burst(server, cameras[0], 1, first="log")
            console.login(*CAMERA_USERS["operator"])
            console.open(f"alerts/{sighting}")
            review = page.locator("#main").get_by_test_id("alert-review")
            note = "Gate guard informed by radio"
            review.locator("textarea[name=note]").fill(note)
            # The open queue, in a second tab of the same desk.
            queue = page.context.new_page()
            queue.goto(f"{server.url}/console/#/alerts?state=open")
            row = queue.get_by_test_id("alert-list").locator(f"tr[data-sighting={sighting}]")
            row.wait_for()

            first.close()  # the server goes away
            # The desk is told at once that alerts cannot arrive: a quiet screen is not a
            # quiet site.
            offline = page.get_by_test_id("feed-offline")
            offline.wait_for(timeout=6_000)
            assert "alerts cannot arrive" in offline.inner_text()
            assert "does not answer" in (
                page.get_by_test_id("alert-bell").get_attribute("aria-label") or ""
            )
            console.shot("45-desk-offline")
            review.get_by_role("button", name="Dismiss").click()
            review.get_by_text("Cannot reach the server").wait_for()
            # Nothing was recorded: the note and the buttons stay, to press again.
            assert review.locator("textarea[name=note]").input_value() == note
            assert review.get_by_role("button", name="Dismiss").is_enabled()
            # A page or a list read meanwhile cannot load: it says so, and loads by itself
            # once the server is back (a desk left on it must not show the error all shift).
            queue.get_by_role("button", name="Check now").click()
            queue.locator("#main").get_by_text("Cannot reach the server").wait_for()
            console.open("alerts")
            page.go_back()  # the review, read again: the server is not there
            page.locator("#main").get_by_text("Cannot reach the server").wait_for()

            with running():  # back, on the same port, with the same database
                offline.wait_for(state="hidden", timeout=6_000)
                row.wait_for(timeout=6_000)
                # The review is back by itself, with the note typed before.
                review.locator("textarea[name=note]").wait_for(timeout=6_000)
                assert review.locator("textarea[name=note]").input_value() == note
                review.get_by_role("button", name="Dismiss").focus()
                page.keyboard.press("Enter")
                review.get_by_text("Dismissed by user:cam-operator").wait_for()
                assert note in review.inner_text()
                assert "Cannot reach the server" not in review.inner_text()
                # The keyboard goes on from where the decision was taken: to the next alert.
                focused = page.evaluate("document.activeElement.textContent")
                assert focused == "Next open alert"
                # And the alert feed carried on by itself: a new alarm is raised.
                (alarm,) = _burst(server, cameras[1], 1, first="alarm")
                panel = page.get_by_test_id("alarm-panel")
                panel.get_by_test_id("alert-review").wait_for(timeout=10_000)
                assert panel.get_by_test_id("alert-review").get_attribute("data-sighting") == alarm
            assert [p for p in console.problems if "ERR_CONNECTION_REFUSED" not in p] == []
