"""A desk that falls behind catches up whole (the security desk in a real browser).

A console polls each second, but a throttled background tab, a laptop waking
from sleep or a dropped connection may find far more happened meanwhile than
one answer holds. Nothing decided elsewhere may stay up as open (an alarm
sounding for an alert whose decision would answer 409), and nothing of a
person erased meanwhile may stay on any card.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from facewarden.service.warden import Warden

from .conftest import Console
from .conftest_cameras import WATCHLIST, CameraServer, end_frames, push_frame
from .test_desk import _add_camera, _api, _burst, _dismiss_open_alarms

pytestmark = pytest.mark.slow

playwright_sync = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

_POLL = re.compile(r"/v1/alerts\?")  # the feed's poll (and the lists), not one alert's review


class _HeldPolls:
    """The feed's polls held unanswered (a laptop lid closed, a silent network) until released."""

    def __init__(self, page: playwright_sync.Page) -> None:
        self.held: list[playwright_sync.Route] = []
        self._holding = True
        page.route(_POLL, self._hold)

    def _hold(self, route: playwright_sync.Route) -> None:
        if self._holding:
            self.held.append(route)
        else:
            route.continue_()

    def release(self) -> None:
        """Polls from now on go through; those already held stay held (the caller's choice)."""
        self._holding = False


def test_a_desk_back_from_sleep_drops_an_alarm_decided_among_more_than_a_page(
    cam_console: Console, camera_server: CameraServer
) -> None:
    # An alarm sounds at this desk; its polls stall (a laptop lid closed) while a
    # supervisor clears 201 alerts at once, the alarm halfway: more than a page of
    # decisions before it and after it. Back online, the desk must learn of every
    # decision: the alarm goes without a click (its Acknowledge would answer 409).
    console = cam_console
    page = console.page
    _dismiss_open_alarms(console, camera_server)
    hall = _add_camera(console, camera_server, "hall-12", "Hall")
    ids = _burst(camera_server, hall["camera_id"], 201, first="alarm")
    console.login(*camera_server.users["operator"])
    panel = page.get_by_test_id("alarm-panel")
    panel.get_by_test_id("alert-name").wait_for(timeout=10_000)
    assert panel.get_by_test_id("alert-review").get_attribute("data-sighting") == ids[0]
    page.wait_for_timeout(1500)  # a poll with decided_since has run: the feed is current

    polls = _HeldPolls(page)
    while not polls.held:
        page.wait_for_timeout(100)
    # Within a second or two, as a script would: the 101st decision is the alarm's.
    with Warden.open(camera_server.settings, actor="user:cam-admin") as warden:
        for sighting in [*ids[1:101], ids[0], *ids[101:]]:
            warden.alert_desk.decide(sighting, "dismissed", role="admin")
    polls.release()
    for route in polls.held:
        route.continue_()

    panel.wait_for(state="detached", timeout=6_000)
    assert page.evaluate("document.body.dataset.alarm") is None
    assert console.problems == []


def test_the_dashboards_live_alerts_leave_with_an_erasure_and_the_live_window(
    cam_console: Console, camera_server: CameraServer, faces_dir: Path
) -> None:
    # The dashboard's "Live alerts" card and its "Open alerts" figure sit on a desk's
    # screen all shift. A person erased meanwhile must leave them at once (not a time
    # or a camera of theirs stays shown), and an alert past the live window must leave
    # on a quiet site too, with nothing new to reload the card for.
    from facewarden.service import SubjectRecord

    console = cam_console
    page = console.page
    _decide_all_open(console, camera_server)
    yard = _add_camera(console, camera_server, "yard-12", "Yard")
    annex = _add_camera(console, camera_server, "annex-12", "Annex")
    with Warden.open(camera_server.settings, actor="test:enroll") as warden:
        biden = warden.registry.enroll(
            SubjectRecord(full_name="Joe Biden", lawful_basis="test"),
            [faces_dir / "face_recognition" / "examples" / "biden.jpg"],
            watchlists=(WATCHLIST,),
        ).subject_id
    leaving = datetime.now(UTC) - timedelta(minutes=60) + timedelta(seconds=9)
    (old,) = _burst(camera_server, yard["camera_id"], 1, first="log", at=leaving)
    (erased,) = _burst(camera_server, annex["camera_id"], 1, first="log", subject_id=biden)
    console.login(*camera_server.users["operator"])
    card = page.locator(".card-desk-alerts")
    for sighting in (old, erased):
        card.locator(f"li[data-sighting={sighting}]").wait_for()
    open_alerts = page.locator("a.stat", has_text="Open alerts").locator(".stat-value")
    assert open_alerts.inner_text() == "2"

    _api(console, camera_server, "DELETE", f"/v1/subjects/{biden}")
    card.locator(f"li[data-sighting={erased}]").wait_for(state="detached", timeout=6_000)
    page.wait_for_function(
        "() => [...document.querySelectorAll('a.stat')].find((s) => s.textContent"
        ".includes('Open alerts'))?.querySelector('.stat-value').textContent === '1'",
        timeout=6_000,
    )
    card.locator(f"li[data-sighting={old}]").wait_for(state="detached", timeout=20_000)
    assert console.problems == []


def _decide_all_open(console: Console, server: CameraServer) -> None:
    """Alerts earlier tests left open would fill the card: they are decided first."""
    while True:
        left = _api(console, server, "GET", "/v1/alerts?state=open&limit=100")
        assert isinstance(left, dict)
        if not left["sightings"]:
            return
        for a in left["sightings"]:
            _api(console, server, "POST", f"/v1/alerts/{a['sighting_id']}/dismiss", data={})


def test_a_decision_another_desk_took_first_keeps_the_note_typed_with_it(
    cam_console: Console, camera_server: CameraServer
) -> None:
    # This desk types a note and presses Acknowledge a moment after another desk
    # dismissed the alert (before this desk's poll heard of it): the server answers 409,
    # the review shows the other desk's decision, and the note typed here waits to be
    # added as a later note: it is not thrown away.
    console = cam_console
    page = console.page
    camera = _add_camera(console, camera_server, "kiosk-12", "Kiosk")
    (sighting,) = _burst(camera_server, camera["camera_id"], 1, first="log")
    console.login(*camera_server.users["operator"])
    console.open(f"alerts/{sighting}")
    review = page.locator("#main").get_by_test_id("alert-review")
    review.get_by_role("button", name="Acknowledge").wait_for()
    page.route(_POLL, lambda route: None)  # this desk hears nothing more from now on
    typed = "Guard sent to the kiosk, badge to be checked"
    review.locator("textarea[name=note]").fill(typed)
    _api(console, camera_server, "POST", f"/v1/alerts/{sighting}/dismiss", data={})
    review.get_by_role("button", name="Acknowledge").click()
    review.get_by_text("Dismissed by").wait_for()
    assert review.locator("textarea[name=later-note]").input_value() == typed
    assert console.problems == []


def test_a_later_note_refused_for_an_ended_session_is_kept_for_after_sign_in(
    cam_console: Console, camera_server: CameraServer
) -> None:
    console = cam_console
    page = console.page
    camera = _add_camera(console, camera_server, "kiosk-13", "Kiosk")
    (sighting,) = _burst(camera_server, camera["camera_id"], 1, first="log")
    _api(console, camera_server, "POST", f"/v1/alerts/{sighting}/dismiss", data={})
    console.login(*camera_server.users["operator"])
    console.open(f"alerts/{sighting}")
    review = page.locator("#main").get_by_test_id("alert-review")
    later = "Confirmed with the guard: a courier, badge C-7"
    review.locator("textarea[name=later-note]").fill(later)
    page.context.clear_cookies()
    review.get_by_role("button", name="Add note").click()
    page.locator(".login-messages .banner").wait_for()
    username, password = camera_server.users["operator"]
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    review.locator("textarea[name=later-note]").wait_for()
    assert review.locator("textarea[name=later-note]").input_value() == later
    assert review.get_by_test_id("alert-notes").inner_text() == ""  # nothing was recorded
    review.get_by_role("button", name="Add note").click()
    review.get_by_test_id("alert-notes").get_by_text(later).wait_for()
    assert console.problems == []


def test_the_dashboards_camera_health_follows_a_camera_that_goes_quiet(
    cam_console: Console, camera_server: CameraServer
) -> None:
    # The desk's dashboard stays open all shift on a quiet site: a camera that starts
    # sending frames, then stops, must show so without a reload (no alert comes to
    # redraw the page meanwhile).
    import cv2
    import numpy as np

    console = cam_console
    page = console.page
    camera = _add_camera(console, camera_server, "dock-12", "Dock")
    console.login(*camera_server.users["operator"])
    row = page.get_by_test_id("camera-health").locator(f"tr[data-camera={camera['camera_id']}]")
    row.locator("[data-state=idle]").wait_for()
    empty = bytes(cv2.imencode(".jpg", np.full((240, 320, 3), 90, np.uint8))[1])  # no face
    push_frame(page.request, camera_server, camera["camera_id"], empty, datetime.now(UTC))
    row.locator("[data-state=live]").wait_for(timeout=10_000)
    end_frames(page.request, camera_server, camera["camera_id"])
    row.locator("[data-state=idle]").wait_for(timeout=10_000)
    assert console.problems == []


def test_an_alarm_decided_on_its_own_page_is_silenced_in_the_panel(
    cam_console: Console, camera_server: CameraServer
) -> None:
    # The panel's "Open its page" shows the alarm at full size; the operator decides it
    # there. The panel must not go on sounding for an alert this very desk decided.
    console = cam_console
    page = console.page
    _dismiss_open_alarms(console, camera_server)
    camera = _add_camera(console, camera_server, "vault-12", "Vault")
    console.login(*camera_server.users["operator"])
    page.get_by_test_id("alert-bell").wait_for()
    page.wait_for_timeout(1500)  # the first poll has run: what follows is new
    (alarm,) = _burst(camera_server, camera["camera_id"], 1, first="alarm")
    panel = page.get_by_test_id("alarm-panel")
    panel.get_by_test_id("alert-name").wait_for(timeout=10_000)
    panel.get_by_role("link", name="Open its page").click()
    review = page.locator("#main").get_by_test_id("alert-review")
    assert review.get_attribute("data-sighting") == alarm
    review.get_by_role("button", name="Acknowledge").click()
    review.get_by_text("Acknowledged by").wait_for()
    panel.wait_for(state="detached", timeout=3_000)
    assert page.evaluate("document.body.dataset.alarm") is None
    assert console.problems == []


def test_a_desk_whose_polls_go_unanswered_is_told_alerts_cannot_arrive(
    cam_console: Console, camera_server: CameraServer
) -> None:
    # The network drops silently (a VPN gone, a proxy that holds the connection): a poll
    # is never answered, with no error. The desk must not sit quietly believing the site
    # is quiet: it says that alerts cannot arrive, and stops saying so once they can.
    console = cam_console
    page = console.page
    console.login(*camera_server.users["operator"])
    page.get_by_test_id("alert-bell").wait_for()
    page.wait_for_timeout(1500)  # the feed has polled
    offline = page.get_by_test_id("feed-offline")
    assert offline.is_hidden()
    polls = _HeldPolls(page)
    offline.wait_for(timeout=12_000)
    assert "alerts cannot arrive" in offline.inner_text()
    polls.release()
    offline.wait_for(state="hidden", timeout=6_000)
    assert console.problems == []


def test_the_keyboard_keeps_its_place_in_the_alerts_list_as_alerts_come(
    cam_console: Console, camera_server: CameraServer
) -> None:
    # A keyboard-only operator tabs down the open queue while alerts keep coming: each
    # one redraws the list, and the keyboard must stay on the row it was on, not fall
    # back to the top of the page.
    console = cam_console
    page = console.page
    _decide_all_open(console, camera_server)
    lane = _add_camera(console, camera_server, "lane-12", "Lane")
    ids = _burst(camera_server, lane["camera_id"], 3, first="log")
    console.login(*camera_server.users["operator"])
    console.open("alerts?state=open&order=oldest")
    listed = page.get_by_test_id("alert-list")
    listed.locator(f"tr[data-sighting={ids[1]}]").get_by_role("link", name="Review").focus()
    other = _add_camera(console, camera_server, "lane-13", "Lane")
    (newer,) = _burst(camera_server, other["camera_id"], 1, first="log")
    listed.locator(f"tr[data-sighting={newer}]").wait_for(timeout=6_000)
    focused = page.evaluate("document.activeElement.closest('tr')?.dataset.sighting")
    assert focused == ids[1]
    page.keyboard.press("Enter")
    review = page.locator("#main").get_by_test_id("alert-review")
    review.wait_for()
    assert review.get_attribute("data-sighting") == ids[1]
    assert console.problems == []


def test_the_keyboard_keeps_its_place_on_the_dashboard_as_it_refreshes(
    cam_console: Console, camera_server: CameraServer
) -> None:
    # The dashboard redraws its cards as alerts come and camera states change: a keyboard
    # on one of their links stays there, not thrown back to the top of the page.
    console = cam_console
    page = console.page
    _decide_all_open(console, camera_server)
    camera = _add_camera(console, camera_server, "ramp-12", "Ramp")
    console.login(*camera_server.users["operator"])
    page.get_by_test_id("camera-health").wait_for()
    cameras = page.locator(".card-camera-health").get_by_role("link", name="Cameras")
    cameras.focus()
    page.wait_for_timeout(6_000)  # a refresh of the camera health or more
    assert page.evaluate("document.activeElement.closest('.card-camera-health') !== null")
    everything = page.locator(".card-desk-alerts").get_by_role("link", name="All alerts")
    everything.focus()
    (sighting,) = _burst(camera_server, camera["camera_id"], 1, first="log")
    page.locator(f".card-desk-alerts li[data-sighting={sighting}]").wait_for(timeout=6_000)
    assert page.evaluate("document.activeElement.textContent") == "All alerts"
    assert console.problems == []


def test_an_alarm_whose_review_fails_to_load_for_a_moment_is_not_dropped(
    cam_console: Console, camera_server: CameraServer
) -> None:
    # Two alarms wait; the first is decided just as the server stops answering for a
    # moment (a restart, a network blip), so the second cannot be opened yet. It must stay
    # in the panel and be opened once the server answers: an alarm is never dropped
    # because of a failed read, only because it left the desk.
    console = cam_console
    page = console.page
    _dismiss_open_alarms(console, camera_server)
    first = _add_camera(console, camera_server, "pier-12", "Pier")
    second = _add_camera(console, camera_server, "pier-13", "Pier")
    (one,) = _burst(camera_server, first["camera_id"], 1, first="alarm")
    (two,) = _burst(camera_server, second["camera_id"], 1, first="alarm")
    console.login(*camera_server.users["operator"])
    panel = page.get_by_test_id("alarm-panel")
    panel.get_by_text("1 more waiting").wait_for(timeout=10_000)
    assert panel.get_by_test_id("alert-review").get_attribute("data-sighting") == one
    blocked = re.compile(rf"/v1/alerts/{two}$")
    page.route(blocked, lambda route: route.abort("connectionrefused"))
    panel.get_by_role("button", name="Acknowledge").click()
    panel.get_by_test_id("alarm-unreached").wait_for()  # said, and still sounding
    page.wait_for_timeout(2_500)  # a retry or more, failing too
    assert page.evaluate("document.body.dataset.alarm") == "sounding"
    page.unroute(blocked)
    panel.get_by_test_id("alert-review").and_(page.locator(f"[data-sighting={two}]")).wait_for(
        timeout=8_000
    )
    assert [p for p in console.problems if "ERR_CONNECTION_REFUSED" not in p] == []


def test_a_desk_signing_in_to_more_than_a_thousand_alerts_raises_the_newest_alarm(
    cam_console: Console, camera_server: CameraServer
) -> None:
    # A busy gate: 1,050 alerts in the live window when the shift signs in, the newest an
    # alarm. The first poll reads the window a page at a time, ten pages a poll: what it
    # has not read by then must be read by the next, not skipped (an alarm never raised).
    console = cam_console
    page = console.page
    _dismiss_open_alarms(console, camera_server)
    gate = _add_camera(console, camera_server, "gate-1050", "Gate")
    door = _add_camera(console, camera_server, "door-1050", "Door")
    _burst(camera_server, gate["camera_id"], 1050, first="log")
    (alarm,) = _burst(camera_server, door["camera_id"], 1, first="alarm")
    console.login(*camera_server.users["operator"])
    panel = page.get_by_test_id("alarm-panel")
    panel.get_by_test_id("alert-review").wait_for(timeout=15_000)
    assert panel.get_by_test_id("alert-review").get_attribute("data-sighting") == alarm
    assert console.problems == []
