"""What a camera keeps to itself: its source URL at rest, and whom it saw once that expired.

* A camera's source (an RTSP URL with a user name and password, say) is
  stored only sealed: the database file and its WAL hold no trace of the
  URL's host, user, password, path or query; listings show its kind and a
  redacted form; the service hands the plaintext to the ingest code only.
  A source stored in the clear by schema 3 is sealed the first time the
  cameras are read, and its bytes leave the file.
* A camera track's identification is audited without the subject (SECURITY.md
  promise 11 against 17): once its sighting expired and was purged, neither
  the database nor the audit log links that subject to that camera.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from facewarden.cli import cli
from facewarden.errors import IntegrityError
from facewarden.imaging import decode
from facewarden.privacy import ManualClock
from facewarden.privacy.audit import AuditEntry
from facewarden.service import Warden
from facewarden.service.frames import FrameProcessor
from facewarden.store import open_sqlite

from .conftest import T0, enroll, make_settings

URL = (
    "rtsp://gatekeeper:Tr0ub4dor-x9@cam-gate-7.site-internal.example:8554"
    "/Streaming/Channels/101?auth=tok3nZZq"
)
SECRETS = (
    "gatekeeper",
    "Tr0ub4dor-x9",
    "cam-gate-7",
    "site-internal",
    "Streaming/Channels",
    "tok3nZZq",
)
FILE = "/srv/recordings/womens-shelter-back-door.mp4"


def _db_bytes(path: str | Path) -> bytes:
    path = Path(path)
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def _entry_text(entry: AuditEntry) -> str:
    fields = {f.name: getattr(entry, f.name) for f in dataclasses.fields(entry)}
    return json.dumps(fields | {"details": dict(entry.details)})


def _audit_text(warden: Warden) -> str:
    return "\n".join(_entry_text(e) for e in warden.audit.entries(limit=1000))


def test_a_camera_source_is_sealed_at_rest_and_shown_redacted(
    warden: Warden, tmp_path: Path
) -> None:
    added = warden.cameras.add("gate", location="north gate", source=URL)
    warden.cameras.add("shelter", location="back door", source=FILE)
    warden.cameras.add("hall", location="hall")

    # The ingest code gets the plaintext ...
    assert added.source == URL
    assert warden.cameras.get("gate").source == URL
    assert warden.cameras.get(added.camera_id).source == URL
    # ... nothing that is shown does.
    gate, hall, shelter = warden.cameras.all()
    assert URL not in repr(gate)
    shown = {c.name: c.to_dict() for c in (gate, hall, shelter)}
    assert shown["gate"]["source_kind"] == "stream"
    assert shown["gate"]["source"] == "rtsp://cam-gate-7.site-internal.example:8554/..."
    assert shown["shelter"]["source_kind"] == "file"
    assert shown["shelter"]["source"] == ".../womens-shelter-back-door.mp4"
    assert (shown["hall"]["source_kind"], shown["hall"]["source"]) == (None, None)
    listed = json.dumps(shown)
    for secret in ("gatekeeper", "Tr0ub4dor-x9", "Streaming", "tok3nZZq", "/srv/recordings"):
        assert secret not in listed

    runner = CliRunner(
        env={"FACEWARDEN_WORKERS": "1", "FACEWARDEN_DATA_DIR": None, "FACEWARDEN_KEY_DIR": None}
    )
    where = ["--data-dir", str(tmp_path / "data"), "--key-dir", str(tmp_path / "keys")]
    for args in (["cameras", "list"], ["cameras", "list", "--json"]):
        result = runner.invoke(cli, [*args, *where])
        assert result.exit_code == 0, result.output
        assert "cam-gate-7" in result.output and "stream" in result.output
        assert "Tr0ub4dor-x9" not in result.output and "gatekeeper" not in result.output
        assert "/srv/recordings" not in result.output

    # At rest: no trace in the database file, its WAL (before and after a
    # checkpoint) or the audit log.
    stored = _db_bytes(warden.store.location)
    assert Path(warden.store.location + "-wal").stat().st_size > 0
    warden.store.checkpoint()
    stored += _db_bytes(warden.store.location)
    for secret in (*SECRETS, "/srv/recordings", "womens-shelter"):
        assert secret.encode() not in stored, secret
        assert secret.encode("utf-16-le") not in stored, secret
        assert secret not in _audit_text(warden), secret
    row = warden.store.camera_by_name("gate")
    assert row is not None and row.sealed_source is not None and row.legacy_source is None


def test_a_sealed_source_is_bound_to_its_camera(warden: Warden) -> None:
    gate = warden.cameras.add("gate", location="north gate", source=URL)
    other = warden.cameras.add("yard", location="yard", source="rtsp://10.0.0.9/x")
    gate_row, other_row = (warden.store.get_camera(c.camera_id) for c in (gate, other))
    assert gate_row is not None and other_row is not None
    with warden.store.transaction() as tx:  # a row swap behind the service's back
        tx.set_camera_source(other.camera_id, gate_row.sealed_source)
    with pytest.raises(IntegrityError, match="moved from another row"):
        warden.cameras.get("yard")
    assert warden.cameras.get("gate").source == URL


def test_sources_stay_readable_across_master_key_rotation(warden: Warden) -> None:
    warden.cameras.add("gate", location="north gate", source=URL)
    old = warden.keys.status().active_master_id
    warden.keys.rotate_master()
    warden.keys.destroy_master(old)
    assert warden.cameras.get("gate").source == URL


def test_a_plaintext_source_from_schema_3_is_sealed_on_first_read(
    tmp_path: Path, clock: ManualClock
) -> None:
    settings = make_settings(tmp_path)
    with Warden.open(settings, clock=clock, create=True, actor="test:pytest") as warden:
        warden.cameras.add("gate", location="north gate")
        warden.cameras.add("hall", location="hall", source=FILE)
        location = warden.store.location
    # What migration 4 leaves of a schema-3 row: the plaintext in legacy_source.
    raw = sqlite3.connect(location)
    with raw:
        raw.execute(
            "UPDATE cameras SET legacy_source = ?, sealed_source = NULL WHERE name = 'gate'",
            (URL,),
        )
    raw.close()
    assert URL.encode() in _db_bytes(location)

    with Warden.open(settings, clock=clock, actor="test:pytest") as warden:
        assert warden.cameras.get("gate").source == URL  # sealed on the way
        assert warden.cameras.get("hall").source == FILE
        assert warden.cameras.seal_legacy_sources() == 0  # nothing left
        row = warden.store.camera_by_name("gate")
        assert row is not None and row.legacy_source is None and row.sealed_source
        actions = [e.action for e in warden.audit.entries(limit=1000)]
        assert actions.count("camera.seal_sources") == 1
        stored = _db_bytes(warden.store.location)
    for secret in SECRETS:
        assert secret.encode() not in stored, secret


def test_an_expired_sighting_leaves_no_link_between_subject_and_camera(
    warden: Warden, knn: Path, clock: ManualClock
) -> None:
    warden.watchlists.create("entrance", purpose="site access", lawful_basis="test")
    subject = enroll(warden, "Barack Obama", knn / "obama" / "obama.jpg", ("entrance",))
    camera = warden.cameras.add("door", location="north entrance", watchlists=["entrance"])
    processor = FrameProcessor(warden.with_actor("camera:door"), "door")
    frame = decode(knn / "obama" / "obama2.jpg")
    for i in range(3):
        processor.process(frame, T0 + timedelta(seconds=i / 5))
    processor.finish(T0 + timedelta(seconds=1))
    assert processor.identifications >= 1
    (sighting,) = warden.store.sightings_of(subject, T0 - timedelta(hours=1))
    assert sighting.camera_id == camera.camera_id

    identified = [e for e in warden.audit.entries(limit=1000) if e.action == "identify"]
    assert identified and identified[0].details["matched_count"] == 1
    assert all(camera.camera_id in e.purpose and "matched" not in e.details for e in identified)
    # The sighting row is the one place that links them, while it lives.
    link = subject.encode() + camera.camera_id.encode()
    warden.store.checkpoint()
    assert link in _db_bytes(warden.store.location)

    clock.advance(timedelta(hours=25))
    assert warden.purge().deleted["sightings"] == 1
    assert warden.store.sightings_of(subject, T0 - timedelta(days=30)) == []
    assert link not in _db_bytes(warden.store.location)
    for entry in warden.audit.entries(limit=1000):
        text = _entry_text(entry)
        assert not (subject in text and camera.camera_id in text), entry


def test_a_person_erased_while_a_camera_identifies_them_gets_no_sighting(
    warden: Warden, knn: Path, tmp_path: Path
) -> None:
    """A subject's rows deleted, as an erasure deletes them, by another process while a
    camera is matching their face.

    The camera's identification waits for that transaction's write lock and
    searches the gallery as it left it: no match, no sighting of the erased
    person, and the frame is processed (the camera goes on).
    """
    warden.watchlists.create("entrance", purpose="site access", lawful_basis="test")
    subject = enroll(warden, "Barack Obama", knn / "obama" / "obama.jpg", ("entrance",))
    warden.cameras.add("door", location="north entrance", watchlists=["entrance"])
    processor = FrameProcessor(warden.with_actor("camera:door"), "door")
    frame = decode(knn / "obama" / "obama2.jpg")
    processor.process(frame, T0 - timedelta(minutes=5))  # models loaded; no one yet tracked
    processor.tracker = type(processor.tracker)()
    eraser = open_sqlite(Path(warden.store.location))
    outcome: list[object] = []

    def camera_frame() -> None:
        try:
            outcome.append(processor.process(frame, T0))
        except Exception as exc:  # what the camera's runner would have caught
            outcome.append(exc)

    try:
        with eraser.transaction() as tx:  # committed while the camera matches
            assert tx.delete_subject(subject)
            camera = threading.Thread(target=camera_frame)
            camera.start()
            time.sleep(2.0)
        camera.join(60)
    finally:
        eraser.close()
    (result,) = outcome
    assert not isinstance(result, Exception), result
    assert warden.store.count_sightings() == 0
