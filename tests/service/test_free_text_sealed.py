"""Issue 13 finding 4, as the attacker did it: a name typed into free text, then grep every file.

A unique name is typed where people type text: a watchlist's declared
purpose and lawful basis, an access purpose, a case reference (asked, approved and used), and
a note on an audited action. Then
every file the deployment wrote is searched for it: the SQLite database and
its WAL, or PostgreSQL's data directory with ``pg_wal``; the backup that
``Warden.backup`` made; the logs (everything at DEBUG). It must be nowhere.
An admin still reads it; an auditor sees only that something was typed; the
chain still verifies (it hashes the sealed text). SECURITY.md promise 17.
"""

from __future__ import annotations

import logging
import secrets
from pathlib import Path

import pytest

from facewarden.config import Settings
from facewarden.privacy import ManualClock
from facewarden.service import SubjectRecord, Warden
from facewarden.service.audit import NOTE, REDACTED
from facewarden.store._pg_embedded import EmbeddedPostgres

from ._data import KNN
from .conftest import Detect, make_settings


def _files_holding(root: Path, needles: list[bytes]) -> list[str]:
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        try:
            data = path.read_bytes()
        except (PermissionError, FileNotFoundError):
            # FileNotFoundError: the running server removed it while we walked
            # (a relation cache, a recycled WAL segment); it holds nothing now.
            continue
        found += [f"{path}: {n.decode()}" for n in needles if n in data]
    return found


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_name_typed_into_free_text_is_in_no_written_file(
    backend: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    clock: ManualClock,
    detect: Detect,
    faces_dir: Path,
) -> None:
    marks = {
        kind: f"Zq{secrets.token_hex(5)}{kind}Name"
        for kind in ("purpose", "case", "note", "listing", "watchlist", "basis")
    }
    server: EmbeddedPostgres | None = None
    overrides: dict[str, object] = {"history_needs_approval": True}
    if backend == "postgres":
        server = request.getfixturevalue("pg_server")
        overrides["database_url"] = server.create_database(f"f_{secrets.token_hex(6)}")
    settings: Settings = make_settings(tmp_path, **overrides)
    log_file = tmp_path / "logs" / "facewarden.log"
    log_file.parent.mkdir()
    handler = logging.FileHandler(log_file)
    root_logger = logging.getLogger()
    level = root_logger.level
    root_logger.addHandler(handler)
    root_logger.setLevel(logging.DEBUG)
    try:
        with Warden.open(settings, clock=clock, create=True, actor="user:ann") as ann:
            declared = f"keep {marks['watchlist']} out"
            basis = f"consent form signed by {marks['basis']}"
            ann.watchlists.create("gate", purpose=declared, lawful_basis=basis)
            gate = ann.watchlists.get("gate")
            assert (gate.purpose, gate.lawful_basis) == (declared, basis)
            photo = KNN / "train" / "obama" / "obama.jpg"
            faces = detect(photo, "accurate")
            largest = max(faces, key=lambda f: f.box.area)
            prepared = ann.registry.prepare_detected([largest], source=str(photo))
            record = SubjectRecord(full_name="Barack", lawful_basis="test")
            subject_id = ann.registry.enroll_prepared(
                record, [prepared], watchlists=["gate"]
            ).subject_id
            ann.registry.get(subject_id, purpose=marks["purpose"])
            ann.registry.subjects(purpose=marks["listing"])
            ann.registry.subjects()  # no purpose given: facewarden's own marker
            pending = ann.sightings.history(
                subject_id, 24, role="investigator", case_reference=marks["case"]
            )
            ann.with_actor("user:bob").sightings.approve(
                str(pending.request_id), role="investigator"
            )
            ann.sightings.history(
                subject_id,
                24,
                role="investigator",
                case_reference=marks["case"],
                request_id=pending.request_id,
            )
            ann.audit.record("alert.dismiss", note=f"false alarm, it was {marks['note']}")
            backup = (
                str(tmp_path / "backup.db")
                if server is None
                else server.url(f"b_{secrets.token_hex(6)}")
            )
            ann.backup(backup)
            assert ann.audit.verify().ok

            # Who may read it still can; an auditor sees only that it is there.
            entries = ann.audit.entries(limit=100)
            opened = [ann.audit.readable(e) for e in entries]
            purposes = {e.purpose for e in opened}
            assert {marks["purpose"], marks["case"], marks["listing"], declared} <= purposes
            notes = [e.details.get(NOTE) for e in opened if e.action == "alert.dismiss"]
            assert notes == [f"false alarm, it was {marks['note']}"]
            shown = [ann.audit.redacted(e) for e in entries]
            assert not any(m in str(e) for e in shown for m in marks.values())
            assert REDACTED in {e.purpose for e in shown}
            # The marker that no purpose was given is not typed text: auditors see it.
            assert "subject listing (none given)" in {e.purpose for e in shown}
            if server is not None:
                ann.store.checkpoint()
    finally:
        root_logger.removeHandler(handler)
        root_logger.setLevel(level)
        handler.close()

    needles = [m.encode() for m in marks.values()]
    roots = [tmp_path] if server is None else [tmp_path, server.data]
    leaks = [hit for root in roots for hit in _files_holding(root, needles)]
    assert leaks == []
