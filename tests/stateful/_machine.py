"""A hypothesis state machine over the real service layer of one deployment.

Rules are the operations a deployment lives through: enroll, add a face,
identify, verify, erase, export, rotate the master key (and destroy the old
one), rotate the template key, advance an injected clock and purge, close and
reopen. A small model remembers what was acknowledged; after every step the
invariants are checked against the real store:

- every acknowledged, unerased subject is found by identification with its own
  enrolled face, verifies with its own photo, and exports with its record;
- an erased (or purged) subject never matches, cannot be verified, read or
  exported, and its id appears in no watchlist;
- no export carries a template;
- the store's integrity check and the audit chain (with its signed anchor) pass;
- no personal value of any subject, enrolled or erased, appears in clear in any
  file of the deployment's data (SQLite: the data directory, with its WAL; the
  PostgreSQL cluster's files are scanned by the caller at the end).

Faces come from the real pipeline on real photos (dlib's "johns" chips in
``../shared``), detected once per session; enrollment goes through
``Registry.prepare_detected`` and ``enroll_prepared``, the path bulk import's
workers use; ``verify`` and ``add face`` run the pipeline on the photo.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from facewarden.config import Settings
from facewarden.errors import NotFoundError
from facewarden.privacy import ManualClock
from facewarden.service import SubjectRecord, Warden
from facewarden.types import Face

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
RETENTION_DAYS = 30
WATCHLIST = "gate"
PURPOSE = "stateful test"


@dataclass(frozen=True)
class Person:
    """One real person of the photo set: photos and their faces, found once."""

    name: str
    photos: tuple[Path, ...]
    faces: tuple[list[Face], ...]  # the enrollment pipeline's faces of each photo


@dataclass
class Enrolled:
    """What the model knows of one acknowledged subject."""

    person: Person
    markers: tuple[str, ...]
    touched: datetime
    faces: int


@dataclass
class World:
    """The fixed parts a machine runs against (set by the test before running it)."""

    people: tuple[Person, ...] = ()
    settings_for: Callable[[Path], Settings] | None = None
    scratch: Callable[[], Path] | None = None
    scanned_files: Callable[[Settings], Iterable[Path]] = lambda s: ()
    log: list[str] = field(default_factory=list)


WORLD = World()


def personal_markers() -> dict[str, str]:
    """Values unique enough that finding one in a file can only mean a leak."""
    token = secrets.token_hex(6)
    return {
        "full_name": f"Qzx{token} Marker",
        "id_number": f"IDX{token.upper()}",
        "address": f"{token} Leakcheck Street",
    }


def leaked(markers: Iterable[str], files: Iterable[Path]) -> list[str]:
    """Each ``marker found in file`` pair; reads every file once."""
    needles = [m.encode() for m in markers]
    found = []
    for path in files:
        try:
            data = path.read_bytes()
        except OSError:
            continue  # a WAL file removed by a checkpoint meanwhile
        found += [f"{n.decode()} in {path}" for n in needles if n in data]
    return found


class ServiceMachine(RuleBasedStateMachine):
    """Random sequences of the deployment's operations, with the model checked after each."""

    def __init__(self) -> None:
        super().__init__()
        assert WORLD.settings_for is not None and WORLD.scratch is not None
        self.clock = ManualClock(T0)
        self.settings = WORLD.settings_for(WORLD.scratch())
        self.warden = Warden.open(self.settings, clock=self.clock, create=True, actor="test:state")
        self.live: dict[str, Enrolled] = {}
        self.erased: dict[str, Enrolled] = {}
        self.all_markers: list[str] = []
        self.old_masters: list[str] = []

    @initialize()
    def create_watchlist(self) -> None:
        self.warden.watchlists.create(WATCHLIST, purpose=PURPOSE, lawful_basis="test")

    # ---- operations -------------------------------------------------------------

    def _absent(self) -> list[Person]:
        # One live enrollment per person: a person enrolled twice ties with
        # themselves at similarity 1, and the top-k check would depend on ties.
        present = {e.person.name for e in self.live.values()}
        return [p for p in WORLD.people if p.name not in present]

    @precondition(lambda self: self._absent())
    @rule(data=st.data(), photos=st.integers(1, 2))
    def enroll(self, data: st.DataObject, photos: int) -> None:
        person = data.draw(st.sampled_from(self._absent()), label="person")
        markers = personal_markers()
        self.all_markers += markers.values()
        prepared = [
            self.warden.registry.prepare_detected(faces, source=str(photo))
            for photo, faces in zip(person.photos[:photos], person.faces[:photos], strict=True)
        ]
        record = SubjectRecord(lawful_basis="test", **markers)
        enrollment = self.warden.registry.enroll_prepared(
            record, prepared, watchlists=[WATCHLIST], purpose=PURPOSE
        )
        # Acknowledged: from here on it must be found until it is erased.
        self.live[enrollment.subject_id] = Enrolled(
            person, tuple(markers.values()), self.clock(), photos
        )
        WORLD.log.append(f"enroll {enrollment.subject_id} ({person.name}, {photos} photos)")

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def add_face(self, data: st.DataObject) -> None:
        subject_id = data.draw(st.sampled_from(sorted(self.live)), label="subject")
        entry = self.live[subject_id]
        self.warden.faces.add(subject_id, entry.person.photos[2], purpose=PURPOSE)
        entry.faces += 1
        row = self.warden.store.get_subject(subject_id)
        assert row is not None
        entry.touched = row.updated_at
        WORLD.log.append(f"add-face {subject_id}")

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def verify(self, data: st.DataObject) -> None:
        subject_id = data.draw(st.sampled_from(sorted(self.live)), label="subject")
        person = self.live[subject_id].person
        result = self.warden.recognition.verify(person.photos[0], subject_id, purpose=PURPOSE)
        assert result.is_match, f"{subject_id} does not verify with its own photo: {result}"
        WORLD.log.append(f"verify {subject_id}")

    @precondition(lambda self: self.erased)
    @rule(data=st.data())
    def verify_erased(self, data: st.DataObject) -> None:
        subject_id = data.draw(st.sampled_from(sorted(self.erased)), label="erased")
        person = self.erased[subject_id].person
        try:
            self.warden.recognition.verify(person.photos[0], subject_id, purpose=PURPOSE)
        except NotFoundError:
            WORLD.log.append(f"verify-erased {subject_id}")
            return
        raise AssertionError(f"erased {subject_id} can still be verified")

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def export(self, data: st.DataObject) -> None:
        subject_id = data.draw(st.sampled_from(sorted(self.live)), label="subject")
        exported = self.warden.registry.export(subject_id, purpose=PURPOSE)
        assert exported["subject_id"] == subject_id
        record = exported["record"]
        assert isinstance(record, dict)
        assert record["full_name"] == self.live[subject_id].markers[0]
        assert "template" not in json.dumps(exported).lower(), "an export carries a template"
        WORLD.log.append(f"export {subject_id}")

    @precondition(lambda self: self.live)
    @rule(data=st.data())
    def erase(self, data: st.DataObject) -> None:
        subject_id = data.draw(st.sampled_from(sorted(self.live)), label="subject")
        self.warden.registry.erase(subject_id, purpose=PURPOSE)
        self.erased[subject_id] = self.live.pop(subject_id)
        WORLD.log.append(f"erase {subject_id}")

    @rule(destroy_old=st.booleans())
    def rotate_master_key(self, destroy_old: bool) -> None:
        rotation = self.warden.keys.rotate_master()
        WORLD.log.append(f"rotate master -> {rotation.new_key_id} ({rotation.rewrapped} rewrapped)")
        if destroy_old:
            for key_id in rotation.retired_key_ids:
                self.warden.keys.destroy_master(key_id)
                WORLD.log.append(f"destroy master {key_id}")

    @rule()
    def rotate_template_key(self) -> None:
        rotation = self.warden.keys.rotate_templates()
        WORLD.log.append(f"rotate templates ({rotation})")

    @rule(hours=st.sampled_from([1, 23, 24 * 10, 24 * (RETENTION_DAYS + 1)]))
    def advance_clock_and_purge(self, hours: int) -> None:
        self.clock.advance(timedelta(hours=hours))
        report = self.warden.purge()
        cutoff = self.clock() - timedelta(days=RETENTION_DAYS)
        expired = {sid for sid, e in self.live.items() if e.touched < cutoff}
        assert set(report.erased_subjects) == expired, (report.erased_subjects, expired)
        for subject_id in expired:
            self.erased[subject_id] = self.live.pop(subject_id)
        WORLD.log.append(f"purge after {hours} h: erased {sorted(expired)}")

    @rule()
    def close_and_reopen(self) -> None:
        self.warden.close()
        self.warden = Warden.open(self.settings, clock=self.clock, actor="test:state")
        WORLD.log.append("close and reopen")

    # ---- invariants -------------------------------------------------------------

    @invariant()
    def every_acknowledged_subject_is_found_and_no_erased_one(self) -> None:
        probes: list[tuple[str, Face]] = [
            (sid, e.person.faces[0][0]) for sid, e in {**self.live, **self.erased}.items()
        ]
        if not probes:
            return
        result = self.warden.recognition.identify_faces(
            [face for _, face in probes], WATCHLIST, top_k=10, purpose=PURPOSE
        )
        for (subject_id, _), probe in zip(probes, result.faces, strict=True):
            matched = {c.subject_id for c in probe.matches}
            if subject_id in self.live:
                assert subject_id in matched, f"acknowledged {subject_id} is not found"
            else:
                assert subject_id not in matched, f"erased {subject_id} still matches"
        stored = {s.subject_id for s in self.warden.registry.subjects(purpose=PURPOSE)}
        assert set(self.live) <= stored and not (set(self.erased) & stored), (stored, self.erased)

    @invariant()
    def live_subjects_export_without_templates(self) -> None:
        for subject_id, entry in self.live.items():
            exported = self.warden.registry.export(subject_id, purpose=PURPOSE)
            record = exported["record"]
            assert isinstance(record, dict) and record["full_name"] == entry.markers[0]
            assert "template" not in json.dumps(exported).lower(), "an export carries a template"

    @invariant()
    def erased_subjects_cannot_be_read_or_exported(self) -> None:
        for subject_id in self.erased:
            for read in (self.warden.registry.get, self.warden.registry.export):
                try:
                    read(subject_id, purpose=PURPOSE)
                except NotFoundError:
                    continue
                raise AssertionError(f"erased {subject_id} can still be read by {read.__name__}")

    @invariant()
    def store_and_audit_chain_verify(self) -> None:
        assert self.warden.integrity_check() == []
        verification = self.warden.audit.verify()
        assert verification.ok, verification.report

    @invariant()
    def no_personal_value_in_the_data_files(self) -> None:
        assert not leaked(self.all_markers, WORLD.scanned_files(self.settings))

    def teardown(self) -> None:
        self.warden.close()
