"""Cameras behind a load balancer: two servers on one PostgreSQL answer alike.

Two real servers (``create_app`` under uvicorn on loopback, each with its own
open deployment and data folder, one key directory, one database) stand for
the hosts behind a non-sticky balancer: each request may reach either. What
the console reads about cameras (occupancy alerts, a pushed camera's state)
must not depend on which server answers, and a camera's pushed frames must
not be tracked by two servers at once (each would count the same visitors).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from facewarden.store._pg_embedded import EmbeddedPostgres

from ._live import FAST, KNN, LiveServer, serving

FRAME = KNN / "test" / "obama1.jpg"
SETTINGS: dict[str, Any] = FAST | {"occupancy_threshold": 1, "count_people": False}
"""One face in view raises an occupancy alert; no body detector (not the point here)."""


@pytest.fixture(scope="module")
def two(
    pg_server: EmbeddedPostgres, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[LiveServer, LiveServer]]:
    url = pg_server.create_database(f"lb_{secrets.token_hex(6)}")
    root = tmp_path_factory.mktemp("lb")
    with (
        serving(root / "a", database_url=url, **SETTINGS) as a,
        serving(root / "b", database_url=url, key_dir=root / "a" / "keys", **SETTINGS) as b,
    ):
        yield a, b


def push(client: httpx.Client, camera: str, when: datetime) -> httpx.Response:
    return client.post(
        f"/v1/cameras/{camera}/frames",
        data={"taken_at": when.isoformat()},
        files={"image": ("frame.jpg", FRAME.read_bytes(), "image/jpeg")},
    )


def add_camera(client: httpx.Client, name: str) -> str:
    made = client.post("/v1/cameras", json={"name": name, "location": "hall"})
    assert made.status_code == 201, made.text
    return str(made.json()["camera_id"])


def occupancy(client: httpx.Client, camera_id: str) -> list[dict[str, Any]]:
    answer = client.get("/v1/alerts", params={"limit": 100})
    assert answer.status_code == 200, answer.text
    return [a for a in answer.json()["occupancy"] if a["camera_id"] == camera_id]


def test_an_occupancy_alert_raised_on_one_server_is_read_on_every_server(
    two: tuple[LiveServer, LiveServer], faces_dir: Path
) -> None:
    """The console polls through the balancer: each poll must show the same alerts.

    They were kept in the memory of the server that processed the frame, so
    a console answered by the other server saw none (and then some again).
    """
    a, b = two
    with a.client("operator") as on_a, b.client("operator") as on_b:
        camera_id = add_camera(on_a, "foyer")
        pushed = push(on_a, "foyer", datetime.now(UTC) - timedelta(seconds=5))
        assert pushed.status_code == 200, pushed.text
        assert pushed.json()["faces"] == 1
        [on_a_alert] = occupancy(on_a, camera_id)
        assert occupancy(on_b, camera_id) == [on_a_alert]
        assert (on_a_alert["people"], on_a_alert["threshold"]) == (1, 1)
        assert on_a.post("/v1/cameras/foyer/frames/end").json()["ended"] is True


def test_occupancy_alerts_outlive_a_restart(tmp_path: Path, faces_dir: Path) -> None:
    """SQLite, one host: a restarted server still shows the live window's occupancy alerts."""
    with serving(tmp_path, **SETTINGS) as first, first.client("operator") as operator:
        camera_id = add_camera(operator, "porch")
        assert push(operator, "porch", datetime.now(UTC) - timedelta(seconds=5)).status_code == 200
        [raised] = occupancy(operator, camera_id)
    with serving(tmp_path, **SETTINGS) as again, again.client("operator") as operator:
        assert occupancy(operator, camera_id) == [raised]
