"""The audit log under load and under attack, on SQLite and on PostgreSQL.

Issue 14 "Broken 1": verification read the head row, then the entries, with
no snapshot between them, so requests appending meanwhile raised a false
tamper alarm. Here 4 threads append while 1000 verifications run: not one
may fail; and a real edit made afterwards is still named.

Issue 13 finding 3 on PostgreSQL: the log is wiped, cut back with an older
head row, and rolled back to an older copy with SQL, as someone holding the
database (not the key directory) would; verification must fail each time.
"""

from __future__ import annotations

import secrets
import shutil
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from facewarden.privacy import ManualClock
from facewarden.service import Warden
from facewarden.service.audit import DAMAGED
from facewarden.store._pg_embedded import EmbeddedPostgres

from .conftest import make_settings

VERIFICATIONS = 1000
APPENDERS = 4
STRIDE = 16  # verifications between two appends of one thread


@dataclass
class Deployment:
    """A deployment and a raw SQL door into its database (the attacker's)."""

    warden: Warden
    sql: Callable[..., list[tuple[Any, ...]]]
    backend: str


def _sqlite_door(db: Path) -> Callable[..., list[tuple[Any, ...]]]:
    def run(statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(db)
        try:
            with conn:
                return conn.execute(statement.replace("%s", "?"), params).fetchall()
        finally:
            conn.close()

    return run


def _pg_door(url: str) -> Callable[..., list[tuple[Any, ...]]]:
    def run(statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(url, autocommit=True) as conn:
            cursor = conn.execute(statement, params)  # type: ignore[arg-type]
            return cursor.fetchall() if cursor.description else []

    return run


@pytest.fixture(params=["sqlite", "postgres"])
def deployment(
    request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock
) -> Iterator[Deployment]:
    if request.param == "sqlite":
        settings = make_settings(tmp_path)
    else:
        server: EmbeddedPostgres = request.getfixturevalue("pg_server")
        settings = make_settings(
            tmp_path, database_url=server.create_database(f"a_{secrets.token_hex(6)}")
        )
    warden = Warden.open(settings, clock=clock, create=True, actor="test:audit")
    door = (
        _sqlite_door(settings.data_dir / "facewarden.db")
        if request.param == "sqlite"
        else _pg_door(str(settings.database_url))
    )
    yield Deployment(warden, door, request.param)
    warden.close()


def test_verification_under_concurrent_appends_never_cries_wolf(deployment: Deployment) -> None:
    warden = deployment.warden
    done = threading.Event()
    appended = [0] * APPENDERS
    errors: list[BaseException] = []

    def append(slot: int) -> None:
        # Each thread appends once every STRIDE verifications, at a moment of its
        # own choosing: the appends land in the middle of verifications, while
        # the log stays small enough for 1000 checks to take seconds.
        last = -STRIDE
        try:
            while not done.is_set():
                if len(checked) - last < STRIDE:
                    time.sleep(0.0005)
                    continue
                last = len(checked)
                warden.audit.record("test.append", details={"thread": slot})
                appended[slot] += 1
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    alarms: list[str] = []
    checked: list[int] = []
    threads = [threading.Thread(target=append, args=(i,)) for i in range(APPENDERS)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(VERIFICATIONS):
            result = warden.audit.verify()
            checked.append(result.report.checked)
            if not result.ok:
                alarms.append(str(result.report.problem))
    finally:
        done.set()
        for thread in threads:
            thread.join()
    assert not errors, errors
    assert alarms == [], f"{len(alarms)} false alarms, first: {alarms[0]}"
    assert len(checked) == VERIFICATIONS
    # The appenders really ran alongside: the log grew while it was being verified.
    assert all(n > 0 for n in appended), appended
    assert checked[-1] > checked[0]
    final = warden.audit.verify()
    assert final.ok and final.report.checked == 1 + sum(appended)

    # Real tampering is still named, on the same log.
    deployment.sql("UPDATE audit_log SET actor = 'mallory' WHERE seq = 5")
    tampered = warden.audit.verify()
    assert not tampered.ok and tampered.report.first_bad_seq == 5
    assert str(tampered.report.problem).startswith("tampered")


def _grow(warden: Warden, n: int, action: str = "test.append") -> None:
    for _ in range(n):
        warden.audit.record(action)


def test_a_wiped_log_is_detected(deployment: Deployment) -> None:
    _grow(deployment.warden, 5)
    assert deployment.warden.audit.verify().ok
    deployment.sql("DELETE FROM audit_log")
    deployment.sql("DELETE FROM meta WHERE key = 'audit_head'")
    result = deployment.warden.audit.verify()
    assert not result.ok and str(result.report.problem).startswith("wiped")
    assert any("wiped" in p for p in deployment.warden.integrity_check())


def test_a_cut_tail_with_its_older_head_row_is_detected(deployment: Deployment) -> None:
    _grow(deployment.warden, 3)
    old_head = deployment.sql("SELECT value FROM meta WHERE key = 'audit_head'")[0][0]
    _grow(deployment.warden, 3)
    deployment.sql("DELETE FROM audit_log WHERE seq > 4")
    deployment.sql("UPDATE meta SET value = %s WHERE key = 'audit_head'", (old_head,))
    result = deployment.warden.audit.verify()
    assert not result.ok and result.report.first_bad_seq == 5
    assert str(result.report.problem).startswith("deleted")


def test_a_rollback_to_an_older_copy_is_detected(deployment: Deployment) -> None:
    _grow(deployment.warden, 3)
    columns = (
        "pos, seq, ts, actor, action, object_type, object_id, purpose, outcome, details, "
        "prev_hash, entry_hash"
    )
    saved = deployment.sql(f"SELECT {columns} FROM audit_log ORDER BY pos")
    head = deployment.sql("SELECT value FROM meta WHERE key = 'audit_head'")[0][0]
    _grow(deployment.warden, 4)
    deployment.sql("DELETE FROM audit_log")
    marks = ", ".join(["%s"] * 12)
    # PostgreSQL's pos is an identity column; the attacker puts the old values back.
    override = " OVERRIDING SYSTEM VALUE" if deployment.backend == "postgres" else ""
    for row in saved:
        deployment.sql(f"INSERT INTO audit_log ({columns}){override} VALUES ({marks})", row)
    deployment.sql("UPDATE meta SET value = %s WHERE key = 'audit_head'", (head,))
    assert not deployment.warden.audit.verify().ok
    _grow(deployment.warden, 6, "test.other")  # the old copy grows past the signed head
    result = deployment.warden.audit.verify()
    assert not result.ok and str(result.report.problem).startswith("rolled back")
    assert result.report.first_bad_seq == 8


def test_two_servers_with_their_own_key_directories_share_one_log(
    pg_server: EmbeddedPostgres, tmp_path: Path, clock: ManualClock
) -> None:
    url = pg_server.create_database(f"m_{secrets.token_hex(6)}")
    first = make_settings(tmp_path / "host1", database_url=url)
    second = make_settings(tmp_path / "host2", database_url=url)
    with Warden.open(first, clock=clock, create=True, actor="host:1") as one:
        _grow(one, 2)
        shutil.copytree(first.key_dir, second.key_dir)  # a copy of the keys on host 2
        (second.key_dir / "audit-anchor.json").unlink()  # host 2 has written nothing yet
        with Warden.open(second, clock=clock, actor="host:2") as two:
            for _ in range(3):
                _grow(one, 2)
                _grow(two, 2, "test.other")
            assert one.audit.verify().ok and two.audit.verify().ok
            assert [e.action for e in two.audit.entries(after_seq=3, limit=1)] == ["audit.anchor"]
            # Each host holds its own head; both catch a rollback below it.
            door = _pg_door(url)
            door("DELETE FROM audit_log WHERE seq > 10")
            for server in (one, two):
                result = server.audit.verify()
                assert not result.ok and str(result.report.problem).startswith("deleted")


def test_a_sealed_purpose_copied_onto_another_entry_is_named(deployment: Deployment) -> None:
    warden = deployment.warden
    warden.audit.record("test.append", purpose="case A")
    warden.audit.record("test.append", purpose="case B")
    sealed = deployment.sql("SELECT purpose FROM audit_log WHERE seq = 2")[0][0]
    deployment.sql("UPDATE audit_log SET purpose = %s WHERE seq = 3", (sealed,))
    result = warden.audit.verify()
    assert not result.ok and result.report.first_bad_seq == 3
    assert str(result.report.problem).startswith("tampered")
    # The log stays readable; the moved text does not open under entry 3's binding.
    shown = {e.seq: e.purpose for e in warden.audit.entries()}
    assert shown[2] == "case A" and shown[3] == DAMAGED


def test_a_commit_whose_anchor_write_was_lost_raises_no_alarm(deployment: Deployment) -> None:
    warden = deployment.warden
    _grow(warden, 2)
    keeper = warden._ctx.anchor
    assert keeper is not None and keeper.read() is not None
    signed = keeper.read()
    # A process killed between its commit and its anchor write: the entries
    # are in the log, the signed head still names an older one.
    warden._ctx.anchor = None
    _grow(warden, 3)
    warden._ctx.anchor = keeper
    assert keeper.read() == signed
    assert warden.audit.verify().ok  # the anchor is a lower bound: it may lag
    _grow(warden, 1)
    head = keeper.read()
    assert head is not None and head.seq == warden.audit.verify().head_seq == 7
