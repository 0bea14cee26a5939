"""The routes the console asked for: watchlist members, counts, and the audit log backwards."""

from __future__ import annotations

import json
from pathlib import Path

from ._live import LiveServer


def test_members_counts_and_audit_paging(live: LiveServer, photos: dict[str, Path]) -> None:
    with live.client("operator") as client:
        client.post(
            "/v1/watchlists",
            json={"name": "staff", "purpose": "staff entrance", "lawful_basis": "contract"},
        ).raise_for_status()
        ids = []
        for name, photo in (("Barack Obama", "obama"), ("Joe Biden", "biden")):
            created = client.post(
                "/v1/subjects",
                data={
                    "record": json.dumps({"full_name": name, "lawful_basis": "t"}),
                    "watchlist": "staff",
                },
                files={"file": ("p.jpg", photos[photo].read_bytes(), "image/jpeg")},
            )
            ids.append(created.json()["subject_id"])
        first = client.get("/v1/watchlists/staff/members", params={"limit": 1}).json()
        assert len(first["members"]) == 1 and first["next_after"] == min(ids)
        rest = client.get("/v1/watchlists/staff/members", params={"after": first["next_after"]})
        names = {m["full_name"] for m in first["members"] + rest.json()["members"]}
        assert names == {"Barack Obama", "Joe Biden"} and rest.json()["next_after"] is None
        assert client.get("/v1/watchlists/nowhere/members").status_code == 404
        assert client.get("/v1/stats").json() == {"subjects": 2, "watchlists": 1}
    with live.client("auditor") as auditor:
        newest = auditor.get("/v1/audit/verify").json()["checked"]
        page = auditor.get("/v1/audit", params={"before": newest + 1, "limit": 5}).json()
        assert [e["seq"] for e in page["entries"]] == list(range(newest - 4, newest + 1))
        older = auditor.get("/v1/audit", params={"before": page["next_before"], "limit": 5})
        assert older.json()["entries"][-1]["seq"] == newest - 5
        listed = [
            e for e in page["entries"] + older.json()["entries"] if e["action"] == "subject.list"
        ]
        assert listed and all("Obama" not in json.dumps(e) for e in listed)
