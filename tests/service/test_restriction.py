"""Restriction of processing (GDPR Art. 18): a person kept, but no longer matched.

A person contests a match (a false alarm at a gate): while it is looked
into, their data is kept but not used. Restricted, they leave every
watchlist, so no identification or camera finds them; they cannot be put
on one again or verified against; they can still be read, exported,
corrected and erased. Lifting the restriction puts them back where they
were. Real photos, the real pipeline and frame processor, on SQLite and on
the ``pg_server`` fixture's PostgreSQL.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Sequence
from dataclasses import fields
from datetime import timedelta
from pathlib import Path

import pytest

from facewarden.errors import ConflictError, InvalidInputError, NotFoundError
from facewarden.imaging import RGBImage, decode
from facewarden.privacy import ManualClock
from facewarden.service import SubjectRecord, Warden
from facewarden.service.frames import FrameProcessor
from facewarden.types import Face
from facewarden.vision.pipeline import MODES, Pipeline

from ._data import KNN
from .conftest import T0, make_settings

OBAMA = KNN / "train" / "obama" / "obama.jpg"
PROBE = KNN / "test" / "obama1.jpg"
REASON = "contests the match at gate 4 of 2 March (art. 18(1)(a)), ticket 88"


@pytest.fixture(params=["sqlite", "postgres"])
def deployment(
    request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock, faces_dir: Path
) -> Iterator[Warden]:
    overrides: dict[str, object] = {"mode": "fast", "enroll_mode": "fast"}
    if request.param == "postgres":
        server = request.getfixturevalue("pg_server")
        overrides["database_url"] = server.create_database(f"r_{secrets.token_hex(6)}")
    settings = make_settings(tmp_path, **overrides)
    with Warden.open(settings, clock=clock, create=True, actor="operator:ann") as warden:
        warden.watchlists.create("entrance", purpose="site access", lawful_basis="contract")
        warden.watchlists.create("staff", purpose="rota", lawful_basis="contract")
        yield warden


def _enroll(warden: Warden) -> str:
    record = SubjectRecord(full_name="Barack Obama", lawful_basis="site policy 4")
    return warden.registry.enroll(record, [OBAMA], watchlists=["entrance", "staff"]).subject_id


def _matched(warden: Warden, watchlist: str = "entrance") -> tuple[str, ...]:
    return warden.recognition.identify(PROBE, watchlist).matched_subjects


def test_a_restricted_person_is_kept_but_matched_nowhere_until_the_restriction_is_lifted(
    deployment: Warden, clock: ManualClock
) -> None:
    warden = deployment
    obama = _enroll(warden)
    assert _matched(warden) == (obama,)
    warden.cameras.add("door", location="door", watchlists=["entrance"])

    warden.restrictions.restrict(obama, reason=REASON, purpose="art. 18 request 12")

    assert _matched(warden) == () and _matched(warden, "staff") == ()
    processor = FrameProcessor(warden, "door")
    assert processor.process(decode(KNN / "train" / "obama" / "obama2.jpg"), T0).new_sightings == ()
    processor.finish(T0 + timedelta(seconds=1))
    with pytest.raises(ConflictError, match="restricted"):
        warden.watchlists.add("entrance", obama)
    with pytest.raises(ConflictError, match="restricted"):
        warden.recognition.verify(PROBE, obama)
    with pytest.raises(ConflictError, match="already"):
        warden.restrictions.restrict(obama, reason="again")
    # Kept: read, exported, corrected.
    subject = warden.registry.get(obama)
    assert subject.restricted and subject.watchlists == ()
    export = warden.registry.export(obama)
    assert export["restriction"] == {  # type: ignore[comparison-overlap]
        "reason": REASON,
        "since": T0.isoformat(),
        "watchlists_left": sorted(
            [
                warden.watchlists.get("entrance").watchlist_id,
                warden.watchlists.get("staff").watchlist_id,
            ]
        ),
    }
    warden.registry.update(obama, {"full_name": "Barack H. Obama"})

    clock.advance(timedelta(days=2))
    warden.restrictions.lift(obama, purpose="art. 18 request 12: settled")

    assert _matched(warden) == (obama,) and _matched(warden, "staff") == (obama,)
    assert not warden.registry.get(obama).restricted
    assert warden.registry.export(obama)["restriction"] is None
    assert warden.recognition.verify(PROBE, obama).is_match
    with pytest.raises(ConflictError, match="not restricted"):
        warden.restrictions.lift(obama)
    actions = [e.action for e in warden.audit.entries(about=obama, limit=100)]
    assert actions.count("subject.restrict") == 1 and actions.count("subject.lift_restriction") == 1


def test_a_restricted_persons_alerts_leave_the_desk_and_come_back_when_it_is_lifted(
    deployment: Warden, clock: ManualClock
) -> None:
    # Seen at the door before the restriction: their alert would go on showing their name
    # and face to every operator for the live window, which is processing Art. 18 stops.
    warden = deployment
    obama = _enroll(warden)
    warden.cameras.add("door", location="door", watchlists=["entrance"])
    processor = FrameProcessor(warden, "door")
    frame = decode(KNN / "train" / "obama" / "obama2.jpg")
    (sighting,) = processor.process(frame, T0).new_sightings
    processor.finish(T0 + timedelta(seconds=1))
    clock.advance(timedelta(minutes=1))

    def on_desk() -> tuple[list[str], list[str]]:
        listed = warden.alert_desk.alerts(role="operator").alerts
        here = warden.sightings.at_camera("entrance", "door", None, clock(), role="operator")
        return [a.sighting.sighting_id for a in listed], [s.sighting_id for s in here]

    assert on_desk() == ([sighting], [sighting])
    warden.restrictions.restrict(obama, reason=REASON)

    assert on_desk() == ([], [])
    assert warden.alert_feed.gone([sighting], role="operator") == [sighting]
    with pytest.raises(NotFoundError):
        warden.alert_desk.review(sighting, role="operator")
    warden.restrictions.lift(obama)
    assert on_desk() == ([sighting], [sighting])
    assert warden.alert_feed.gone([sighting], role="operator") == []


def test_a_restriction_holds_in_a_deployment_opened_again_and_goes_with_an_erasure(
    deployment: Warden, clock: ManualClock
) -> None:
    warden = deployment
    obama = _enroll(warden)
    warden.restrictions.restrict(obama, reason=REASON)
    with Warden.open(warden.settings, clock=clock, actor="operator:bob") as again:
        assert again.recognition.identify(PROBE, "entrance").matched_subjects == ()
        assert again.registry.get(obama).restricted
    with pytest.raises(InvalidInputError, match="reason"):
        warden.restrictions.restrict(_enroll(warden), reason="  ")
    warden.registry.erase(obama)
    assert warden.store.get_subject(obama) is None


def test_a_restricted_compreface_subject_is_recognised_verified_given_examples_or_merged_never(
    tmp_path: Path, clock: ManualClock, faces_dir: Path
) -> None:
    settings = make_settings(
        tmp_path, mode="fast", enroll_mode="fast", compreface_lawful_basis="consent (test)"
    )
    with Warden.open(settings, clock=clock, create=True, actor="operator:ann") as warden:
        examples, match = warden.compreface_examples, warden.compreface_match
        example = examples.add_example("Barack Obama", OBAMA)
        examples.add_example("Joe Biden", KNN / "train" / "biden" / "biden.jpg")
        obama = warden.compreface.resolve("Barack Obama")

        def names() -> list[str]:
            [face] = match.recognize(PROBE, prediction_count=-1)
            return [name for name, _ in face.subjects]

        assert names()[0] == "Barack Obama"
        warden.restrictions.restrict(obama, reason=REASON)
        assert "Barack Obama" not in names()
        with pytest.raises(ConflictError, match="restricted"):
            match.verify(example.image_id, PROBE)
        with pytest.raises(ConflictError, match="restricted"):
            examples.add_example("Barack Obama", KNN / "train" / "obama" / "obama2.jpg")
        with pytest.raises(ConflictError, match="restricted"):
            warden.compreface.rename_subject("Joe Biden", "Barack Obama")  # a merge into him
        assert sorted(warden.compreface.subjects()) == ["Barack Obama", "Joe Biden"]  # kept
        warden.restrictions.lift(obama)
        assert names()[0] == "Barack Obama"


_MEANWHILE: list[Callable[[], object]] = []


class _ActsWhileItEmbeds(Pipeline):
    """The fast pipeline, which first runs what :data:`_MEANWHILE` holds (another
    operator's request landing while a probe is being embedded)."""

    def embed_faces(self, image: RGBImage, faces: Sequence[Face]) -> list[Face]:
        while _MEANWHILE:
            _MEANWHILE.pop()()
        return super().embed_faces(image, faces)


def test_a_compreface_verify_under_way_when_the_restriction_lands_is_refused(
    tmp_path: Path, clock: ManualClock, faces_dir: Path
) -> None:
    settings = make_settings(
        tmp_path, mode="fast", enroll_mode="fast", compreface_lawful_basis="consent (test)"
    )
    slow = _ActsWhileItEmbeds(**{f.name: getattr(MODES["fast"], f.name) for f in fields(Pipeline)})
    with Warden.open(
        settings, clock=clock, create=True, actor="operator:ann", enroll_pipeline=slow
    ) as warden:
        example = warden.compreface_examples.add_example("Barack Obama", OBAMA)
        obama = warden.compreface.resolve("Barack Obama")
        _MEANWHILE.append(lambda: warden.restrictions.restrict(obama, reason=REASON))
        with pytest.raises(ConflictError, match="restricted"):
            warden.compreface_match.verify(example.image_id, PROBE)
        assert not _MEANWHILE  # it did land in between
        verifies = [e for e in warden.audit.about(obama) if e.action == "verify"]
        assert verifies == []
