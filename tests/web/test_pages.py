"""Every page of the console, per role, at 1440x900 and at a phone's 390x844 (issue 14).

Each page a role may open is screenshotted at both sizes into
``tests/web/artifacts/pages/`` for people to look at. At 390 px nothing may
scroll sideways (the page's width stays the viewport's), the navigation is
folded behind a Menu button, and the header shows the time zone. The
analyst's and the auditor's pages never show a name, a photo or a subject
id (the auditor's audit log names objects by id: that is what it is for).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import ARTIFACTS, Console
from .conftest_cameras import WATCHLIST, CameraServer, Frames, push_frame, second_tab

pytestmark = pytest.mark.slow

playwright_sync = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
SHOTS = ARTIFACTS / "pages"

PAGES: dict[str, list[str]] = {
    "admin": [
        "",
        "enroll",
        "search",
        "verify",
        "subjects",
        "subjects/{subject}",
        "watchlists",
        "cameras",
        "crowd",
        "alerts",
        "alerts/{sighting}",
        "sightings",
        "requests",
        "audit",
        "admin",
    ],
    "operator": ["", "alerts", "alerts/{sighting}", "sightings", "cameras", "subjects/{subject}"],
    "investigator": ["", "sightings", "requests", "subjects/{subject}"],
    "analyst": ["", "cameras", "crowd"],
    "auditor": ["", "audit"],
}


@pytest.fixture(scope="module")
def sighting(
    browser: playwright_sync.Browser, camera_server: CameraServer, frames: Frames
) -> Iterator[str]:
    """An alert in the live window, at a camera that keeps face crops."""
    with second_tab(browser, camera_server) as tab:
        created = tab.page.request.post(
            f"{camera_server.url}/v1/cameras",
            data={
                "name": "pages-door",
                "location": "Main door",
                "watchlists": [WATCHLIST],
                "keep_thumbnails": True,
            },
            headers={"X-API-Key": camera_server.api_key},
        )
        assert created.ok, created.text()
        answer = push_frame(
            tab.page.request, camera_server, created.json()["camera_id"], frames.sighting
        )
        (made,) = answer["new_sightings"]  # type: ignore[misc]
    yield str(made)


def _settle(console: Console) -> None:
    page = console.page
    dialog = page.locator("dialog.modal")
    if dialog.count() and dialog.locator("input[name=case_reference]").count():
        dialog.locator("input[name=case_reference]").fill("CASE-2026-0900")
        dialog.get_by_role("button", name="Open subject").click()
    page.locator("main .loading").first.wait_for(state="detached", timeout=20_000)
    page.wait_for_load_state("networkidle")
    page.evaluate("document.getElementById('toasts')?.replaceChildren()")


def _shot(console: Console, name: str, size: dict[str, int]) -> None:
    page = console.page
    page.set_viewport_size(size)
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], height)})
    page.evaluate("window.scrollTo(0, 0)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"))
    page.set_viewport_size(size)


def _sideways(console: Console) -> int:
    """How many pixels the page is wider than the viewport (0: nothing scrolls sideways)."""
    return int(
        console.page.evaluate(
            "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
            " - window.innerWidth"
        )
    )


@pytest.mark.parametrize("role", sorted(PAGES))
def test_every_page_at_desktop_and_phone_width(
    cam_console: Console, camera_server: CameraServer, sighting: str, role: str
) -> None:
    console = cam_console
    page = console.page
    console.open()
    page.get_by_label("Username").wait_for()
    _shot(console, "login-desktop", DESKTOP)
    _shot(console, "login-phone", PHONE)
    page.set_viewport_size(DESKTOP)
    console.login(*camera_server.users[role])
    zone = page.get_by_test_id("time-zone").inner_text()
    assert zone.strip()
    overflowing: list[str] = []
    for route in PAGES[role]:
        path = route.format(subject=camera_server.subject_id, sighting=sighting)
        name = f"{role}-{route.split('/')[0] or 'dashboard'}{'-one' if '/' in route else ''}"
        page.set_viewport_size(DESKTOP)
        console.open(path)
        _settle(console)
        # A page that failed to render shows an error banner instead of itself.
        failed = page.locator("main .banner-danger")
        assert failed.count() == 0, f"{path}: {failed.first.inner_text()}"
        _shot(console, f"{name}-desktop", DESKTOP)
        page.set_viewport_size(PHONE)
        page.wait_for_timeout(150)
        if _sideways(console) > 0:
            overflowing.append(f"{path or 'dashboard'}: {_sideways(console)} px")
        assert page.get_by_test_id("nav-toggle").is_visible()
        assert not page.locator(".sidebar .nav").is_visible()  # folded on a phone
        _shot(console, f"{name}-phone", PHONE)
        if role in ("analyst", "auditor"):
            text = page.locator("body").inner_text()
            assert "Obama" not in text, path
            if not route.startswith("audit"):
                assert camera_server.subject_id not in text, path
            assert page.locator("img[src*='/photos/'], img[src^='blob:']").count() == 0, path
    assert overflowing == [], f"pages that scroll sideways at 390 px: {overflowing}"
    # The folded navigation opens and closes again after a pick.
    page.get_by_test_id("nav-toggle").click()
    page.locator(".sidebar .nav").wait_for()
    page.locator(".sidebar .nav a").first.click()
    page.locator(".sidebar .nav").wait_for(state="hidden")
    assert console.problems == []


# Markup, a script URL and quotes, typed into every field the console shows.
MARKUP = '<img src=x onerror="window.pwned=1"><b class="pwned">x</b> javascript:alert(1) "\''
_WATCH = """
window.violations = [];
document.addEventListener(
  "securitypolicyviolation", (e) => window.violations.push(e.violatedDirective)
);
"""


def _as(tab: Console, method: str, path: str, body: object) -> playwright_sync.APIResponse:
    """A console request of the signed-in person (session cookie and its CSRF token)."""
    me = tab.page.request.get(f"{tab.base}/v1/auth/me").json()
    response = tab.page.request.fetch(
        f"{tab.base}{path}",
        method=method,
        data=json.dumps(body),
        headers={"Content-Type": "application/json", "X-CSRF-Token": me["csrf_token"]},
    )
    assert response.ok, f"{method} {path}: {response.status} {response.text()}"
    return response


def test_text_anyone_typed_is_shown_as_text_on_every_page(
    browser: playwright_sync.Browser,
    cam_console: Console,
    camera_server: CameraServer,
    frames: Frames,
    faces_dir: Path,
) -> None:
    """Stored XSS: names, purposes, places, notes, case references and key names, set by
    operators and API clients, are shown as the text typed on every page that shows them;
    none becomes an element, a script or a link, and nothing breaks the CSP."""
    key = {"X-API-Key": camera_server.api_key}  # an operator's API client
    request = cam_console.page.request
    base = camera_server.url
    listed = request.post(
        f"{base}/v1/watchlists",
        data=json.dumps({"name": MARKUP[:64], "purpose": MARKUP, "lawful_basis": MARKUP}),
        headers={**key, "Content-Type": "application/json"},
    )
    assert listed.ok, listed.text()
    photo = (faces_dir / "face_recognition" / "examples" / "obama.jpg").read_bytes()
    enrolled = request.post(
        f"{base}/v1/subjects",
        multipart={
            "record": json.dumps({"full_name": MARKUP, "lawful_basis": MARKUP, "notes": MARKUP}),
            "file": {"name": f"{MARKUP}.jpg", "mimeType": "image/jpeg", "buffer": photo},
            "watchlist": listed.json()["watchlist_id"],
            "force": "true",
        },
        headers=key,
    )
    assert enrolled.ok, enrolled.text()
    subject = enrolled.json()["subject_id"]
    camera = request.post(
        f"{base}/v1/cameras",
        data=json.dumps(
            {"name": MARKUP[:64], "location": MARKUP, "watchlists": [listed.json()["watchlist_id"]]}
        ),
        headers={**key, "Content-Type": "application/json"},
    )
    assert camera.ok, camera.text()
    pushed = push_frame(request, camera_server, camera.json()["camera_id"], frames.sighting)
    (sighting,) = pushed["new_sightings"]  # type: ignore[misc]
    with second_tab(browser, camera_server) as investigator:
        investigator.login(*camera_server.users["investigator"])
        _as(investigator, "POST", f"/v1/subjects/{subject}/history", {
            "hours": 24, "case_reference": MARKUP[:128], "reason": MARKUP,
        })  # fmt: skip
    page = cam_console.page
    page.add_init_script(_WATCH)
    cam_console.login(*camera_server.users["admin"])
    _as(cam_console, "POST", f"/v1/alerts/{sighting}/escalate", {"note": MARKUP})
    _as(cam_console, "POST", "/v1/api-keys", {"name": MARKUP[:64], "role": "analyst"})
    for route in (
        "",
        f"subjects/{subject}",
        "watchlists",
        "cameras",
        "alerts",
        f"alerts/{sighting}",
        "requests",
        "admin",
    ):
        cam_console.open(route)
        _settle(cam_console)
        found = page.evaluate(
            """() => ({
                shown: document.querySelector("main").innerText.includes('class="pwned"'),
                elements: document.querySelectorAll(".pwned, img[src='x']").length,
                links: document.querySelectorAll("[href^='javascript'],[src^='javascript']").length,
                ran: window.pwned === 1,
                violations: window.violations,
            })"""
        )
        assert found == {
            "shown": True, "elements": 0, "links": 0, "ran": False, "violations": []
        }, route  # fmt: skip
    assert cam_console.problems == []
