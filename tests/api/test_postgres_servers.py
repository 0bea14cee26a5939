"""Acceptance 4: enroll through one server process, identify through another.

Two ``facewarden serve`` subprocesses (their own ports and data folders,
one key directory, one PostgreSQL database) serve the same deployment. A
person enrolled through server A is identified from another photo through
server B within the stated propagation bound (docs/postgres.md: an
identification on B started 2 s after A's 201 finds the person; every
search compares the store's gallery version with the one in memory, so in
practice the very next request sees the change), and erased through B, no
longer matches through A.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import psycopg

from facewarden.store._pg_embedded import EmbeddedPostgres
from facewarden.store.postgres import WRITER_LOCK

from .test_serve_postgres import (
    BIDEN,
    OBAMA,
    OBAMA_PROBE,
    create_watchlist,
    enroll,
    identify,
    matched,
    serving_two,
    start_serve,
)

PROPAGATION_BOUND_S = 2.0


def test_enrolled_on_one_server_identified_on_another(
    pg_server: EmbeddedPostgres, tmp_path: Path, faces_dir: Path
) -> None:
    with serving_two(pg_server, tmp_path, "two") as (a, b, _):
        key = a.api_key()
        with a.client(key) as on_a, b.client(key) as on_b:
            create_watchlist(on_a)
            # B searches the (empty) watchlist first, so its gallery is in memory
            # and must notice A's enrollment rather than load it fresh.
            assert matched(identify(on_b)) == []
            enrolled = enroll(on_a, OBAMA)
            acknowledged = time.monotonic()
            assert enrolled.status_code == 201, enrolled.text
            subject = enrolled.json()["subject_id"]
            # The delay is measured to the start of the first identification on B
            # that finds the person: the change was visible to B by then. (The
            # request's own work, decoding and embedding the probe, is not part of
            # propagation; it is printed too.)
            polls = 0
            while True:
                asked = time.monotonic()
                found = matched(identify(on_b, OBAMA_PROBE))
                answered = time.monotonic()
                polls += 1
                if found or asked - acknowledged > PROPAGATION_BOUND_S:
                    break
                time.sleep(0.05)
            delay = asked - acknowledged
            print(
                f"propagation A -> B: visible to identify #{polls} on B, started "
                f"{delay:.3f} s after A's 201, answered after {answered - acknowledged:.3f} s"
            )
            assert found == [subject]
            assert delay <= PROPAGATION_BOUND_S

            assert on_b.delete(f"/v1/subjects/{subject}").status_code == 204
            assert matched(identify(on_a, OBAMA_PROBE)) == []
            assert on_a.get(f"/v1/subjects/{subject}").status_code == 404


def _lock_waiters(url: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
        ).fetchone()
    return int(row[0]) if row else 0


def _await_waiters(url: str, count: int) -> None:
    deadline = time.monotonic() + 60
    while _lock_waiters(url) < count:
        assert time.monotonic() < deadline, f"{count} writer(s) never queued for the lock"
        time.sleep(0.05)


def test_a_write_queued_behind_another_servers_erasure_does_not_hide_it(
    pg_server: EmbeddedPostgres, tmp_path: Path, faces_dir: Path
) -> None:
    """B writes while queued behind A's erasure; B must still drop the erased person.

    B reads the gallery version before it queues for the database's write
    lock; A's erasure commits a new version meanwhile; B then commits a
    version of its own. B's in-memory gallery must not take its own version
    as the erasure's: the erased person no longer matches on B.
    """
    with serving_two(pg_server, tmp_path, "race") as (a, b, url):
        key = a.api_key()
        with a.client(key) as on_a, b.client(key) as on_b:
            create_watchlist(on_a)
            enrolled = enroll(on_a, OBAMA)
            assert enrolled.status_code == 201, enrolled.text
            obama = enrolled.json()["subject_id"]
            # B holds the gallery (with Obama) in memory.
            assert matched(identify(on_b, OBAMA_PROBE)) == [obama]

            answers: dict[str, httpx.Response] = {}

            def erase_on_a() -> None:
                answers["erase"] = on_a.delete(f"/v1/subjects/{obama}")

            def enroll_on_b() -> None:
                answers["enroll"] = enroll(on_b, BIDEN)

            # The test holds the writers' lock, so A's erasure queues first and
            # B's enrollment behind it (PostgreSQL grants waiters in order).
            with psycopg.connect(url) as holder:
                holder.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
                first = threading.Thread(target=erase_on_a)
                first.start()
                _await_waiters(url, 1)
                second = threading.Thread(target=enroll_on_b)
                second.start()
                _await_waiters(url, 2)
                holder.rollback()
            first.join(timeout=60)
            second.join(timeout=60)
            assert answers["erase"].status_code == 204, answers["erase"].text
            assert answers["enroll"].status_code == 201, answers["enroll"].text

            assert matched(identify(on_b, OBAMA_PROBE)) == []
            assert matched(identify(on_a, OBAMA_PROBE)) == []


def test_a_compreface_recognition_queued_behind_an_enrollment_still_finds_the_enrolled(
    pg_server: EmbeddedPostgres, tmp_path: Path, faces_dir: Path
) -> None:
    """B's CompreFace recognition waits for the writers' lock while A enrolls someone else.

    Its gallery is then behind the database: it must be caught up under the
    lock, not searched (stale, or dropped and empty) as it was.
    """
    lawful = {"FACEWARDEN_COMPREFACE_LAWFUL_BASIS": "consent form on file (test)"}
    with serving_two(pg_server, tmp_path, "cf", lawful) as (a, b, url):
        key = a.api_key()
        headers = {"x-api-key": key}
        with (
            httpx.Client(base_url=a.url, headers=headers, timeout=60.0) as on_a,
            httpx.Client(base_url=b.url, headers=headers, timeout=60.0) as on_b,
        ):

            def add_example(name: str, photo: Path) -> httpx.Response:
                return on_a.post(
                    "/api/v1/recognition/faces",
                    params={"subject": name},
                    files={"file": (photo.name, photo.read_bytes(), "image/jpeg")},
                )

            def recognized() -> list[str]:
                answer = on_b.post(
                    "/api/v1/recognition/recognize",
                    files={"file": (OBAMA_PROBE.name, OBAMA_PROBE.read_bytes(), "image/jpeg")},
                )
                assert answer.status_code == 200, answer.text
                [face] = answer.json()["result"]
                return [s["subject"] for s in face["subjects"] if s["similarity"] > 0.5]

            assert add_example("Obama", OBAMA).status_code == 201
            assert recognized() == ["Obama"]  # B holds the gallery in memory

            answers: dict[str, object] = {}
            with psycopg.connect(url) as holder:
                holder.execute("SELECT pg_advisory_xact_lock(%s)", (WRITER_LOCK,))
                first = threading.Thread(
                    target=lambda: answers.update(enroll=add_example("Biden", BIDEN))
                )
                first.start()
                _await_waiters(url, 1)
                second = threading.Thread(target=lambda: answers.update(found=recognized()))
                second.start()
                _await_waiters(url, 2)
                holder.rollback()
            first.join(timeout=60)
            second.join(timeout=60)
            enrolled = answers["enroll"]
            assert isinstance(enrolled, httpx.Response) and enrolled.status_code == 201
            assert answers["found"] == ["Obama"]


def test_a_pgvector_server_refills_the_vectors_a_command_without_pgvector_removed(
    pg_server: EmbeddedPostgres, tmp_path: Path, faces_dir: Path
) -> None:
    """A command run without ``gallery_index = "pgvector"`` next to a pgvector server.

    Opening without pgvector empties ``face_vectors`` (no template is kept
    unencrypted by a deployment that does not search there). Found with two
    processes: an operator's ``facewarden subjects list`` (its environment
    lacking the setting) left the running pgvector server identifying no one,
    silently, until it was restarted, as it copies templates in only at its
    first search. It must copy them in again at its next search.
    """
    url = pg_server.create_database(f"vec_{secrets.token_hex(6)}")
    env = {"FACEWARDEN_DATABASE_URL": url, "FACEWARDEN_GALLERY_INDEX": "pgvector"}
    keys = tmp_path / "keys"
    served = start_serve("--init", "--data-dir", tmp_path / "a", "--key-dir", keys, env=env)
    try:
        with served.client(served.api_key()) as client:
            create_watchlist(client)
            obama = enroll(client, OBAMA).json()["subject_id"]
            assert matched(identify(client, OBAMA_PROBE)) == [obama]

            environment = {k: v for k, v in os.environ.items() if not k.startswith("FACEWARDEN_")}
            listed = subprocess.run(
                [sys.executable, "-m", "facewarden.cli", "subjects", "list"],
                env=environment
                | {
                    "FACEWARDEN_DATABASE_URL": url,
                    "FACEWARDEN_KEY_DIR": str(keys),
                    "FACEWARDEN_DATA_DIR": str(tmp_path / "cli"),
                },
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert listed.returncode == 0, listed.stderr
            assert "removed 1 unencrypted template(s) from face_vectors" in listed.stderr
            with psycopg.connect(url) as conn:
                assert conn.execute("SELECT count(*) FROM face_vectors").fetchone() == (0,)

            assert matched(identify(client, OBAMA_PROBE)) == [obama]
    finally:
        code = served.stop()
    assert code == 0
    assert "Traceback" not in "".join(served.err)


def test_a_camera_removed_on_one_server_ends_its_stream_on_another_quietly(
    pg_server: EmbeddedPostgres, tmp_path: Path, faces_dir: Path
) -> None:
    """B holds a pushed stream of a camera that A removes; B's frames stop, and B ends it cleanly.

    Found with two processes: when B finished the stream (at shutdown, or idle)
    it wrote the stream's crowd counts for a camera that no longer existed: a
    foreign-key ConflictError and its traceback in B's log. The counts went with
    the camera.
    """
    with serving_two(pg_server, tmp_path, "gone") as (a, b, url):
        key = a.api_key()
        with a.client(key) as on_a, b.client(key) as on_b:
            create_watchlist(on_a)
            assert enroll(on_a, OBAMA).status_code == 201
            made = on_a.post(
                "/v1/cameras", json={"name": "door", "location": "door", "watchlists": ["gate"]}
            )
            assert made.status_code == 201, made.text
            start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
            for step in range(3):
                pushed = on_b.post(
                    "/v1/cameras/door/frames",
                    data={"taken_at": (start + timedelta(seconds=2 * step)).isoformat()},
                    files={"image": ("f.jpg", OBAMA_PROBE.read_bytes(), "image/jpeg")},
                )
                assert pushed.status_code == 200, pushed.text
            assert on_a.delete("/v1/cameras/door").status_code == 204
            late = on_b.post(
                "/v1/cameras/door/frames",
                data={"taken_at": (start + timedelta(seconds=8)).isoformat()},
                files={"image": ("f.jpg", OBAMA_PROBE.read_bytes(), "image/jpeg")},
            )
            assert late.status_code == 404, late.text
            with psycopg.connect(url) as conn:
                assert conn.execute("SELECT count(*) FROM sightings").fetchone() == (0,)
    assert "ending the pushed stream" not in "".join(a.err + b.err)
