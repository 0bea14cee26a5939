"""The desk pages through a busy shift: 300 open alerts, read 100 at a time by a cursor.

A cursor names the last alert of a page (keyset paging, never an offset):
alerts decided between two pages, on a page already read or on one not yet
read, move no other alert from its page, so every alert still open is shown
exactly once, in the chosen order. The decided history pages the same way.
A cursor this server did not give, or one from another order, is a typed 400.

The alerts are written to the deployment's store as the ingest writes them
(frames enough for 300 sightings would take minutes here); everything else
goes through the real server on loopback.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from facewarden.store.cameras import SightingRow

from ._live import FAST, LiveServer, serving

SHIFT = 300
RANK = {"alarm": 0, "alert": 1, "log": 2}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serving(tmp_path_factory.mktemp("desk-paging"), **FAST) as running:
        yield running


@pytest.fixture(scope="module")
def shift(live: LiveServer, photos: dict[str, Path]) -> dict[str, SightingRow]:
    """300 alerts at one gate over the last 40 minutes, mixed severities, some at one instant."""
    with live.client("operator") as operator:
        operator.post(
            "/v1/watchlists",
            json={"name": "barred", "purpose": "site bans", "lawful_basis": "art. 6(1)(f)"},
        ).raise_for_status()
        created = operator.post(
            "/v1/subjects",
            data={
                "record": json.dumps({"full_name": "Barack Obama", "lawful_basis": "ban 12"}),
                "watchlist": "barred",
            },
            files=[("file", ("obama.jpg", photos["obama"].read_bytes(), "image/jpeg"))],
        )
        created.raise_for_status()
        gate = operator.post(
            "/v1/cameras", json={"name": "gate", "location": "east gate", "watchlists": ["barred"]}
        )
        gate.raise_for_status()
    watchlist_id = live.warden.watchlists.get("barred").watchlist_id
    now = datetime.now(UTC)
    rows = {}
    for i in range(SHIFT):
        # Every fifth alert shares its instant with the one before: ties are broken
        # by the sighting id, never by where a page happened to end.
        seen = now - timedelta(minutes=40) + timedelta(seconds=7 * (i - i % 5 // 4))
        row = SightingRow(
            f"sig_{(i * 7919) % 1000:03d}{i:04d}",
            created.json()["subject_id"],
            gate.json()["camera_id"],
            watchlist_id,
            seen,
            seen,
            0.9,
            now + timedelta(hours=1),
            severity="alarm" if i % 7 == 0 else "alert" if i % 3 == 0 else "log",
        )
        rows[row.sighting_id] = row
    with live.warden.store.transaction() as tx:
        for row in rows.values():
            tx.insert_sighting(row)
    return rows


def _page(client: httpx.Client, **params: Any) -> tuple[list[str], str | None]:
    answer = client.get("/v1/alerts", params={"limit": 100, **params})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    return [a["sighting_id"] for a in body["sightings"]], body["next_cursor"]


def _decide(client: httpx.Client, ids: list[str]) -> None:
    for sighting in ids:
        done = client.post(f"/v1/alerts/{sighting}/dismiss", json={})
        assert done.status_code == 200, done.text


def _read_all_deciding_meanwhile(
    client: httpx.Client, order: str, decide: int
) -> tuple[list[str], set[str]]:
    """Every page of the open queue; between pages, ``decide`` alerts read already and
    ``decide`` not read yet are decided (by this desk or another)."""
    seen: list[str] = []
    decided: set[str] = set()
    page, cursor = _page(client, state="open", order=order)
    seen += page
    while cursor is not None:
        ahead = [a for a in _all_open(client, order) if a not in seen][-decide:]
        behind = page[:decide]
        _decide(client, behind + ahead)
        decided |= set(behind + ahead)
        page, cursor = _page(client, state="open", order=order, cursor=cursor)
        seen += page
    return seen, decided


def _all_open(client: httpx.Client, order: str) -> list[str]:
    """The open queue as the server holds it now (read whole through the cursor)."""
    found: list[str] = []
    cursor = None
    while True:
        page, cursor = _page(
            client, state="open", order=order, **({"cursor": cursor} if cursor else {})
        )
        found += page
        if cursor is None:
            return found


def test_a_shift_of_300_open_alerts_is_read_whole_oldest_first_while_others_decide(
    live: LiveServer, shift: dict[str, SightingRow]
) -> None:
    with live.client("operator") as desk:
        before = set(_all_open(desk, "oldest"))
        seen, decided = _read_all_deciding_meanwhile(desk, "oldest", decide=10)
    assert len(seen) == len(set(seen)), "an alert was shown twice"
    assert set(seen) | decided >= before and not (decided - set(seen)) & set(seen)
    # Only those decided before their page was read are missing.
    never_shown = before - set(seen)
    assert never_shown <= decided, f"{len(never_shown - decided)} open alerts were skipped"
    assert seen == sorted(seen, key=lambda s: (shift[s].first_seen, s)), "not oldest first"


def test_the_queue_most_severe_first_is_read_whole_and_in_order(
    live: LiveServer, shift: dict[str, SightingRow]
) -> None:
    with live.client("operator") as desk:
        before = set(_all_open(desk, "severity"))
        assert len(before) > 200
        seen, decided = _read_all_deciding_meanwhile(desk, "severity", decide=5)
    assert len(seen) == len(set(seen)), "an alert was shown twice"
    assert before - set(seen) <= decided, "open alerts were skipped"
    key = [(RANK[shift[s].severity or "alert"], shift[s].first_seen, s) for s in seen]
    # Alarms, then alerts, then log entries; each newest first (ties by id, descending).
    assert [k[0] for k in key] == sorted(k[0] for k in key)
    for a, b in itertools.pairwise(key):
        assert a[0] < b[0] or (a[1], a[2]) > (b[1], b[2]), (a, b)


def test_the_decided_history_pages_newest_first_without_a_repeat(
    live: LiveServer, shift: dict[str, SightingRow]
) -> None:
    with live.client("operator") as desk:
        _decide(desk, _all_open(desk, "oldest")[:130])
        history: list[str] = []
        page, cursor = _page(desk, state="decided")
        history += page
        while cursor is not None:
            page, cursor = _page(desk, state="decided", cursor=cursor)
            history += page
        decided_now = {
            a["sighting_id"]
            for a in desk.get("/v1/alerts", params={"limit": 100}).json()["sightings"]
        }
    assert len(history) == len(set(history)) >= 130
    assert history == sorted(history, key=lambda s: (shift[s].first_seen, s), reverse=True)
    assert decided_now  # the plain newest-first list still answers without a cursor


def test_more_decisions_than_a_page_are_read_whole_by_their_cursor(
    live: LiveServer, shift: dict[str, SightingRow]
) -> None:
    # A console that polled last before 120 decisions (a laptop waking from sleep) reads
    # them all, page after page, each once: the oldest too, or an alarm decided first
    # would stay up at that desk, its decision answering 409.
    with live.client("operator") as desk:
        mark = datetime.now(UTC).isoformat()
        chosen = _all_open(desk, "oldest")[:120]
        _decide(desk, chosen)
        seen: list[str] = []
        params: dict[str, Any] = {"decided_since": mark, "limit": 50}
        pages = 0
        while True:
            body = desk.get("/v1/alerts", params=params).json()
            got = [d["sighting_id"] for d in body["decided"]]
            assert len(got) <= 50
            times = [d["decided_at"] for d in body["decided"]]
            assert times == sorted(times, reverse=True), "a page lists latest first"
            seen += got
            pages += 1
            if body["decided_cursor"] is None:
                break
            params["decided_cursor"] = body["decided_cursor"]
        bad = desk.get("/v1/alerts", params={"decided_since": mark, "decided_cursor": "x"})
    assert pages == 3
    assert len(seen) == len(set(seen)), "a decision was answered twice"
    assert set(seen) == set(chosen)
    assert bad.status_code == 400 and bad.json()["error"]["type"] == "InvalidInputError"


@pytest.mark.parametrize(
    ("cursor", "order"),
    [
        ("not-a-cursor", "oldest"),
        ("", "oldest"),
        ("x" * 300, "newest"),
        ("eyJvIjoib2xkZXN0In0", "oldest"),  # base64 of a JSON that is no position
    ],
)
def test_a_cursor_this_server_did_not_give_is_a_typed_400(
    live: LiveServer, shift: dict[str, SightingRow], cursor: str, order: str
) -> None:
    with live.client("operator") as desk:
        answer = desk.get("/v1/alerts", params={"order": order, "cursor": cursor})
    assert answer.status_code in (400, 422), answer.text
    assert set(answer.json()["error"]) >= {"type", "message"}
    assert "Traceback" not in answer.text


def test_a_cursor_from_another_order_is_refused_and_the_page_size_is_capped(
    live: LiveServer, shift: dict[str, SightingRow]
) -> None:
    with live.client("operator") as desk:
        _, cursor = _page(desk, state="all", order="oldest")
        assert cursor is not None
        wrong = desk.get("/v1/alerts", params={"order": "severity", "cursor": cursor})
        assert wrong.status_code == 400, wrong.text
        assert wrong.json()["error"]["type"] == "InvalidInputError"
        assert "order" in wrong.json()["error"]["message"]
        assert desk.get("/v1/alerts", params={"limit": 101}).status_code == 422


def test_a_console_learns_which_alerts_it_shows_have_left_the_desk(
    live: LiveServer, shift: dict[str, SightingRow]
) -> None:
    # Last in this module: the shift's subject is erased here.
    shown = sorted(shift)[:3]
    with live.client("operator") as desk:

        def gone(held: str) -> httpx.Response:
            return desk.get("/v1/alerts", params={"held": held, "limit": 1})

        answer = gone(",".join([*shown, "sig_nothere"]))
        assert answer.status_code == 200, answer.text
        assert answer.json()["gone"] == ["sig_nothere"]
        assert gone(",".join(f"sig_{i}" for i in range(101))).status_code == 400
        assert gone("sig_1,../etc").json()["error"]["type"] == "InvalidInputError"
        subject = shift[shown[0]].subject_id
        erased = desk.delete(f"/v1/subjects/{subject}")
        assert erased.status_code == 204, erased.text
        assert gone(",".join(shown)).json()["gone"] == shown
