"""A NUL character anywhere a client can put one is a 4xx, the same on both stores.

PostgreSQL text cannot hold NUL, so a NUL in a subject id, a camera or
watchlist name, an image id or a key id reached the database driver and came
back as a 500 ("database error (PostgreSQL text fields cannot contain NUL
(0x00) bytes)") where SQLite simply found nothing: in a path, a query
string, a multipart field and a JSON body, on the native and the
CompreFace routes alike. Each request here is sent to a server over the
embedded SQLite and one over the ``pg_server`` fixture's PostgreSQL, and
must get the same 4xx in the error shape; what was stored is still there.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from facewarden.store._pg_embedded import EmbeddedPostgres

from ._live import FAST, LiveServer, serving

NUL = "a\x00b"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveServer]:
    overrides: dict[str, Any] = {}
    if request.param == "postgres":
        pg: EmbeddedPostgres = request.getfixturevalue("pg_server")
        overrides["database_url"] = pg.create_database(f"nul_{secrets.token_hex(6)}")
    with serving(tmp_path_factory.mktemp(f"nul-{request.param}"), **FAST, **overrides) as running:
        yield running


@pytest.fixture(scope="module")
def enrolled(live: LiveServer, photos: dict[str, Path]) -> str:
    with live.client("operator") as client:
        client.post(
            "/v1/watchlists", json={"name": "gate", "purpose": "site", "lawful_basis": "b"}
        ).raise_for_status()
        answer = client.post(
            "/v1/subjects",
            data={
                "record": '{"full_name": "Barack Obama", "lawful_basis": "t"}',
                "watchlist": "gate",
            },
            files={"file": ("o.jpg", photos["obama"].read_bytes(), "image/jpeg")},
        )
        answer.raise_for_status()
        return str(answer.json()["subject_id"])


# role, method, path, request keyword arguments (a "photo" file is added where named)
REQUESTS: list[tuple[str, str, str, dict[str, Any]]] = [
    ("operator", "GET", "/v1/subjects/a%00b", {}),
    ("operator", "GET", "/v1/subjects/a%00b/photo", {}),
    ("admin", "GET", "/v1/cameras/a%00b", {}),
    ("operator", "GET", "/v1/watchlists/a%00b/members", {}),
    ("operator", "GET", "/v1/alerts", {"params": {"camera": NUL}}),
    ("operator", "GET", "/v1/alerts/a%00b/photos/captured", {}),
    ("investigator", "GET", "/v1/sightings", {"params": {"camera": NUL, "watchlist": "gate"}}),
    ("investigator", "POST", "/v1/history-requests/a%00b/approve", {}),
    ("admin", "DELETE", "/v1/api-keys/a%00b", {}),
    ("admin", "DELETE", "/v1/users/a%00b", {}),
    ("operator", "POST", "/v1/identify", {"data": {"watchlist": NUL}, "photo": True}),
    ("operator", "POST", "/v1/verify", {"data": {"subject_id": NUL}, "photo": True}),
    (
        "admin",
        "POST",
        "/v1/cameras",
        {"json": {"name": "door", "location": "x", "watchlists": [NUL]}},
    ),
    ("operator", "POST", "/api/v1/recognition/faces/delete", {"json": [NUL]}),
    ("operator", "DELETE", "/api/v1/recognition/faces/a%00b", {}),
    ("operator", "GET", "/api/v1/recognition/faces/a%00b/img", {}),
    ("operator", "POST", "/api/v1/recognition/faces/a%00b/verify", {"photo": True}),
    ("operator", "GET", "/api/v1/static/{operator}/images/a%00b", {}),
]


@pytest.mark.parametrize(
    ("role", "method", "path", "kwargs"),
    REQUESTS,
    ids=[f"{method} {path} {sorted(kwargs)}" for _, method, path, kwargs in REQUESTS],
)
def test_a_nul_character_is_a_4xx_on_both_stores(
    live: LiveServer,
    enrolled: str,
    photos: dict[str, Path],
    role: str,
    method: str,
    path: str,
    kwargs: dict[str, Any],
) -> None:
    request = dict(kwargs)
    if request.pop("photo", False):
        request["files"] = {"file": ("p.jpg", photos["obama_probe"].read_bytes(), "image/jpeg")}
    with live.client(role) as client:
        answer = client.request(method, path.format(**live.keys), **request)
        assert 400 <= answer.status_code < 500, answer.text
        assert "NUL" in answer.text, answer.text
        body = answer.json()
        if path.startswith("/api/v1/"):
            assert set(body) == {"message", "code"}
        else:
            assert set(body["error"]) == {"type", "message"}
    with live.client("operator") as operator:
        assert operator.get(f"/v1/subjects/{enrolled}").status_code == 200
        assert operator.get("/health").json() == {"status": "ok"}


def test_a_nul_free_request_still_finds_what_is_stored(live: LiveServer, enrolled: str) -> None:
    with live.client("operator") as client:
        assert client.get(f"/v1/subjects/{enrolled}").json()["subject_id"] == enrolled
        listed = client.get("/v1/watchlists/gate/members")
        assert listed.status_code == 200, listed.text
        assert [m["subject_id"] for m in listed.json()["members"]] == [enrolled]
        assert client.get("/v1/subjects/ab").status_code == 404
