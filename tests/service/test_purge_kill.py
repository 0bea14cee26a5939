"""A retention purge SIGKILLed anywhere (a real process) erases all its expired subjects or none.

Three subjects have expired, a fourth has not. A real Python process opens
the deployment and runs ``Warden.purge``; the test script of that process
(never the product) wraps one product function so that the process
SIGKILLs itself right there:

- ``erasing``: after the first expired subject's rows are deleted, before
  the others' (inside the transaction);
- ``recorded``: just after the erasures are written to the erasure ledger,
  before the commit;
- ``committed``: after the commit, before any KEK is destroyed;
- ``destroying``: after the first bucket of KEKs is rewritten, before the rest;
- ``compacting``: when the store starts rewriting its files.

The next open (what a restarted server does) must then show one of the two
states, never a mix: every expired subject there and readable (killed before
the ledger record) or every one gone with its KEK (killed after it). The
subject that had not expired is always there, the store's integrity check and
the audit chain pass, and the next purge leaves no expired subject. On SQLite
and on the PostgreSQL of ``pg_server``.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from facewarden.config import Settings
from facewarden.errors import NotFoundError
from facewarden.privacy import KeyRing, ManualClock
from facewarden.service import Warden
from facewarden.store._pg_embedded import EmbeddedPostgres

from ._data import KNN
from .conftest import T0, Enroll, make_settings

RETENTION_DAYS = 30
PURGE_AT = T0 + timedelta(days=RETENTION_DAYS + 10)
EXPIRED = ["obama", "biden", "rose_leslie"]
KEPT = "alex_lacamoire"

_PURGE = textwrap.dedent(
    """
    import os, signal, sys
    from datetime import datetime
    from facewarden.config import Settings
    from facewarden.privacy import KeyRing, ManualClock
    from facewarden.privacy._subjectkeys import SubjectKeyStore
    from facewarden.service import Warden
    from facewarden.service.registry import Registry

    where, at = sys.argv[1], datetime.fromisoformat(sys.argv[2])
    state = {"erased": 0, "recorded": False}

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    def wrap(owner, name, before=None, after=None):
        original = getattr(owner, name)
        def wrapped(*args, **kwargs):
            if before is not None:
                before()
            result = original(*args, **kwargs)
            if after is not None:
                after()
            return result
        setattr(owner, name, wrapped)

    def count_erased():
        state["erased"] += 1
        if where == "erasing" and state["erased"] == 1:
            die()

    def recorded():
        state["recorded"] = True
        if where == "recorded":
            die()

    def when_recorded(point):
        return lambda: die() if where == point and state["recorded"] else None

    wrap(Registry, "erase_in", after=count_erased)
    wrap(KeyRing, "record_erasures", after=recorded)
    wrap(KeyRing, "destroy_erased_keys", before=when_recorded("committed"))
    wrap(SubjectKeyStore, "_destroy_locked", after=when_recorded("destroying"))
    with Warden.open(Settings.load(), clock=ManualClock(at), actor="test:purge") as warden:
        wrap(type(warden.store), "compact", before=when_recorded("compacting"))
        report = warden.purge()
    print("purged", *report.erased_subjects, flush=True)
    """
)


@pytest.fixture(params=["sqlite", "postgres"])
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    url = None
    if request.param == "postgres":
        server: EmbeddedPostgres = request.getfixturevalue("pg_server")
        url = server.create_database(f"pk_{secrets.token_hex(6)}")
    return make_settings(tmp_path, database_url=url, subject_retention_days=RETENTION_DAYS)


def _photo(person: str) -> Path:
    return sorted((KNN / "train" / person).iterdir())[0]


def _deployment(settings: Settings, enroll: Enroll) -> dict[str, str]:
    """The four subjects (three expired by PURGE_AT), by person."""
    clock = ManualClock(T0)
    ids = {}
    with Warden.open(settings, clock=clock, create=True) as warden:
        warden.watchlists.create("staff", purpose="test", lawful_basis="test")
        for person in EXPIRED:
            ids[person] = enroll(warden, person, [_photo(person)], ["staff"]).subject_id
        clock.advance(timedelta(days=20))  # not expired at PURGE_AT
        ids[KEPT] = enroll(warden, KEPT, [_photo(KEPT)], ["staff"]).subject_id
    return ids


def _purge_killed_at(settings: Settings, where: str) -> subprocess.CompletedProcess[str]:
    env = dict(
        os.environ,
        FACEWARDEN_DATA_DIR=str(settings.data_dir),
        FACEWARDEN_KEY_DIR=str(settings.resolved_key_dir),
        FACEWARDEN_SUBJECT_RETENTION_DAYS=str(RETENTION_DAYS),
        FACEWARDEN_WORKERS="1",
    )
    if settings.database_url is not None:
        env["FACEWARDEN_DATABASE_URL"] = settings.database_url
    return subprocess.run(
        [sys.executable, "-c", _PURGE, where, PURGE_AT.isoformat()],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.mark.parametrize(
    ("where", "erased"),
    [
        ("erasing", False),
        ("recorded", True),
        ("committed", True),
        ("destroying", True),
        ("compacting", True),
    ],
)
def test_a_purge_killed_anywhere_erases_every_expired_subject_or_none(
    settings: Settings, enroll: Enroll, where: str, erased: bool
) -> None:
    ids = _deployment(settings, enroll)
    done = _purge_killed_at(settings, where)
    assert done.returncode == -signal.SIGKILL, done.stdout + done.stderr[-3000:]

    expired = [ids[p] for p in EXPIRED]
    clock = ManualClock(PURGE_AT)
    with Warden.open(settings, clock=clock) as warden:  # what a restarted server does
        keyring = KeyRing.open(settings.resolved_key_dir)
        present = []
        for subject_id in expired:
            try:
                subject = warden.registry.get(subject_id, purpose="check")
            except NotFoundError:
                assert not keyring.has_subject_key(subject_id)
            else:
                assert subject.record.full_name in EXPIRED  # whole: its record decrypts
                assert keyring.has_subject_key(subject_id)
                present.append(subject_id)
        assert present == ([] if erased else expired), where
        assert warden.registry.get(ids[KEPT], purpose="check").record.full_name == KEPT
        assert warden.integrity_check() == []
        assert warden.audit.verify().ok
        # The next purge takes whatever the killed one did not.
        assert sorted(warden.purge().erased_subjects) == sorted(present)
        for subject_id in expired:
            with pytest.raises(NotFoundError):
                warden.registry.get(subject_id, purpose="check")
            assert not KeyRing.open(settings.resolved_key_dir).has_subject_key(subject_id)


def test_a_purge_that_is_not_killed_erases_every_expired_subject(
    settings: Settings, enroll: Enroll
) -> None:
    """The script itself, without a kill: the purge runs to its end."""
    ids = _deployment(settings, enroll)
    done = _purge_killed_at(settings, "nowhere")
    assert done.returncode == 0, done.stderr[-3000:]
    assert sorted(done.stdout.split()[1:]) == sorted(ids[p] for p in EXPIRED)
