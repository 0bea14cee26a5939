"""A large subject export downloaded slowly over HTTP holds up no one.

The export is read from one snapshot of the store. Held for as long as a
client takes to download it, a SQLite snapshot blocks every checkpoint
(an erasure's, a purge's) for SQLite's busy timeout (30 s), under the
store's lock: the whole deployment stood still. The export is drained from
its snapshot into a sealed spool first, and the client reads it at its pace.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
