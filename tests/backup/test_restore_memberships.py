"""A restore does not put a person back on a watchlist they were taken off since.

An objection is upheld, or a ban ends: the person is taken off the watchlist
(or the whole watchlist is deleted) after the nightly archive was written. A
restore of that archive put them back on it, matched by every camera again,
and nobody knew. Each change is recorded in the key directory's revocation
ledger (pseudonymous ids only) and re-applied when the restored database is
opened; one taken off and put back since stays on. Real photos (dlib's
johns), on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

from facewarden.service import Warden
from facewarden.service.backup import restore
from facewarden.types import Face

from ._deployments import WATCHLIST, Deploy, enroll_all, fresh


def _matched(warden: Warden, johns: dict[str, list[list[Face]]], name: str, on: str) -> list[str]:
    """The subjects matched on watchlist ``on`` by ``name``'s third photo."""
    result = warden.recognition.identify_faces(
        [johns[name][2][0]], on, top_k=1, purpose="restore test"
    )
    return [m.subject_id for face in result.faces for m in face.matches]


def test_a_person_taken_off_a_watchlist_after_the_backup_stays_off_after_restore(
    deploy: Deploy, tmp_path: Path, johns: dict[str, list[list[Face]]]
) -> None:
    settings = deploy(tmp_path / "live")
    archive = tmp_path / "deployment.fwbackup"
    removed, returned, other = sorted(johns)[:3]
    with Warden.open(settings, create=True, actor="test:live") as warden:
        ids = enroll_all(warden, {n: johns[n] for n in (removed, returned, other)})
        warden.watchlists.create("banned", purpose="site ban", lawful_basis="test")
        warden.watchlists.add("banned", ids[other])
        warden.backup_archive(archive)
        warden.watchlists.remove(WATCHLIST, ids[removed])
        warden.watchlists.remove(WATCHLIST, ids[returned])
        warden.watchlists.add(WATCHLIST, ids[returned])
        warden.watchlist_admin.delete("banned")
    target = fresh(deploy, settings, tmp_path / "restored")

    report = restore(archive, target)

    with Warden.open(target, actor="test:restored") as warden:
        assert _matched(warden, johns, removed, WATCHLIST) == []
        assert _matched(warden, johns, returned, WATCHLIST) == [ids[returned]]
        assert _matched(warden, johns, other, WATCHLIST) == [ids[other]]
        assert _matched(warden, johns, other, "banned") == []
        (entry,) = [e for e in warden.audit.about(ids[removed]) if e.details.get("reapplied")]
        assert entry.action == "watchlist.remove"
    assert report.revocations_reapplied.memberships_removed == 2
    with Warden.open(target, actor="test:reopened") as warden:
        assert warden.revocations_reapplied.memberships_removed == 0
