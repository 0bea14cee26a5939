"""Changes made through one server hold on another at once (two processes, one PostgreSQL).

Two ``facewarden serve`` subprocesses share one database and one key
directory, with the in-memory gallery (the default) and with
``gallery_index = "pgvector"``. Each change goes through one server and the
very next request on the other must see it: a face removed, a subject taken
off a watchlist, a watchlist deleted no longer identify (a face added
does); an API key revoked, a user disabled, a session signed out are refused.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from facewarden.store._pg_embedded import EmbeddedPostgres

from .test_serve_postgres import (
    BIDEN,
    OBAMA,
    OBAMA_PROBE,
    Served,
    create_watchlist,
    enroll,
    identify,
    matched,
    serving_two,
)

BIDEN_PROBE = BIDEN.parent / "biden2.jpg"


@pytest.fixture
def two_servers(
    request: pytest.FixtureRequest, pg_server: EmbeddedPostgres, tmp_path: Path
) -> Iterator[tuple[Served, Served]]:
    kind = getattr(request, "param", "auto")
    with serving_two(pg_server, tmp_path, "chg", {"FACEWARDEN_GALLERY_INDEX": kind}) as (a, b, _):
        yield a, b


@pytest.mark.parametrize("two_servers", ["auto", "pgvector"], indirect=True)
@pytest.mark.slow
def test_changes_on_one_server_hold_on_the_other(
    two_servers: tuple[Served, Served], faces_dir: Path
) -> None:
    a, b = two_servers
    key = a.api_key()
    _gallery_changes(a, b, key)
    _access_withdrawn(a, b, key)


def _gallery_changes(a: Served, b: Served, key: str) -> None:
    with a.client(key) as on_a, b.client(key) as on_b:
        create_watchlist(on_a)
        assert matched(identify(on_b)) == []  # B's gallery is loaded, and empty
        obama = enroll(on_a, OBAMA).json()["subject_id"]
        assert matched(identify(on_b, OBAMA_PROBE)) == [obama]

        # A wrong photo added to him on B (forced): A finds him from it; removed
        # on A: B no longer does.
        added = on_b.post(
            f"/v1/subjects/{obama}/faces",
            data={"force": "true"},
            files={"file": (BIDEN.name, BIDEN.read_bytes(), "image/jpeg")},
        )
        assert added.status_code == 201, added.text
        assert matched(identify(on_a, BIDEN_PROBE)) == [obama]
        removed = on_a.delete(f"/v1/subjects/{obama}/faces/{added.json()['face_id']}")
        assert removed.status_code == 204, removed.text
        assert matched(identify(on_b, BIDEN_PROBE)) == []
        assert matched(identify(on_b, OBAMA_PROBE)) == [obama]

        biden = enroll(on_b, BIDEN).json()["subject_id"]
        assert matched(identify(on_a, BIDEN_PROBE)) == [biden]

        # Off the watchlist on B: A no longer finds him; back on through A: B does.
        assert on_b.delete(f"/v1/watchlists/gate/members/{obama}").status_code == 204
        assert matched(identify(on_a, OBAMA_PROBE)) == []
        assert on_a.put(f"/v1/watchlists/gate/members/{obama}").status_code == 204
        assert matched(identify(on_b, OBAMA_PROBE)) == [obama]

        # The watchlist deleted on B: A answers 404, and finds Biden nowhere.
        assert on_b.delete("/v1/watchlists/gate").status_code == 204
        gone = identify(on_a, BIDEN_PROBE)
        assert gone.status_code == 404, gone.text
        create_watchlist(on_a)  # same name, a new, empty watchlist
        assert matched(identify(on_b, BIDEN_PROBE)) == []
        assert matched(identify(on_a, BIDEN_PROBE)) == []


def _access_withdrawn(a: Served, b: Served, key: str) -> None:
    with a.client(key) as on_a:
        issued = on_a.post("/v1/api-keys", json={"name": "door", "role": "operator"})
        assert issued.status_code == 201, issued.text
        with b.client(issued.json()["api_key"]) as door:
            assert door.get("/v1/watchlists").status_code == 200
            assert on_a.delete(f"/v1/api-keys/{issued.json()['key_id']}").status_code == 204
            assert door.get("/v1/watchlists").status_code == 401

        password = secrets.token_urlsafe(18)
        made = on_a.post(
            "/v1/users", json={"username": "ann", "password": password, "role": "operator"}
        )
        assert made.status_code == 201, made.text
        for signing_out in (True, False):
            with httpx.Client(base_url=b.url, timeout=60.0) as on_b:
                login = on_b.post("/v1/auth/login", json={"username": "ann", "password": password})
                assert login.status_code == 200, login.text
                assert on_b.get("/v1/watchlists").status_code == 200
                with httpx.Client(
                    base_url=a.url, cookies=on_b.cookies, timeout=60.0
                ) as same_session_on_a:
                    if signing_out:
                        csrf = {"X-CSRF-Token": login.json()["csrf_token"]}
                        out = same_session_on_a.post("/v1/auth/logout", headers=csrf)
                        assert out.status_code == 204, out.text
                    else:
                        assert on_a.delete("/v1/users/ann").status_code == 204
                assert on_b.get("/v1/watchlists").status_code == 401
