"""Issue 13 finding 2, written as the attack: rebuild a person's route from the operator routes.

A subject walked lobby -> clinic door -> gate over the last five hours
(sightings written through the service the frame processor uses, at their
real times). An operator, and an investigator whose history request is
still pending, page ``GET /v1/sightings`` back hour by hour and poll
``GET /v1/alerts`` with an old ``since``: nothing older than the live window
(``live_window_minutes``) comes back; asking further back is refused (403)
and the refusal is audited. The history flow, with a case reference and a
second person's approval, is the one way to the older sightings.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from facewarden.service import SubjectRecord

from ._live import FAST, LiveServer, serving

WINDOW_MINUTES = 30
CASE = "CASE-2026-0442"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    root = tmp_path_factory.mktemp("live-window")
    with serving(
        root, history_approval=True, live_window_minutes=WINDOW_MINUTES, **FAST
    ) as running:
        yield running


@pytest.fixture(scope="module")
def route(live: LiveServer, photos: dict[str, Path]) -> dict[str, str]:
    """One subject seen at three cameras: 5 h ago, 2 h ago, and 10 minutes ago."""
    warden = live.warden
    warden.watchlists.create("entrance", purpose="site access", lawful_basis="test")
    record = SubjectRecord(full_name="Barack Obama", lawful_basis="test")
    subject = warden.registry.enroll(record, [photos["obama"]], watchlists=("entrance",))
    now = datetime.now(UTC)
    ids: dict[str, str] = {"subject": subject.subject_id}
    for name, ago in (("lobby", 300), ("clinic-door", 120), ("gate", 10)):
        warden.cameras.add(name, location=name, watchlists=["entrance"])
        camera = warden.store.camera_by_name(name)
        assert camera is not None
        first = now - timedelta(minutes=ago)
        ids[name] = warden.sightings.open_visit(
            camera,
            subject.subject_id,
            camera.watchlists[0],
            first,
            first + timedelta(seconds=20),
            0.9,
        )
    return ids


def _page_back(client: httpx.Client, camera: str) -> tuple[set[str], list[int]]:
    """Every sighting id the route gives, one hour at a time over the last 8 hours."""
    seen: set[str] = set()
    statuses: list[int] = []
    now = datetime.now(UTC)
    for hour in range(8):
        end = now - timedelta(hours=hour)
        response = client.get(
            "/v1/sightings",
            params={
                "camera": camera,
                "watchlist": "entrance",
                "start": (end - timedelta(hours=1)).isoformat(),
                "end": end.isoformat(),
            },
        )
        statuses.append(response.status_code)
        if response.status_code == 200:
            seen |= {s["sighting_id"] for s in response.json()["sightings"]}
    return seen, statuses


@pytest.mark.parametrize("role", ["operator", "investigator", "admin"])
def test_paging_sightings_back_in_time_gives_nothing_older_than_the_live_window(
    live: LiveServer, route: dict[str, str], role: str
) -> None:
    with live.client(role) as client:
        seen: set[str] = set()
        for camera in ("lobby", "clinic-door", "gate"):
            found, statuses = _page_back(client, camera)
            seen |= found
            assert set(statuses) == {403}, statuses  # every page starts before the window
            live_view = client.get(
                "/v1/sightings", params={"camera": camera, "watchlist": "entrance"}
            )
            assert live_view.status_code == 200, live_view.text
            seen |= {s["sighting_id"] for s in live_view.json()["sightings"]}
            refused = client.get(
                "/v1/sightings",
                params={
                    "camera": camera,
                    "watchlist": "entrance",
                    "start": (datetime.now(UTC) - timedelta(days=1)).isoformat(),
                },
            )
            assert refused.status_code == 403
            assert "live window" in refused.json()["error"]["message"]
    assert seen == {route["gate"]}


def test_a_visit_that_began_before_the_window_shows_from_the_window_on(
    live: LiveServer, route: dict[str, str]
) -> None:
    warden = live.warden
    camera = warden.store.camera_by_name("gate")
    assert camera is not None
    long_ago = datetime.now(UTC) - timedelta(hours=3)
    visit = warden.sightings.open_visit(
        camera, route["subject"], camera.watchlists[0], long_ago, datetime.now(UTC), 0.9
    )
    with live.client("operator") as operator:
        body = operator.get("/v1/sightings", params={"camera": "gate", "watchlist": "entrance"})
    (shown,) = [s for s in body.json()["sightings"] if s["sighting_id"] == visit]
    floor = datetime.now(UTC) - timedelta(minutes=WINDOW_MINUTES, seconds=30)
    assert datetime.fromisoformat(shown["first_seen"]) >= floor


def test_alerts_with_an_old_since_reach_back_only_over_the_live_window(
    live: LiveServer, route: dict[str, str]
) -> None:
    with live.client("operator") as operator:
        since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
        body = operator.get("/v1/alerts", params={"since": since, "limit": 100})
        assert body.status_code == 200, body.text
        alerts = body.json()
    ids = {a["sighting_id"] for a in alerts["sightings"]}
    assert route["gate"] in ids
    assert not ids & {route["lobby"], route["clinic-door"]}
    floor = datetime.now(UTC) - timedelta(minutes=WINDOW_MINUTES, seconds=30)
    assert datetime.fromisoformat(alerts["since"]) >= floor
    assert all(datetime.fromisoformat(a["first_seen"]) >= floor for a in alerts["sightings"])


def test_the_older_route_comes_only_through_an_approved_case_referenced_history(
    live: LiveServer, route: dict[str, str]
) -> None:
    url = f"/v1/subjects/{route['subject']}/history"
    query = {"hours": 8, "case_reference": CASE}
    with live.client("investigator") as investigator:
        pending = investigator.post(url, json=query)
        assert pending.status_code == 202, pending.text
        request_id = pending.json()["request_id"]
        # While the request waits, the operator routes give nothing older either.
        found, statuses = _page_back(investigator, "lobby")
        assert not found and set(statuses) == {403}
        with live.client("investigator2") as second:
            approved = second.post(f"/v1/history-requests/{request_id}/approve")
            assert approved.status_code == 204, approved.text
        done = investigator.post(url, json=query | {"request_id": request_id})
        assert done.status_code == 200, done.text
    got = {s["sighting_id"] for s in done.json()["sightings"]}
    assert {route["lobby"], route["clinic-door"], route["gate"]} <= got


def test_refused_pages_are_audited(live: LiveServer, route: dict[str, str]) -> None:
    with live.client("operator") as operator:
        _page_back(operator, "lobby")
    denied = [
        e
        for e in live.warden.audit.entries(limit=1000)
        if e.action == "sightings.at_camera" and e.outcome == "denied"
    ]
    assert denied
