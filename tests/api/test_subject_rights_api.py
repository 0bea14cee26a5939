"""A data subject's rights over HTTP: the export, the DPO's audit view, restriction.

A large subject export downloaded slowly over HTTP holds up no one. The
export is read from one snapshot of the store. Held for as long as a client
takes to download it, a SQLite snapshot blocks every checkpoint (an
erasure's, a purge's) for SQLite's busy timeout (30 s), under the store's
lock: the whole deployment stood still. The export is drained from its
snapshot into a sealed spool first, and the client reads it at its pace.
An auditor finds every access to a person; a restricted person is matched
nowhere until the restriction is lifted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from facewarden.service import SubjectRecord

from ._live import EXAMPLES, FAST, KNN, LiveServer, serving

VISITS = 150


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serving(tmp_path_factory.mktemp("export"), **FAST) as running:
        yield running


def test_a_slow_download_of_a_large_export_stalls_no_erasure(
    live: LiveServer, faces_dir: Path
) -> None:
    warden = live.warden
    warden.watchlists.create("entrance", purpose="site access", lawful_basis="contract")
    record = SubjectRecord(full_name="Barack Obama", lawful_basis="site policy 4")
    obama = warden.registry.enroll(record, [EXAMPLES / "obama.jpg"], watchlists=["entrance"])
    other = SubjectRecord(full_name="Joe Biden", lawful_basis="site policy 4")
    biden = warden.registry.enroll(other, [KNN / "train" / "biden" / "biden.jpg"])
    warden.cameras.add("door", location="door", watchlists=["entrance"], keep_thumbnails=True)
    camera = warden.store.camera_by_name("door")
    assert camera is not None
    crop = (EXAMPLES / "obama-480p.jpg").read_bytes()
    start = datetime.now(UTC) - timedelta(hours=1)
    for minute in range(VISITS):
        at = start + timedelta(seconds=20 * minute)
        warden.sightings.open_visit(
            camera, obama.subject_id, camera.watchlists[0], at, at + timedelta(seconds=2), 0.9, crop
        )
    with live.client("operator") as operator:
        url = f"/v1/subjects/{obama.subject_id}/export"
        with operator.stream("GET", url, params={"purpose": "art. 15"}) as answer:
            assert answer.status_code == 200
            pieces = answer.iter_bytes()
            body = [next(pieces)]  # the client has begun, and waits
            began = time.monotonic()
            warden.registry.erase(biden.subject_id, purpose="art. 17")  # commits, checkpoints
            waited = time.monotonic() - began
            body += list(pieces)
    assert waited < 5, f"an erasure waited {waited:.1f} s for an export being downloaded"
    export = json.loads(b"".join(body))
    assert len(export["sightings"]) == VISITS


def test_an_auditor_finds_every_access_to_a_person_not_only_those_filed_under_their_id(
    live: LiveServer, faces_dir: Path
) -> None:
    """A DPO asking "who looked this person up?": an identification that named them is
    filed under the watchlist searched, so ``object_id`` misses it; ``about`` finds it."""
    warden = live.warden
    warden.watchlists.create("visitors", purpose="visitor desk", lawful_basis="consent")
    record = SubjectRecord(full_name="Joe Biden", lawful_basis="visitor form 2")
    biden = warden.registry.enroll(
        record, [KNN / "train" / "biden" / "biden.jpg"], watchlists=["visitors"]
    ).subject_id
    with live.client("operator") as operator:
        probe = (KNN / "train" / "biden" / "biden2.jpg").read_bytes()
        found = operator.post(
            "/v1/identify",
            data={"watchlist": "visitors"},
            files={"file": ("probe.jpg", probe, "image/jpeg")},
        )
        assert found.status_code == 200, found.text
        assert found.json()["faces"][0]["candidates"][0]["full_name"] == "Joe Biden"
    with live.client("auditor") as auditor:
        filed = auditor.get("/v1/audit", params={"object_id": biden, "limit": 100})
        about = auditor.get("/v1/audit", params={"about": biden, "limit": 100})
        both = auditor.get("/v1/audit", params={"about": biden, "object_id": biden})
    assert [e["action"] for e in filed.json()["entries"]] == ["subject.enroll"]
    assert about.status_code == 200, about.text
    actions = [e["action"] for e in about.json()["entries"]]
    assert actions == ["subject.enroll", "identify"]
    assert both.status_code == 400 and both.json()["error"]["type"] == "InvalidInputError"


def test_a_restricted_person_is_named_by_no_identification_until_it_is_lifted(
    live: LiveServer, faces_dir: Path
) -> None:
    warden = live.warden
    warden.watchlists.create("lobby", purpose="visitor desk", lawful_basis="consent")
    record = SubjectRecord(full_name="Alex Lacamoire", lawful_basis="visitor form 3")
    photo = KNN / "train" / "alex_lacamoire" / "img1.jpg"
    alex = warden.registry.enroll(record, [photo], watchlists=["lobby"]).subject_id
    probe = (KNN / "test" / "alex_lacamoire1.jpg").read_bytes()

    def named(client: httpx.Client) -> list[str | None]:
        answer = client.post(
            "/v1/identify",
            data={"watchlist": "lobby"},
            files={"file": ("probe.jpg", probe, "image/jpeg")},
        )
        assert answer.status_code == 200, answer.text
        return [c["full_name"] for f in answer.json()["faces"] for c in f["candidates"]]

    reason = {"reason": "contests the match of 3 March (art. 18(1)(a))"}
    with live.client("operator") as operator:
        assert named(operator) == ["Alex Lacamoire"]
        done = operator.post(f"/v1/subjects/{alex}/restriction", json=reason)
        assert done.status_code == 204, done.text
        again = operator.post(f"/v1/subjects/{alex}/restriction", json=reason)
        shown = operator.get(f"/v1/subjects/{alex}").json()
        readd = operator.put(f"/v1/watchlists/lobby/members/{alex}")
        assert named(operator) == []
        lifted = operator.delete(f"/v1/subjects/{alex}/restriction")
        assert lifted.status_code == 204, lifted.text
        assert named(operator) == ["Alex Lacamoire"]
        assert operator.delete(f"/v1/subjects/{alex}/restriction").status_code == 409
    assert again.status_code == 409 and again.json()["error"]["type"] == "ConflictError"
    assert (shown["restricted"], shown["watchlists"]) == (True, [])
    assert readd.status_code == 409 and "restricted" in readd.json()["error"]["message"]
    with live.client("investigator") as investigator:
        refused = investigator.post(f"/v1/subjects/{alex}/restriction", json=reason)
    assert refused.status_code == 403
