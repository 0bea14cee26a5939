"""The security desk in a real browser against the real server (issue 14).

The desk loop: a watchlist subject walks past a camera whose frames are
pushed over the API; within 2 s of the frame's answer the operator's
console raises the alert with the subject's name, the captured face next to
the enrolled photo, and the watchlist's severity (an alarm stays up until
acknowledged; an ordinary alert is a toast that opens its review). The
operator acknowledges or dismisses it, and the audit log (read in the
console) shows the alert shown, its photos viewed and the decision. The
other roles see none of it. An investigator opens a subject through the
case-reference dialog, the case carried to every read and to the history
request, which a second investigator approves from the pending list; the
requester sees the result after a reload.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from .conftest import Console
from .conftest_cameras import WATCHLIST, CameraServer, Frames, push_frame, second_tab

pytestmark = pytest.mark.slow

playwright_sync = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

CASE = "CASE-2026-0142"


def test_an_investigator_opens_a_subject_through_the_case_dialog(
    cam_console: Console, camera_server: CameraServer
) -> None:
    console = cam_console
    page = console.page
    console.login(*camera_server.users["investigator"])
    console.open(f"subjects/{camera_server.subject_id}")
    dialog = page.locator("dialog.modal")
    dialog.wait_for()
    assert dialog.get_by_role("button", name="Open subject").is_disabled()
    console.shot("30-case-dialog")
    dialog.get_by_role("button", name="Cancel").click()
    needed = page.get_by_test_id("case-needed")
    needed.wait_for()
    assert "Obama" not in page.locator("main").inner_text()

    needed.get_by_role("button", name="Give a case reference").click()
    dialog.locator("input[name=case_reference]").fill(CASE)
    dialog.get_by_role("button", name="Open subject").click()
    page.locator(".subject-name").wait_for()
    assert page.locator(".subject-name").inner_text() == "Barack Obama"
    assert page.get_by_test_id("case-reference").inner_text() == CASE
    reads = [u for u in console.urls if f"/v1/subjects/{camera_server.subject_id}?" in u]
    assert reads and all("purpose=CASE-2026-0142" in u for u in reads)
    console.shot("31-subject-for-a-case")

    # The case is carried: the history request from the subject's page uses it.
    history = page.locator(".card-history")
    history.get_by_role("button", name="Request location history").click()
    page.get_by_test_id("history-pending").wait_for()
    assert CASE in history.inner_text()

    # Opening the subject again in this tab asks no more; from the dashboard, the
    # case is given beside the id.
    console.open("")
    page.locator(".page-dashboard").wait_for()
    opener = page.locator("form.form-grid-open")
    assert opener.locator("input[name=case_reference]").input_value() == CASE
    opener.locator("input[name=subject_id]").fill(camera_server.subject_id)
    opener.get_by_role("button", name="Open").click()
    page.locator(".subject-name").wait_for()
    assert page.locator("dialog.modal").count() == 0
    assert console.problems == []


def _api(console: Console, server: CameraServer, method: str, path: str, **kw: object) -> object:
    """Set-up through the API as the operator's key (the console is what is tested)."""
    response = console.page.request.fetch(
        f"{server.url}{path}", method=method, headers={"X-API-Key": server.api_key}, **kw
    )
    assert response.ok, f"{method} {path}: {response.status} {response.text()}"
    return response.json() if response.status != 204 else None


def _add_camera(
    console: Console,
    server: CameraServer,
    name: str,
    location: str,
    *,
    keep_thumbnails: bool = False,
) -> dict[str, Any]:
    """A camera watching the desk's watchlist, added through the API."""
    data: dict[str, object] = {"name": name, "location": location, "watchlists": [WATCHLIST]}
    if keep_thumbnails:
        data["keep_thumbnails"] = True
    camera = _api(console, server, "POST", "/v1/cameras", data=data)
    assert isinstance(camera, dict)
    return camera


def _set_severity(console: Console, server: CameraServer, severity: str) -> None:
    """How loud the desk's watchlist's sightings are: log, alert or alarm."""
    path = f"/v1/watchlists/{WATCHLIST}/alert-severity"
    _api(console, server, "PUT", path, data={"severity": severity})


def _photos_loaded(console: Console, scope: str) -> bool:
    return bool(
        console.page.evaluate(
            """(scope) => {
                const imgs = [...document.querySelectorAll(scope + " .review-photo img")];
                return imgs.length === 2 && imgs.every((i) => i.complete && i.naturalWidth > 0);
            }""",
            scope,
        )
    )


def test_the_desk_loop_alarm_review_acknowledge_and_audit(
    cam_console: Console,
    camera_server: CameraServer,
    frames: Frames,
    browser: playwright_sync.Browser,
) -> None:
    console = cam_console
    page = console.page
    camera = _add_camera(console, camera_server, "gate-a", "Gate A", keep_thumbnails=True)
    _set_severity(console, camera_server, "alarm")
    console.login(*camera_server.users["operator"])
    page.get_by_test_id("alert-bell").wait_for()
    page.wait_for_timeout(1500)  # the first poll has run: what follows is new

    answer = push_frame(
        page.request, camera_server, camera["camera_id"], frames.sighting, datetime.now(UTC)
    )
    framed = time.monotonic()
    (sighting,) = answer["new_sightings"]  # type: ignore[misc]
    panel = page.get_by_test_id("alarm-panel")
    panel.locator("[data-testid=alert-name]").wait_for(timeout=10_000)
    page.wait_for_function(
        """() => [...document.querySelectorAll("[data-testid=alarm-panel] .review-photo img")]
            .filter((i) => i.complete && i.naturalWidth > 0).length === 2""",
        timeout=10_000,
    )
    shown_after = time.monotonic() - framed
    assert shown_after < 2.0, f"the alarm took {shown_after:.2f} s after the frame"
    assert panel.locator("[data-testid=alert-name]").inner_text() == "Barack Obama"
    assert panel.locator("[data-severity=alarm]").count() >= 1
    assert "gate-a" in panel.inner_text()
    assert page.evaluate("document.body.dataset.alarm") == "sounding"
    # The alarm sits below the top bar: the page title stays readable.
    title = page.locator(".page-title").bounding_box()
    box = panel.bounding_box()
    assert title is not None and box is not None and box["y"] >= title["y"] + title["height"]
    console.shot("40-desk-alarm")

    panel.get_by_role("button", name="Acknowledge").click()
    panel.wait_for(state="detached")
    assert page.evaluate("document.body.dataset.alarm") is None

    # An ordinary alert: a toast that opens its review, dismissed with a note.
    _set_severity(console, camera_server, "alert")
    other = _add_camera(console, camera_server, "gate-c", "Gate C", keep_thumbnails=True)
    second = push_frame(
        page.request, camera_server, other["camera_id"], frames.sighting, datetime.now(UTC)
    )
    (second_id,) = second["new_sightings"]  # type: ignore[misc]
    toast = page.get_by_test_id("alert-toast")
    toast.wait_for(timeout=5_000)
    toast.click()
    review = page.get_by_test_id("alert-review")
    review.wait_for()
    assert review.get_attribute("data-sighting") == second_id
    page.wait_for_function("() => document.querySelectorAll('.review-photo img').length === 2")
    page.wait_for_function(
        """() => [...document.querySelectorAll(".review-photo img")]
            .every((i) => i.complete && i.naturalWidth > 0)"""
    )
    assert review.locator("[data-testid=alert-name]").inner_text() == "Barack Obama"
    console.shot("41-alert-review")
    review.locator("textarea[name=note]").fill("Badge checked at the desk")
    review.get_by_role("button", name="Dismiss").click()
    page.get_by_test_id("alert-review").get_by_text("Dismissed by").wait_for()

    # The alert list: filters, states, ids only.
    console.open("alerts")
    listed = page.get_by_test_id("alert-list")
    listed.get_by_text("No alerts match").wait_for()  # both decided: none open
    assert page.locator("select[name=state]").input_value() == "open"
    console.shot("42-alerts-open")
    page.locator("select[name=state]").select_option("all")
    listed.locator(f"tr[data-sighting='{sighting}']").wait_for()
    listed.locator(f"tr[data-sighting='{second_id}']").wait_for()
    assert "Obama" not in listed.inner_text()
    rows = listed.locator("tr[data-sighting]")
    assert rows.count() == 2
    # Each alert keeps the severity it was raised with: the first was raised an alarm,
    # and stays one though the watchlist is now "alert"; a quiet "log" filter shows none.
    page.locator("select[name=severity]").select_option("alarm")
    listed.locator(f"tr[data-sighting='{second_id}']").wait_for(state="detached")
    listed.locator(f"tr[data-sighting='{sighting}']").wait_for()
    assert rows.count() == 1
    page.locator("select[name=severity]").select_option("log")
    listed.get_by_text("No alerts match").wait_for()
    page.locator("select[name=severity]").select_option("")
    rows.first.wait_for()
    console.shot("43-alerts-all")

    # The dashboard: counts and camera health, from the unaudited figures route.
    console.open("")
    page.get_by_test_id("camera-health").wait_for()
    assert "gate-a" in page.get_by_test_id("camera-health").inner_text()
    assert not any("/v1/subjects?" in u for u in console.urls)  # no listing to count
    console.shot("44-desk-dashboard")
    assert console.problems == []

    # The audit log, read in the console: shown, photos viewed, acknowledged.
    with second_tab(browser, camera_server) as audit:
        audit.login(*camera_server.users["admin"])
        audit.open("audit")
        audit.page.locator("input[name=object_id]").fill(sighting)
        audit.page.get_by_role("button", name="Filter").click()
        table = audit.page.locator("table")
        table.get_by_text("Alert acknowledged").wait_for()
        text = table.inner_text()
        assert "Alert shown" in text and "Alert photo viewed" in text
        assert text.count("Alert photo viewed") >= 2
        audit.shot("45-audit-alert")
        assert audit.problems == []


@pytest.mark.parametrize("role", ["analyst", "investigator", "auditor"])
def test_other_roles_get_no_alerts_names_or_photos(
    cam_console: Console, camera_server: CameraServer, role: str
) -> None:
    console = cam_console
    page = console.page
    console.login(*camera_server.users[role])
    assert page.get_by_test_id("alert-bell").count() == 0
    assert page.locator(".nav-link[data-nav='alerts']").count() == 0
    console.open("alerts")
    page.get_by_text("Not available for your role").wait_for()
    page.wait_for_timeout(1500)
    assert not any("/v1/alerts" in u for u in console.urls)
    if role != "investigator":
        text = page.locator("body").inner_text()
        assert "Obama" not in text and camera_server.subject_id not in text
        assert page.locator("img[src*='/photos/']").count() == 0
    assert console.problems == []


def test_history_is_approved_from_the_pending_list_and_survives_a_reload(
    cam_console: Console, camera_server: CameraServer, browser: playwright_sync.Browser
) -> None:
    console = cam_console
    page = console.page
    console.login(*camera_server.users["investigator"])
    console.open(f"subjects/{camera_server.subject_id}")
    dialog = page.locator("dialog.modal")
    dialog.locator("input[name=case_reference]").fill("CASE-2026-0777")
    dialog.get_by_role("button", name="Open subject").click()
    history = page.locator(".card-history")
    history.locator("input[name=reason]").fill("Tailgating at the loading dock")
    history.get_by_role("button", name="Request location history").click()
    request_id = page.get_by_test_id("history-request-id").inner_text().strip()

    with second_tab(browser, camera_server) as other:
        other.login(*camera_server.users["investigator2"])
        other.open("requests")
        row = other.page.get_by_test_id("pending-requests").locator(
            f"tr[data-request='{request_id}']"
        )
        row.wait_for()
        text = row.inner_text()
        assert "CASE-2026-0777" in text and "Tailgating at the loading dock" in text
        assert camera_server.subject_id in text and "cam-investigator" in text
        other.shot("46-pending-requests")
        row.get_by_role("button", name="Approve").click()
        row.wait_for(state="detached")
        assert other.problems == []

    page.reload()
    page.locator(".page-subject, [data-testid=case-needed], dialog.modal").first.wait_for()
    console.open("requests")
    mine = page.get_by_test_id("my-requests").locator(f"tr[data-request='{request_id}']")
    mine.wait_for()
    assert mine.get_attribute("data-status") == "approved"
    mine.get_by_role("button", name="Run").click()
    done = page.get_by_test_id("history-done")
    done.wait_for()
    assert "CASE-2026-0777" in done.inner_text()
    console.shot("47-my-requests")
    assert console.problems == []


def test_an_alert_decided_at_one_desk_leaves_the_others_without_a_reload(
    cam_console: Console,
    camera_server: CameraServer,
    frames: Frames,
    browser: playwright_sync.Browser,
) -> None:
    # Two operators at two desks. One acknowledges an alarm: the other's alarm panel
    # stops sounding and goes; one dismisses an alert: it leaves the other's open
    # queue and the other's review of it turns to "Dismissed by", with no reload.
    console = cam_console
    page = console.page
    ids = [
        _add_camera(console, camera_server, name, "Dock", keep_thumbnails=True)["camera_id"]
        for name in ("dock-1", "dock-2")
    ]
    _set_severity(console, camera_server, "alarm")
    console.login(*camera_server.users["operator"])
    with second_tab(browser, camera_server) as other:
        other.login(*camera_server.users["admin"])
        for tab in (console, other):
            tab.page.get_by_test_id("alert-bell").wait_for()
        page.wait_for_timeout(1500)  # both feeds have polled once: what follows is new

        answer = push_frame(page.request, camera_server, ids[0], frames.sighting, datetime.now(UTC))
        (alarm_id,) = answer["new_sightings"]  # type: ignore[misc]
        mine = page.get_by_test_id("alarm-panel")
        theirs = other.page.get_by_test_id("alarm-panel")
        for panel in (mine, theirs):
            panel.locator("[data-testid=alert-name]").wait_for(timeout=10_000)
            assert panel.get_by_test_id("alert-review").get_attribute("data-sighting") == alarm_id
        theirs.get_by_role("button", name="Acknowledge").click()
        theirs.wait_for(state="detached")
        mine.wait_for(state="detached", timeout=5_000)
        assert page.evaluate("document.body.dataset.alarm") is None

        # An ordinary alert: this desk has the open queue, and the alert's review open
        # in a second tab of the same session; the other desk dismisses it.
        _set_severity(console, camera_server, "alert")
        console.open("alerts")
        listed = page.get_by_test_id("alert-list")
        listed.get_by_text("No alerts match").wait_for()
        answer = push_frame(page.request, camera_server, ids[1], frames.sighting, datetime.now(UTC))
        (alert_id,) = answer["new_sightings"]  # type: ignore[misc]
        row = listed.locator(f"tr[data-sighting='{alert_id}']")
        row.wait_for(timeout=5_000)
        review_page = page.context.new_page()
        review_page.goto(f"{camera_server.url}/console/#/alerts/{alert_id}")
        review = review_page.get_by_test_id("alert-review")
        review.get_by_role("button", name="Dismiss").wait_for()

        other.open(f"alerts/{alert_id}")
        other.page.get_by_test_id("alert-review").get_by_role("button", name="Dismiss").click()
        other.page.get_by_test_id("alert-review").get_by_text("Dismissed by").wait_for()

        row.wait_for(state="detached", timeout=5_000)
        review.get_by_text("Dismissed by user:cam-admin").wait_for(timeout=5_000)
        assert review.get_by_role("button", name="Dismiss").count() == 0
        review_page.close()
        assert other.problems == []
    assert console.problems == []


def test_a_session_that_ends_while_deciding_loses_neither_the_note_nor_the_decision(
    cam_console: Console, camera_server: CameraServer, frames: Frames
) -> None:
    # The session ends while the operator types a note and presses Dismiss: the
    # sign-in screen comes up (from that click or from the feed's poll), the alert
    # stays undecided, and once signed in again the review is back with the note.
    console = cam_console
    page = console.page
    camera = _add_camera(console, camera_server, "dock-3", "Dock")
    _set_severity(console, camera_server, "log")
    answer = push_frame(
        page.request, camera_server, camera["camera_id"], frames.sighting, datetime.now(UTC)
    )
    (alert_id,) = answer["new_sightings"]  # type: ignore[misc]
    console.login(*camera_server.users["operator"])
    console.open(f"alerts/{alert_id}")
    review = page.locator("main [data-testid=alert-review]")  # not an alarm panel's
    note = "Visitor badge 42 checked, escorted to reception"
    review.locator("textarea[name=note]").fill(note)
    page.context.clear_cookies()
    review.get_by_role("button", name="Dismiss").click()
    page.locator(".login-messages .banner").wait_for()
    notice = page.locator(".login-messages").inner_text()
    assert "session" in notice and "Sign in again" in notice
    still = _api(console, camera_server, "GET", "/v1/alerts?state=open&limit=100")
    assert isinstance(still, dict)
    assert alert_id in {a["sighting_id"] for a in still["sightings"]}

    username, password = camera_server.users["operator"]
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    review.wait_for()
    assert review.get_attribute("data-sighting") == alert_id
    assert review.locator("textarea[name=note]").input_value() == note
    if "not recorded" in notice:  # the click met the ended session, not the poll
        page.get_by_test_id("decision-unsaved").wait_for()
    review.get_by_role("button", name="Dismiss").click()
    review.get_by_text("Dismissed by user:cam-operator").wait_for()
    assert note in review.inner_text()
    assert console.problems == []


def test_an_alarm_whose_camera_is_removed_meanwhile_can_still_be_silenced(
    cam_console: Console, camera_server: CameraServer, frames: Frames
) -> None:
    # An alarm waits at the desk; its camera is removed (its sightings go with it).
    # Pressing Acknowledge finds nothing to decide: the operator is told so, and the
    # alarm panel goes with its sound instead of sounding until a sign-out.
    console = cam_console
    page = console.page
    camera = _add_camera(console, camera_server, "dock-4", "Dock")
    _set_severity(console, camera_server, "alarm")
    console.login(*camera_server.users["operator"])
    page.get_by_test_id("alert-bell").wait_for()
    page.wait_for_timeout(1500)  # the first poll has run: what follows is new
    push_frame(page.request, camera_server, camera["camera_id"], frames.sighting, datetime.now(UTC))
    panel = page.get_by_test_id("alarm-panel")
    panel.locator("[data-testid=alert-name]").wait_for(timeout=10_000)
    _api(console, camera_server, "DELETE", f"/v1/cameras/{camera['camera_id']}")

    panel.get_by_role("button", name="Acknowledge").click()
    page.get_by_text("This alert has left the desk").first.wait_for()
    panel.wait_for(state="detached", timeout=5_000)
    assert page.evaluate("document.body.dataset.alarm") is None
    assert console.problems == []


def _dismiss_open_alarms(console: Console, server: CameraServer) -> None:
    """Alarms other tests left open would head the alarm panel: they are decided first."""
    left = _api(console, server, "GET", "/v1/alerts?state=open&severity=alarm&limit=100")
    assert isinstance(left, dict)
    for a in left["sightings"]:
        _api(console, server, "POST", f"/v1/alerts/{a['sighting_id']}/dismiss", data={})


def _burst(
    server: CameraServer,
    camera_id: str,
    count: int,
    first: str = "alarm",
    subject_id: str | None = None,
    at: datetime | None = None,
    rest: str = "log",
) -> list[str]:
    """``count`` alerts at one camera within a second, oldest first, the oldest ``first``.

    Written to the deployment's store as the ingest writes them, each with its
    ``sighting.record`` audit entry (frames enough for a hundred sightings would take
    minutes here).
    """
    from facewarden.service.warden import Warden
    from facewarden.store.cameras import SightingRow

    now = at or datetime.now(UTC)
    rows = [
        SightingRow(
            f"sig_{i:04d}{camera_id[-12:]}",
            subject_id or server.subject_id,
            camera_id,
            server.watchlist_id,
            now - timedelta(milliseconds=5 * (count - i)),
            now - timedelta(milliseconds=5 * (count - i)),
            0.9,
            now + timedelta(hours=1),
            severity=first if i == 0 else rest,
        )
        for i in range(count)
    ]
    with (
        Warden.open(server.settings, actor="test:burst") as warden,
        warden._ctx.writing() as tx,  # the ingest's own transaction, audit anchor and all
    ):
        for row in rows:
            tx.insert_sighting(row)
            warden.audit.append(
                tx,
                "sighting.record",
                object_type="sighting",
                object_id=row.sighting_id,
                purpose=f"camera {camera_id}",
                details={"camera": camera_id},
            )
    return [r.sighting_id for r in rows]


def test_a_burst_of_alerts_larger_than_a_page_raises_its_oldest_alarm_and_heads_the_queue(
    cam_console: Console, camera_server: CameraServer
) -> None:
    # 130 alerts land between two polls (a crowd at a gate, or a tab left in the
    # background): the feed reads them all, so the alarm among the oldest is raised,
    # not skipped with everything older than the newest page.
    console = cam_console
    page = console.page
    camera = _add_camera(console, camera_server, "dock-5", "Dock")
    console.login(*camera_server.users["operator"])
    page.get_by_test_id("alert-bell").wait_for()
    page.wait_for_timeout(1500)  # the first poll has run: what follows is new
    ids = _burst(camera_server, camera["camera_id"], 130)
    panel = page.get_by_test_id("alarm-panel")
    panel.locator("[data-testid=alert-name]").wait_for(timeout=10_000)
    assert panel.get_by_test_id("alert-review").get_attribute("data-sighting") == ids[0]
    page.get_by_test_id("alert-bell").get_by_text("99+").wait_for()

    # The open queue holds more than a page: it says so, and the alarm heads it.
    console.open("alerts")
    listed = page.get_by_test_id("alert-list")
    first = listed.locator("tr[data-sighting]").first
    first.wait_for()
    assert first.get_attribute("data-sighting") == ids[0]
    assert first.get_attribute("data-severity") == "alarm"
    assert listed.get_by_test_id("alerts-more").is_visible()
    assert console.problems == []


def test_the_queue_is_worked_past_its_first_page_while_another_desk_decides(
    cam_console: Console, camera_server: CameraServer
) -> None:
    # A busy shift: 230 open alerts, more than two pages. The operator reads on page
    # after page, oldest first, while another desk dismisses alerts on the page shown
    # and on those not read yet: every alert left open is listed once, none skipped.
    console = cam_console
    page = console.page
    camera = _add_camera(console, camera_server, "hall-9", "Hall")
    ids = _burst(camera_server, camera["camera_id"], 230, first="log")
    console.login(*camera_server.users["operator"])
    console.open(f"alerts?state=open&order=oldest&camera={camera['camera_id']}")
    listed = page.get_by_test_id("alert-list")
    rows = listed.locator("tr[data-sighting]")
    listed.get_by_test_id("alerts-more").wait_for()
    assert rows.count() == 100
    console.shot("35-alerts-more")
    gone = ids[10:15] + ids[150:155]  # on the page shown, and on one not read yet
    for sighting in gone:
        _api(console, camera_server, "POST", f"/v1/alerts/{sighting}/dismiss", data={})
    # The desk sees the decisions (its poll): they leave the page, the next ones move up.
    listed.locator(f"tr[data-sighting={ids[10]}]").wait_for(state="detached")
    assert rows.count() == 100
    for shown in (200, 220):
        before = rows.count()
        listed.get_by_role("button", name="Show the next 100").click()
        page.wait_for_function(
            "(n) => document.querySelectorAll('[data-testid=alert-list] tr[data-sighting]')"
            ".length === n",
            arg=shown,
        )
        # The keyboard goes on at the first row the click showed, not at the page's top.
        focused = page.evaluate("document.activeElement.closest('tr')?.dataset.sighting")
        assert focused == rows.nth(before).get_attribute("data-sighting")
    assert listed.get_by_test_id("alerts-more").count() == 0
    got = [rows.nth(i).get_attribute("data-sighting") for i in range(rows.count())]
    assert got == [s for s in ids if s not in gone]
    assert console.problems == []


def test_a_note_is_added_to_a_decided_alert_and_kept(
    cam_console: Console, camera_server: CameraServer
) -> None:
    # Later in the shift the reviewer adds what was learnt; the decision stands.
    console = cam_console
    page = console.page
    camera = _add_camera(console, camera_server, "lobby-2", "Lobby")
    (sighting,) = _burst(camera_server, camera["camera_id"], 1, first="log")
    path = f"/v1/alerts/{sighting}/dismiss"
    _api(console, camera_server, "POST", path, data={"note": "Not him: a visitor"})
    console.login(*camera_server.users["operator"])
    console.open(f"alerts/{sighting}")
    review = page.get_by_test_id("alert-review")
    form = review.get_by_role("form", name="Add a note")
    form.get_by_role("button", name="Add note").click()
    form.get_by_text("The note is empty").wait_for()
    later = "Confirmed with the guard on site: visitor badge V-12"
    form.locator("textarea").fill(later)
    form.get_by_role("button", name="Add note").click()
    review.get_by_test_id("alert-notes").get_by_text(later).wait_for()
    assert form.locator("textarea").input_value() == ""
    page.reload()
    notes = page.get_by_test_id("alert-notes")
    notes.get_by_text(later).wait_for()
    assert "Not him: a visitor" in page.get_by_test_id("alert-review").inner_text()
    console.shot("36-alert-notes")
    assert console.problems == []


def test_an_erased_persons_alarm_leaves_every_desk_without_a_reload(
    cam_console: Console,
    camera_server: CameraServer,
    browser: playwright_sync.Browser,
    faces_dir: Path,
) -> None:
    # The person is erased while their alarm sounds at one desk and their alert's review
    # is open at another: neither may keep showing the name and faces of someone the
    # deployment no longer holds, nor sound for an alert nobody can decide.
    from facewarden.service import SubjectRecord
    from facewarden.service.warden import Warden

    console = cam_console
    page = console.page
    camera = _add_camera(console, camera_server, "annex-3", "Annex", keep_thumbnails=True)
    with Warden.open(camera_server.settings, actor="test:enroll") as warden:
        subject = warden.registry.enroll(
            SubjectRecord(full_name="Joe Biden", lawful_basis="test"),
            [faces_dir / "face_recognition" / "examples" / "biden.jpg"],
            watchlists=(WATCHLIST,),
        ).subject_id
    _dismiss_open_alarms(console, camera_server)
    console.login(*camera_server.users["operator"])
    page.get_by_test_id("alert-bell").wait_for()
    page.wait_for_timeout(1500)  # the first poll has run: what follows is new
    (sighting,) = _burst(camera_server, camera["camera_id"], 1, subject_id=subject)
    panel = page.get_by_test_id("alarm-panel")
    panel.get_by_test_id("alert-name").get_by_text("Joe Biden").wait_for(timeout=10_000)
    with second_tab(browser, camera_server) as other:
        other.login(*camera_server.users["admin"])  # a second desk
        other.open(f"alerts/{sighting}")
        review = other.page.locator("#main").get_by_test_id("alert-review")
        review.get_by_text("Joe Biden").wait_for()
        _api(console, camera_server, "DELETE", f"/v1/subjects/{subject}")
        panel.wait_for(state="detached", timeout=6_000)
        review.get_by_text("Joe Biden").wait_for(state="detached", timeout=6_000)
        assert "Joe Biden" not in other.page.content()
        assert other.problems == []
    assert page.evaluate("document.body.dataset.alarm") is None
    assert "Joe Biden" not in page.content()
    assert console.problems == []


def test_an_alarm_recorded_late_for_an_earlier_moment_is_still_raised(
    cam_console: Console, camera_server: CameraServer
) -> None:
    # A face tracked from afar is identified seconds later, once it is large enough, and
    # a lagging camera's frames are processed late: its sighting is recorded after others
    # that were first seen later. The desk must still raise it: an alarm missed because
    # its moment sorts before what the desk had already seen never sounds.
    from facewarden.service.warden import Warden

    console = cam_console
    page = console.page
    near = _add_camera(console, camera_server, "gate-near", "Near gate")
    far = _add_camera(console, camera_server, "gate-far", "Far gate")
    _set_severity(console, camera_server, "log")
    _dismiss_open_alarms(console, camera_server)
    console.login(*camera_server.users["operator"])
    page.get_by_test_id("alert-bell").wait_for()

    def record(camera_id: str, first_seen: datetime) -> str:
        with Warden.open(camera_server.settings, actor="test:ingest") as warden:
            camera = warden.store.get_camera(camera_id)
            assert camera is not None
            return warden.sightings.open_visit(
                camera,
                camera_server.subject_id,
                camera_server.watchlist_id,
                first_seen,
                first_seen + timedelta(seconds=2),
                0.9,
            )

    try:
        record(near["camera_id"], datetime.now(UTC))
        page.wait_for_timeout(2500)  # the desk has polled: it has seen the near gate's alert
        _set_severity(console, camera_server, "alarm")
        late = record(far["camera_id"], datetime.now(UTC) - timedelta(seconds=20))
        panel = page.get_by_test_id("alarm-panel")
        panel.get_by_test_id("alert-review").wait_for(timeout=8_000)
        assert panel.get_by_test_id("alert-review").get_attribute("data-sighting") == late
    finally:
        _set_severity(console, camera_server, "alert")
        _dismiss_open_alarms(console, camera_server)  # none left to the next test
    assert console.problems == []


def test_an_occupancy_alert_stored_late_for_an_earlier_moment_is_still_shown(
    cam_console: Console, camera_server: CameraServer
) -> None:
    # An occupancy alert is dated by its frame: a lagging camera's (a worker behind, a
    # pushed frame stamped by a camera that buffered) is stored after another camera's
    # later one. The desk asked only for alerts after the newest it held, so it never
    # showed the late one.
    from facewarden.service.warden import Warden
    from facewarden.store.cameras import OccupancyAlertRow

    console = cam_console
    page = console.page
    lobby = _add_camera(console, camera_server, "lobby-now", "Lobby")
    hall = _add_camera(console, camera_server, "hall-late", "Hall")
    console.login(*camera_server.users["operator"])
    page.get_by_test_id("alert-bell").wait_for()

    def occupancy(camera_id: str, at: datetime, people: int) -> None:
        with (
            Warden.open(camera_server.settings, actor="test:ingest") as warden,
            warden.store.transaction() as tx,
        ):
            tx.insert_occupancy_alert(OccupancyAlertRow(camera_id, at, people, 4))

    occupancy(lobby["camera_id"], datetime.now(UTC), 51)
    page.get_by_text("51 people in view").first.wait_for(timeout=8_000)
    occupancy(hall["camera_id"], datetime.now(UTC) - timedelta(seconds=40), 47)
    page.get_by_text("47 people in view").first.wait_for(timeout=8_000)
    assert console.problems == []


def test_an_alert_leaves_an_open_list_when_it_passes_the_live_window(
    cam_console: Console, camera_server: CameraServer
) -> None:
    # A quiet site: nothing new, nothing decided, the list never reloads. An alert
    # older than the live window is part of a person's movements (promise 18): the
    # list left open on a desk must not keep it.
    console = cam_console
    page = console.page
    camera = _add_camera(console, camera_server, "yard-7", "Yard")
    window = timedelta(minutes=60)  # the server's live window (the default)
    leaving = datetime.now(UTC) - window + timedelta(seconds=8)
    (old,) = _burst(camera_server, camera["camera_id"], 1, first="log", at=leaving)
    console.login(*camera_server.users["operator"])
    console.open(f"alerts?state=all&camera={camera['camera_id']}")
    row = page.get_by_test_id("alert-list").locator(f"tr[data-sighting={old}]")
    row.wait_for()
    row.wait_for(state="detached", timeout=20_000)
    assert console.problems == []


def test_a_review_open_at_another_desk_shows_the_decision_with_its_note(
    cam_console: Console, camera_server: CameraServer, browser: playwright_sync.Browser
) -> None:
    # Two desks have the same alert open; one dismisses it saying why. The other desk's
    # review turns to "Dismissed by" without a reload, and says why too: without the
    # note it reads as a dismissal nobody explained. The note that desk was typing stays.
    console = cam_console
    page = console.page
    camera = _add_camera(console, camera_server, "foyer-4", "Foyer")
    (sighting,) = _burst(camera_server, camera["camera_id"], 1, first="log")
    console.login(*camera_server.users["operator"])
    console.open(f"alerts/{sighting}")
    mine = page.locator("#main").get_by_test_id("alert-review")
    mine.get_by_role("button", name="Dismiss").wait_for()
    mine.locator("textarea[name=note]").fill("Guard on his way to the foyer")
    with second_tab(browser, camera_server) as other:
        other.login(*camera_server.users["admin"])
        other.open(f"alerts/{sighting}")
        theirs = other.page.locator("#main").get_by_test_id("alert-review")
        theirs.locator("textarea[name=note]").fill("Not him: a courier with a visitor badge")
        theirs.get_by_role("button", name="Dismiss").click()
        theirs.get_by_text("Dismissed by").wait_for()
        assert other.problems == []
    mine.get_by_text("Dismissed by user:cam-admin").wait_for(timeout=6_000)
    mine.get_by_text("Not him: a courier with a visitor badge").wait_for(timeout=3_000)
    # What this desk was typing is not lost: it waits to be added as a later note, and
    # the typing goes on there, at its end.
    typed = mine.locator("textarea[name=later-note]").input_value()
    assert typed == "Guard on his way to the foyer"
    page.keyboard.type(", radioed")
    later = mine.locator("textarea[name=later-note]").input_value()
    assert later == "Guard on his way to the foyer, radioed"
    assert console.problems == []


def test_alarms_waiting_in_the_panel_are_opened_one_at_a_time(
    cam_console: Console, camera_server: CameraServer
) -> None:
    # A shift begins with alarms open: the panel shows the first and counts the rest.
    # Opening an alarm names its subject and is audited (alert.show); one waiting behind
    # it is not shown, so it must not be opened (nor its name held) until its turn.
    from facewarden.service.warden import Warden

    console = cam_console
    page = console.page
    _dismiss_open_alarms(console, camera_server)
    camera = _add_camera(console, camera_server, "stair-6", "Stairs")
    ids = _burst(camera_server, camera["camera_id"], 6, first="alarm", rest="alarm")
    console.login(*camera_server.users["operator"])
    panel = page.get_by_test_id("alarm-panel")
    panel.get_by_text("5 more waiting").wait_for(timeout=10_000)
    panel.get_by_test_id("alert-name").wait_for()
    page.wait_for_timeout(1500)  # a poll or more: nothing else is opened meanwhile
    with Warden.open(camera_server.settings, actor="test:audit") as warden:
        shown = {
            e.object_id
            for i in ids
            for e in warden.audit.entries(object_id=i, limit=100)
            if e.action == "alert.show"
        }
    assert len(shown) == 1, f"{len(shown)} alarms opened, one shown"
    panel.get_by_role("button", name="Dismiss").click()
    panel.get_by_text("4 more waiting").wait_for()
    _dismiss_open_alarms(console, camera_server)  # none left to the next test
    panel.wait_for(state="detached", timeout=6_000)
    assert console.problems == []


def test_the_queue_is_worked_through_review_after_review(
    cam_console: Console, camera_server: CameraServer
) -> None:
    # After each decision the operator goes on to the next open alert of the queue they
    # chose (its camera, its order), not back to the list and down to the next row.
    console = cam_console
    page = console.page
    camera = _add_camera(console, camera_server, "quay-3", "Quay")
    ids = _burst(camera_server, camera["camera_id"], 3, first="log")
    console.login(*camera_server.users["operator"])
    console.open(f"alerts?state=open&order=oldest&camera={camera['camera_id']}")
    page.get_by_test_id("alert-list").locator("tr[data-sighting]").first.get_by_role(
        "link", name="Review"
    ).click()
    for sighting in ids:
        review = page.locator("#main").get_by_test_id("alert-review")
        review.get_by_role("button", name="Dismiss").wait_for()
        assert review.get_attribute("data-sighting") == sighting
        review.get_by_role("button", name="Dismiss").click()
        page.locator("#main").get_by_role("button", name="Next open alert").click()
    page.get_by_text("No open alerts left in the live window").wait_for()
    assert console.problems == []


def test_back_from_a_review_is_the_queue_as_it_was_filtered(
    cam_console: Console, camera_server: CameraServer
) -> None:
    # An operator works one camera's alerts, oldest first: a review and back, or a reload,
    # must not drop them into every camera's alerts in another order.
    console = cam_console
    page = console.page
    camera = _add_camera(console, camera_server, "ramp-2", "Ramp")
    _burst(camera_server, camera["camera_id"], 2, first="log")
    console.login(*camera_server.users["operator"])
    console.open("alerts")
    form = page.get_by_role("form", name="Filter the alerts")
    form.locator("select[name=camera]").select_option(camera["camera_id"])
    form.locator("select[name=order]").select_option("oldest")
    form.locator("select[name=state]").select_option("all")
    rows = page.get_by_test_id("alert-list").locator("tr[data-sighting]")
    page.wait_for_function(
        "() => document.querySelectorAll('[data-testid=alert-list] tr[data-sighting]').length === 2"
    )
    rows.first.get_by_role("link", name="Review").click()
    page.get_by_role("link", name="← All alerts").click()
    for _ in range(2):  # back from the review, then a reload
        form.locator("select[name=camera]").wait_for()
        page.wait_for_function(
            "() => document.querySelectorAll('[data-testid=alert-list] tr[data-sighting]')"
            ".length === 2"
        )
        assert form.locator("select[name=camera]").input_value() == camera["camera_id"]
        assert form.locator("select[name=order]").input_value() == "oldest"
        assert form.locator("select[name=state]").input_value() == "all"
        page.reload()
    assert console.problems == []


def test_an_alert_is_escalated_from_the_keyboard(
    cam_console: Console, camera_server: CameraServer, frames: Frames
) -> None:
    console = cam_console
    page = console.page
    camera = _add_camera(console, camera_server, "dock-6", "Dock")
    _set_severity(console, camera_server, "log")
    answer = push_frame(
        page.request, camera_server, camera["camera_id"], frames.sighting, datetime.now(UTC)
    )
    (alert_id,) = answer["new_sightings"]  # type: ignore[misc]
    console.login(*camera_server.users["operator"])
    console.open(f"alerts/{alert_id}")
    review = page.locator("main [data-testid=alert-review]")  # not an alarm panel's
    # When, to the second (to find it in the camera's recording), in the shown zone.
    seen = review.locator(".review-facts time").first.inner_text()
    assert re.search(r"\d\d:\d\d:\d\d", seen), seen
    review.locator("textarea[name=note]").focus()
    page.keyboard.type("Handed to the duty supervisor")
    for _ in range(3):  # Acknowledge, Dismiss, Escalate
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Escalate"
    page.keyboard.press("Enter")
    review.get_by_text("Escalated by user:cam-operator").wait_for()
    assert "Handed to the duty supervisor" in review.inner_text()
    assert console.problems == []


def test_an_alarm_is_raised_while_the_console_sits_in_a_background_tab(
    cam_console: Console, camera_server: CameraServer, frames: Frames
) -> None:
    # The operator works in another window: the console's tab is hidden. An alarm
    # must still come up (panel, sound) and the tab's title must count it.
    console = cam_console
    page = console.page
    camera = _add_camera(console, camera_server, "dock-7", "Dock")
    _set_severity(console, camera_server, "alarm")
    console.login(*camera_server.users["operator"])
    page.get_by_test_id("alert-bell").wait_for()
    page.wait_for_timeout(1500)  # the first poll has run: what follows is new
    console.open("alerts")  # seen: the title counts only what comes next
    page.get_by_test_id("alert-list").wait_for()
    console.open("")
    page.locator(".page-dashboard").wait_for()
    # As the browser reports a tab behind another window.
    page.evaluate(
        """() => {
            Object.defineProperty(document, "visibilityState", { get: () => "hidden" });
            Object.defineProperty(document, "hidden", { get: () => true });
            document.dispatchEvent(new Event("visibilitychange"));
        }"""
    )
    push_frame(page.request, camera_server, camera["camera_id"], frames.sighting, datetime.now(UTC))
    page.get_by_test_id("alarm-panel").locator("[data-testid=alert-name]").wait_for(timeout=10_000)
    assert page.evaluate("document.body.dataset.alarm") == "sounding"
    page.wait_for_function("() => document.title.startsWith('(1) ')")
    assert console.problems == []


def test_an_alert_from_a_camera_added_after_sign_in_names_the_camera(
    cam_console: Console, camera_server: CameraServer, frames: Frames
) -> None:
    console = cam_console
    page = console.page
    console.login(*camera_server.users["operator"])
    page.get_by_test_id("alert-bell").wait_for()
    page.wait_for_timeout(1500)  # the first poll has run: what follows is new
    camera = _add_camera(console, camera_server, "dock-8", "Dock")
    _set_severity(console, camera_server, "alert")
    push_frame(page.request, camera_server, camera["camera_id"], frames.sighting, datetime.now(UTC))
    toast = page.get_by_test_id("alert-toast").filter(has_text="Watchlist subject sighted")
    toast.first.wait_for(timeout=5_000)
    text = toast.first.inner_text()
    assert "dock-8" in text and camera["camera_id"] not in text
    assert console.problems == []


def test_alarms_are_decided_from_the_keyboard_alone(
    cam_console: Console, camera_server: CameraServer, frames: Frames
) -> None:
    # The alarm panel takes the keyboard when it comes up (Enter on the panel itself
    # decides nothing): a keyboard-only operator tabs to Acknowledge, and on to the
    # next alarm, until none is left; focus goes back where it was.
    console = cam_console
    page = console.page
    camera = _add_camera(console, camera_server, "dock-9", "Dock")
    _set_severity(console, camera_server, "alarm")
    console.login(*camera_server.users["operator"])
    page.get_by_test_id("alert-bell").wait_for()
    page.wait_for_timeout(1500)  # the first poll has run: what follows is new
    page.locator(".nav-link[data-nav='alerts']").focus()
    push_frame(page.request, camera_server, camera["camera_id"], frames.sighting, datetime.now(UTC))
    panel = page.get_by_test_id("alarm-panel")
    panel.locator("[data-testid=alert-name]").wait_for(timeout=10_000)
    for _ in range(10):  # this alarm, and any left open before it
        if not panel.count():
            break
        page.wait_for_function(
            "() => document.querySelector('[data-testid=alarm-panel]')"
            "?.contains(document.activeElement)"
        )
        page.keyboard.press("Enter")  # on the panel: nothing decided
        assert panel.count() == 1
        for _ in range(8):
            if page.evaluate("document.activeElement.textContent") == "Acknowledge":
                break
            page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent") == "Acknowledge"
        page.keyboard.press("Enter")
        page.wait_for_timeout(300)
    panel.wait_for(state="detached")
    assert page.evaluate("document.activeElement.dataset.nav") == "alerts"
    assert console.problems == []
