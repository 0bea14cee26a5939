"""A restore does not lift a restriction of processing made after the backup (GDPR Art. 18).

A person contests a match after the nightly archive was written: restricted,
they leave every watchlist. A restore of that archive (a disk lost the next
day) would put them back on the watchlist, matched by every camera again,
and nobody would know. The restriction is recorded in the key directory's
ledger, restored beside the archive, and opening the restored database
restricts them again; one restricted and lifted since stays lifted. Real
photos (dlib's johns), on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

from facewarden.service import Warden
from facewarden.service.backup import restore
from facewarden.types import Face

from ._deployments import WATCHLIST, Deploy, enroll_all, fresh


def _matched(warden: Warden, johns: dict[str, list[list[Face]]], name: str) -> list[str]:
    """The subjects matched on the watchlist by ``name``'s third photo."""
    result = warden.recognition.identify_faces(
        [johns[name][2][0]], WATCHLIST, top_k=1, purpose="restore test"
    )
    return [m.subject_id for face in result.faces for m in face.matches]


def test_a_restriction_made_after_the_backup_holds_after_restore(
    deploy: Deploy, tmp_path: Path, johns: dict[str, list[list[Face]]]
) -> None:
    settings = deploy(tmp_path / "live")
    archive = tmp_path / "deployment.fwbackup"
    contested, lifted, other = sorted(johns)[:3]
    with Warden.open(settings, create=True, actor="test:live") as warden:
        ids = enroll_all(warden, {n: johns[n] for n in (contested, lifted, other)})
        warden.backup_archive(archive)
        warden.restrictions.restrict(ids[contested], reason="contests the match of 2 March")
        warden.restrictions.restrict(ids[lifted], reason="contests, settled")
        warden.restrictions.lift(ids[lifted])
        assert _matched(warden, johns, contested) == []
    target = fresh(deploy, settings, tmp_path / "restored")

    report = restore(archive, target)

    assert report.revocations_reapplied.subjects_restricted == 1

    with Warden.open(target, actor="test:restored") as warden:
        (entry,) = [e for e in warden.audit.about(ids[contested]) if e.details.get("reapplied")]
        assert entry.action == "subject.restrict"
        assert warden.registry.get(ids[contested]).restricted
        assert warden.registry.get(ids[contested]).watchlists == ()
        assert _matched(warden, johns, contested) == []
        assert not warden.registry.get(ids[lifted]).restricted
        assert _matched(warden, johns, lifted) == [ids[lifted]]
        assert _matched(warden, johns, other) == [ids[other]]
        # Lifted here, it is lifted for good: the next open does not restrict it again.
        assert len(warden.restrictions.lift(ids[contested])) == 1
    with Warden.open(target, actor="test:reopened") as warden:
        assert _matched(warden, johns, contested) == [ids[contested]]
