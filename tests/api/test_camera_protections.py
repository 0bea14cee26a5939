"""Attacks on the protections around cameras, over HTTP (issue 13, findings 8 and 9).

* A heatmap over one or two people standing in view for a while showed
  cells of one count per frame, published while every people count was
  suppressed, at sensitive cameras too: every cell must be suppressed.
* An operator could lift a place's sensitivity by removing its sensitive
  camera and adding it again as an ordinary one, and keep sightings for a
  year: only an admin may do either, audited.

A real server on loopback with the real models; frames are real photos.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from facewarden.service.cameras import resolve_camera

from ._live import LiveServer


def _camera(client: httpx.Client, name: str, **fields: Any) -> httpx.Response:
    return client.post("/v1/cameras", json={"name": name, "location": "north door"} | fields)


def _actions(live: LiveServer, camera_id: str) -> list[tuple[str, str]]:
    entries = live.warden.audit.entries(limit=500)
    return [(e.action, e.actor) for e in entries if e.object_id == camera_id]


@pytest.fixture(scope="module")
def watchlist(live: LiveServer) -> str:
    with live.client("operator") as operator:
        operator.post(
            "/v1/watchlists",
            json={"name": "entrance", "purpose": "site access", "lawful_basis": "art. 6(1)(f)"},
        ).raise_for_status()
    return "entrance"


# -- finding 8: the heatmap ----------------------------------------------------------


@pytest.mark.parametrize(
    ("camera", "photo", "sensitive"),
    [("clinic-door", "obama2", True), ("hall", "obama2", False), ("hall-two", "two_people", False)],
)
def test_a_heatmap_over_one_or_two_people_shows_no_cell(
    live: LiveServer, photos: dict[str, Path], camera: str, photo: str, sensitive: bool
) -> None:
    start = (datetime.now(UTC) - timedelta(minutes=5)).replace(second=0, microsecond=0)
    frame = photos[photo].read_bytes()
    with live.client("operator") as operator:
        created = _camera(operator, camera, location=f"{camera} place", sensitive=sensitive)
        assert created.status_code == 201, created.text
        for second in range(0, 40, 5):  # standing in view, eight frames
            pushed = operator.post(
                f"/v1/cameras/{camera}/frames",
                data={"taken_at": (start + timedelta(seconds=second)).isoformat()},
                files={"image": ("frame.jpg", frame, "image/jpeg")},
            )
            assert pushed.status_code == 200, pushed.text
            assert pushed.json()["faces"] >= 1
        assert operator.post(f"/v1/cameras/{camera}/frames/end").status_code == 200
    with live.client("analyst") as analyst:
        report = analyst.get(
            f"/v1/cameras/{camera}/crowd",
            params={"start": (start - timedelta(minutes=1)).isoformat()},
        )
        assert report.status_code == 200, report.text
        (bucket,) = report.json()["buckets"]
        assert bucket["frames"] == 8 and bucket["people_max"] is None
        assert [cell for row in bucket["heatmap"] for cell in row if cell is not None] == []
    stored = live.warden.store.crowd_buckets(
        resolve_camera(live.warden.store, camera).camera_id, start, start + timedelta(minutes=1)
    )
    assert max(max(map(max, row.heatmap)) for row in stored) in (1, 2)  # people, not frames


# -- finding 9: sensitivity and retention ----------------------------------------------


def test_an_operator_cannot_re_add_a_sensitive_camera_as_an_ordinary_one(
    live: LiveServer, watchlist: str
) -> None:
    with live.client("operator") as operator:
        first = _camera(operator, "chapel", location="Prayer room", sensitive=True)
        assert first.status_code == 201, first.text
        assert operator.delete("/v1/cameras/chapel").status_code == 204
        # The attack: the same place again, identifying.
        explicit = _camera(
            operator, "chapel", location="prayer  room", sensitive=False, watchlists=[watchlist]
        )
        assert explicit.status_code == 403, explicit.text
        assert explicit.json()["error"]["type"] == "PermissionDeniedError"
        implicit = _camera(operator, "chapel", location="PRAYER-ROOM", watchlists=[watchlist])
        assert implicit.status_code == 400, implicit.text
        assert "stays sensitive" in implicit.json()["error"]["message"]
        again = _camera(operator, "chapel", location="prayer room")
        assert again.status_code == 201, again.text
        assert again.json()["sensitive"] is True  # the place kept its sensitivity
        assert operator.delete("/v1/cameras/chapel").status_code == 204
    with live.client("admin") as admin:
        lifted = _camera(
            admin, "chapel", location="prayer room", sensitive=False, watchlists=[watchlist]
        )
        assert lifted.status_code == 201, lifted.text
        assert lifted.json()["sensitive"] is False
    camera_id = lifted.json()["camera_id"]
    actor = "key:" + live.keys["admin"].split("_")[1]  # fwk_<key id>_<secret>
    assert ("camera.sensitivity_lift", actor) in _actions(live, camera_id)


def test_a_sensitive_place_is_also_known_by_its_coordinates(live: LiveServer) -> None:
    with live.client("operator") as operator:
        gps = {"latitude": 48.137154, "longitude": 11.576124}
        made = _camera(operator, "shelter", location="shelter entrance", sensitive=True, **gps)
        assert made.status_code == 201, made.text
        assert operator.delete("/v1/cameras/shelter").status_code == 204
        renamed = _camera(operator, "side-door", location="side door", sensitive=False, **gps)
        assert renamed.status_code == 403, renamed.text
        elsewhere = _camera(operator, "side-door", location="side door", sensitive=False)
        assert elsewhere.status_code == 201, elsewhere.text


def test_only_an_admin_keeps_sightings_longer_than_the_deployment(
    live: LiveServer, watchlist: str
) -> None:
    limit = live.settings.sighting_retention_hours
    with live.client("operator") as operator:
        year = _camera(operator, "yard", watchlists=[watchlist], retention_hours=8760)
        assert year.status_code == 403, year.text
        assert str(limit) in year.json()["error"]["message"]
        shorter = _camera(operator, "yard", watchlists=[watchlist], retention_hours=limit // 2)
        assert shorter.status_code == 201, shorter.text
    with live.client("admin") as admin:
        longer = _camera(admin, "gate", watchlists=[watchlist], retention_hours=limit * 7)
        assert longer.status_code == 201, longer.text
    store = live.warden.store
    watchlist_id = live.warden.watchlists.get(watchlist).watchlist_id
    gate, yard = resolve_camera(store, "gate"), resolve_camera(store, "yard")
    assert live.warden.sightings.retention(gate, watchlist_id) == timedelta(hours=limit * 7)
    assert live.warden.sightings.retention(yard, watchlist_id) == timedelta(hours=limit // 2)
    assert [a for a, _ in _actions(live, gate.camera_id)] == [
        "camera.add",
        "camera.retention_raise",
    ]
