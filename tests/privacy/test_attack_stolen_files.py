"""The red team's attack on a stolen copy of the database's files, after erasure and retention.

A deployment enrolls two people, records a sighting of each at a camera
("Al-Noor mosque side door") with a kept thumbnail and a desk note, erases
one of them and lets retention purge the sightings. The attacker then holds
a copy of every file of the store (SQLite: the data directory; PostgreSQL:
the whole cluster, ``base/`` and ``pg_wal/`` included) and the key
directory, and carves:

* sighting rows: a sighting id next to a subject id next to a camera id (who
  was where; the times follow) in a heap page or a WAL record;
* the kept thumbnail and the desk note of the expired sightings (sealed with
  the subject's data key, which the key directory still opens for the person
  not erased);
* blind-index tokens (64 hex characters), brute-forced over the ID-number
  format with the blind-index key from the key directory: the erased
  person's ID number must not come back.

Before the purge each of these is found (the carving works); after it, on
both stores, nothing of the expired sightings or of the erased person is.
On PostgreSQL that needs the deleted rows rewritten out of every table the
deletion cascaded into and the WAL segments that recorded them removed, not
recycled with their contents (SECURITY.md promises 11 and 15).
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import struct
import subprocess
import sys
from collections.abc import Iterator
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from facewarden.config import Settings
from facewarden.privacy import Envelope, KeyRing, ManualClock
from facewarden.service import SubjectRecord, Warden
from facewarden.store._pg_embedded import EmbeddedPostgres
from facewarden.store.cameras import CameraRow

pytestmark = pytest.mark.slow

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
_ID_FORMAT = "FW-{:05d}"  # the deployment's ID numbers: a known format, 100,000 of them
_TOKEN = re.compile(rb"[0-9a-f]{64}")
_PLACE = "Al-Noor mosque side door"
_GPS = (51.501234, -0.141234)


def _place_found(blob: bytes) -> list[str]:
    """What of the camera's place is in ``blob``: its label, or a coordinate as either store
    writes a float (SQLite big-endian, PostgreSQL in the machine's order)."""
    found = [w for w in ("Al-Noor", "mosque") if w.encode() in blob]
    for value in _GPS:
        found += [f"{value} ({order})" for order in "<>" if struct.pack(f"{order}d", value) in blob]
    return found


def _sighting_rows(blob: bytes, sighting_id: str) -> list[bytes]:
    """Each place ``sighting_id`` is stored next to a subject id and a camera id (a row)."""
    pattern = re.escape(sighting_id.encode()) + rb".{0,4}sub_[0-9a-f]{16}.{0,4}cam_[0-9a-f]{16}"
    return re.findall(pattern, blob, re.DOTALL)


def _files(roots: list[Path]) -> bytes:
    chunks = []
    for root in roots:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                with suppress(FileNotFoundError):  # the server removed it while we walked
                    chunks.append(path.read_bytes())
    return b"\x00".join(chunks)


def _cluster_files(server: EmbeddedPostgres, database: str) -> list[Path]:
    """The cluster's folders, with only this database's own folder of ``base/``.

    The session's server holds other tests' databases too; the WAL, the
    shared catalogs and the rest of the cluster are searched whole.
    """
    with psycopg.connect(server.url()) as conn:
        row = conn.execute("SELECT oid FROM pg_database WHERE datname = %s", (database,)).fetchone()
    assert row is not None
    others = [p for p in server.data.iterdir() if p.name != "base"]
    return [server.data / "base" / str(row[0]), *others]


def _id_numbers_recovered(blob: bytes, key_dir: Path) -> set[str]:
    """The attacker with the key directory: every carved token tried against every ID number."""
    envelope = Envelope(KeyRing.open(key_dir))
    carved = {m.group(0).decode() for m in _TOKEN.finditer(blob)}
    candidates = (_ID_FORMAT.format(n) for n in range(100_000))
    return {c for c in candidates if envelope.blind_index(c, kind="id_number") in carved}


@pytest.fixture(params=["sqlite", "postgres"])
def deployment(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[tuple[Settings, list[Path]]]:
    """Settings of a fresh deployment, and the folders holding every file of its store."""
    overrides: dict[str, object] = {}
    files = [tmp_path / "data"]
    if request.param == "postgres":
        server: EmbeddedPostgres = request.getfixturevalue("pg_server")
        name = f"stolen_{secrets.token_hex(6)}"
        overrides["database_url"] = server.create_database(name)
        files = _cluster_files(server, name)
    settings = Settings(  # type: ignore[arg-type]
        data_dir=tmp_path / "data",
        key_dir=tmp_path / "keys",
        workers=1,
        mode="fast",
        enroll_mode="fast",
        keep_enrollment_photos=True,
        **overrides,
    )
    yield settings, files


def test_expired_sightings_and_an_erased_person_are_carved_from_no_file(
    deployment: tuple[Settings, list[Path]], faces_dir: Path
) -> None:
    settings, files = deployment
    train = faces_dir / "face_recognition" / "examples" / "knn_examples" / "train"
    clock = ManualClock(T0)
    with Warden.open(settings, clock=clock, create=True, actor="test:redteam") as warden:
        warden.watchlists.create("visitors", purpose="site access", lawful_basis="test")

        def enroll(name: str, photo: Path, number: int) -> str:
            record = SubjectRecord(
                full_name=name, lawful_basis="test", id_number=_ID_FORMAT.format(number)
            )
            return warden.registry.enroll(record, [photo], watchlists=["visitors"]).subject_id

        erased = enroll("Joseph Biden", train / "biden" / "biden.jpg", 77_012)
        kept = enroll("Barack Obama", train / "obama" / "obama.jpg", 44_044)
        warden.cameras.add(
            "side-door",
            location=_PLACE,
            latitude=_GPS[0],
            longitude=_GPS[1],
            watchlists=["visitors"],
            keep_thumbnails=True,
        )
        camera = warden.store.camera_by_name("side-door")
        assert camera is not None
        sightings = {}
        for subject in (erased, kept):
            sid = warden.sightings.open_visit(
                camera,
                subject,
                camera.watchlists[0],
                T0,
                T0 + timedelta(seconds=9),
                0.9,
                b"\xff\xd8 a face crop " + subject.encode(),
            )
            warden.alert_desk.decide(sid, "acknowledged", role="operator", note="seen at prayer")
            warden.alert_desk.add_note(sid, "confirmed by the guard at prayer", role="operator")
            sightings[subject] = sid
        row = warden.store.get_sighting(sightings[kept])
        assert row is not None and row.thumbnail is not None
        sealed = [row.thumbnail[:40]]
        note = warden.store.alert_decisions([sightings[kept]])[sightings[kept]].note
        assert note is not None
        sealed.append(note[:40])
        (later,) = warden.store.alert_notes(sightings[kept])  # a note added after the decision
        sealed.append(later.note[:40])
        warden.store.checkpoint()

        before = _files(files)
        assert b"side-door" in before  # the camera's name is its identifier, in clear
        assert _place_found(before) == []
        for sid in sightings.values():
            assert _sighting_rows(before, sid), "the carving finds a stored sighting"
        assert all(s in before for s in sealed)
        assert _id_numbers_recovered(before, settings.resolved_key_dir) >= {
            _ID_FORMAT.format(77_012)
        }

        if settings.database_url is not None:  # what autovacuum does to a growing table
            with psycopg.connect(settings.database_url, autocommit=True) as conn:
                conn.execute("ANALYZE")  # column statistics sample the rows' values
        warden.registry.erase(erased, purpose="art. 17 request")
        clock.advance(timedelta(hours=25))
        assert warden.purge().deleted["sightings"] == 1

        after = _files(files)
        assert _place_found(after) == []
        for subject, sid in sightings.items():
            assert _sighting_rows(after, sid) == [], f"the sighting of {subject} is carved back"
        for i, piece in enumerate(sealed):
            assert piece not in after, f"sealed piece {i} of the expired sighting is on disk"
        # The kept person's number is still found (their record is live): the attack works.
        assert _id_numbers_recovered(after, settings.resolved_key_dir) == {
            _ID_FORMAT.format(44_044)
        }
        assert warden.registry.get(kept).record.full_name == "Barack Obama"
        camera_view = warden.cameras.get("side-door")  # read back as entered
        assert (camera_view.location, camera_view.latitude, camera_view.longitude) == (
            _PLACE,
            *_GPS,
        )


def test_a_place_stored_in_clear_by_an_earlier_version_is_sealed_and_leaves_the_files(
    deployment: tuple[Settings, list[Path]],
) -> None:
    settings, files = deployment
    with Warden.open(settings, clock=ManualClock(T0), create=True) as warden:
        # As versions before sealed places wrote a camera: the label and coordinates in clear.
        with warden.store.transaction() as tx:
            tx.insert_camera(
                CameraRow(
                    "cam_00000000000000aa",
                    "side-door",
                    _PLACE,
                    *_GPS,
                    (),
                    True,
                    None,
                    None,
                    False,
                    T0,
                )
            )
        warden.store.checkpoint()
        assert _place_found(_files(files)) != []  # the carving finds it

        (camera,) = warden.cameras.all()  # the first read seals it
        assert (camera.location, camera.latitude, camera.longitude) == (_PLACE, *_GPS)
        assert _place_found(_files(files)) == []
        stored = warden.store.get_camera(camera.camera_id)
        assert stored is not None and (stored.latitude, stored.longitude) == (None, None)
        assert warden.cameras.get("side-door").location == _PLACE
        # Still the sensitive place it was: removed and added again, it stays sensitive.
        warden.cameras.remove("side-door")
        again = warden.cameras.add("side-door-2", location=_PLACE)
        assert again.sensitive


# A purge in a real process, SIGKILLed when the store starts rewriting its files:
# after the commit that deleted the expired sightings, before they leave the files.
_PURGE_KILLED_WHEN_COMPACTING = """
import os, signal, sys
from datetime import datetime
from facewarden.config import Settings
from facewarden.privacy import ManualClock
from facewarden.service import Warden

with Warden.open(Settings.load(), clock=ManualClock(datetime.fromisoformat(sys.argv[1]))) as w:
    type(w.store).compact = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
    w.purge()
"""


def test_a_purge_killed_before_its_compaction_is_compacted_by_the_next_one(
    deployment: tuple[Settings, list[Path]], faces_dir: Path
) -> None:
    settings, files = deployment
    photo = faces_dir / "face_recognition" / "examples" / "knn_examples" / "train" / "obama"
    clock = ManualClock(T0)
    with Warden.open(settings, clock=clock, create=True) as warden:
        warden.watchlists.create("visitors", purpose="site access", lawful_basis="test")
        record = SubjectRecord(full_name="Barack Obama", lawful_basis="test")
        subject = warden.registry.enroll(
            record, [photo / "obama.jpg"], watchlists=["visitors"]
        ).subject_id
        warden.cameras.add("side-door", location=_PLACE, watchlists=["visitors"])
        camera = warden.store.camera_by_name("side-door")
        assert camera is not None
        sid = warden.sightings.open_visit(
            camera, subject, camera.watchlists[0], T0, T0 + timedelta(seconds=9), 0.9
        )
        warden.store.checkpoint()
        assert _sighting_rows(_files(files), sid)

    env = dict(
        os.environ,
        FACEWARDEN_DATA_DIR=str(settings.data_dir),
        FACEWARDEN_KEY_DIR=str(settings.resolved_key_dir),
        FACEWARDEN_WORKERS="1",
    )
    if settings.database_url is not None:
        env["FACEWARDEN_DATABASE_URL"] = settings.database_url
    later = T0 + timedelta(hours=25)
    killed = subprocess.run(
        [sys.executable, "-c", _PURGE_KILLED_WHEN_COMPACTING, later.isoformat()],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr

    clock.advance(timedelta(hours=26))
    with Warden.open(settings, clock=clock) as warden:
        assert warden.store.get_sighting(sid) is None  # the killed purge had committed
        assert warden.purge().deleted["sightings"] == 0  # this one deletes nothing itself
        assert _sighting_rows(_files(files), sid) == []


def test_a_corrected_record_leaves_the_files_at_the_next_purge(
    deployment: tuple[Settings, list[Path]], faces_dir: Path
) -> None:
    # A record corrected (GDPR art. 16): someone else's ID number entered by mistake, an old
    # address. The old values must not stay in old row versions, which the subject's live key
    # opens, nor the old number's token, for the key directory's holder to brute-force.
    settings, files = deployment
    photo = faces_dir / "face_recognition" / "examples" / "knn_examples" / "train" / "obama"
    with Warden.open(settings, clock=ManualClock(T0), create=True) as warden:
        record = SubjectRecord(
            full_name="Barack Obama",
            lawful_basis="test",
            id_number=_ID_FORMAT.format(31_337),
            address="1 Old Street",
        )
        subject = warden.registry.enroll(record, [photo / "obama.jpg"]).subject_id
        stored = warden.store.get_subject(subject)
        assert stored is not None
        old_address = stored.fields["address"][:40]
        warden.store.checkpoint()
        before = _files(files)
        assert _id_numbers_recovered(before, settings.resolved_key_dir) == {"FW-31337"}
        assert old_address in before

        warden.registry.update(subject, {"address": "2 New Street"})
        warden.purge()
        assert old_address not in _files(files)

        warden.registry.update(subject, {"id_number": _ID_FORMAT.format(44_044)})
        warden.purge()
        assert _id_numbers_recovered(_files(files), settings.resolved_key_dir) == {"FW-44044"}
        assert warden.registry.get(subject).record.address == "2 New Street"


def test_a_removed_face_and_its_photo_leave_the_files_at_the_next_purge(
    deployment: tuple[Settings, list[Path]], faces_dir: Path
) -> None:
    # A photo that should not have been enrolled (a bystander's, a wrong one) is removed: its
    # ciphertexts must not stay in old row versions, which the key directory still opens.
    settings, files = deployment
    obama = faces_dir / "face_recognition" / "examples" / "knn_examples" / "train" / "obama"
    with Warden.open(settings, clock=ManualClock(T0), create=True) as warden:
        record = SubjectRecord(full_name="Barack Obama", lawful_basis="test")
        subject = warden.registry.enroll(record, [obama / "obama.jpg"]).subject_id
        removed = warden.faces.add(subject, obama / "obama2.jpg")
        sealed = [f.template[:40] for f in warden.store.faces_of(subject) if f.face_id == removed]
        sealed += [
            p.ciphertext[:40] for p in warden.store.photos_of(subject) if p.face_id == removed
        ]
        assert len(sealed) == 2
        warden.store.checkpoint()
        assert all(s in _files(files) for s in sealed)

        warden.faces.remove(subject, removed)
        warden.purge()
        after = _files(files)
        assert [s in after for s in sealed] == [False, False]
        assert len(warden.store.faces_of(subject)) == 1
