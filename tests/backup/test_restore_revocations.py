"""A restore does not resurrect access revoked after the backup, on SQLite and on PostgreSQL.

After the archive is written, an API key is revoked, a user is disabled and
another user changes her password. The archive still holds the key live, the
user enabled and the old password hash; the revocation ledger in the key
directory (restored beside the archive) holds the changes, and opening the
restored database re-applies them before anything is served: the key is
refused, the disabled user cannot sign in, the old password no longer works
and the new one does. The restore's audit entries say what came back.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from facewarden.config import Settings
from facewarden.errors import AuthenticationError, IntegrityError
from facewarden.privacy.keys import KeyRing
from facewarden.privacy.revocations import REVOCATIONS
from facewarden.service import Warden
from facewarden.service.backup import restore
from facewarden.service.credentials import hash_password
from facewarden.service.ratelimit import AuthLimiter
from facewarden.service.revocation import APPLIED, RevocationReport

from ._deployments import Deploy, fresh

OLD, NEW, OTHER = (
    "the passphrase from before",
    "the passphrase chosen after",
    "carol's own passphrase",
)


def _live_changes_after_a_backup(settings: Settings, archive: Path) -> tuple[str, str]:
    """Users alice, bob, carol and two keys; backup; then revoke, disable, change. The keys."""
    with Warden.open(settings, create=True, actor="test:live") as warden:
        access = warden.access
        access.create_user("alice", OLD, "operator")
        access.create_user("bob", OLD, "auditor")
        access.create_user("carol", OTHER, "auditor")
        revoked = access.create_api_key("door camera", "operator")
        kept = access.create_api_key("lobby camera", "operator")
        limiter = AuthLimiter.from_settings(settings).logins
        access.login("alice", OLD, client="192.0.2.1", limiter=limiter)  # in the archive
        warden.backup_archive(archive)
        access.revoke_api_key(revoked.key.key_id)
        access.disable_user("bob")
        warden.with_actor("user:alice").access.change_password("alice", OLD, NEW)
    return revoked.secret, kept.secret


def _signs_in(warden: Warden, settings: Settings, username: str, password: str) -> bool:
    limiter = AuthLimiter.from_settings(settings).logins
    try:
        warden.access.login(username, password, client="192.0.2.9", limiter=limiter)
    except AuthenticationError:
        return False
    return True


def _key_works(warden: Warden, settings: Settings, secret: str) -> bool:
    limiter = AuthLimiter.from_settings(settings).api_keys
    try:
        warden.access.authenticate_key(secret, client="192.0.2.9", limiter=limiter)
    except AuthenticationError:
        return False
    return True


def test_access_revoked_after_the_backup_stays_revoked_after_restore(
    deploy: Deploy, tmp_path: Path
) -> None:
    settings = deploy(tmp_path / "live")
    archive = tmp_path / "deployment.fwbackup"
    revoked, kept = _live_changes_after_a_backup(settings, archive)
    target = fresh(deploy, settings, tmp_path / "restored")

    report = restore(archive, target)

    # alice's session from the archive ends with her password change re-applied.
    assert report.revocations_reapplied == RevocationReport(
        keys_revoked=1, users_disabled=1, passwords_reset=1, sessions_ended=1
    )
    with Warden.open(target, actor="test:restored") as warden:
        assert not _key_works(warden, target, revoked)
        assert _key_works(warden, target, kept)
        assert not _signs_in(warden, target, "bob", OLD)
        assert not _signs_in(warden, target, "alice", OLD)
        assert _signs_in(warden, target, "alice", NEW)
        assert _signs_in(warden, target, "carol", OTHER)  # untouched by the ledger
        assert {u.username for u in warden.access.users() if u.disabled} == {"bob"}
        entries = warden.audit.entries(limit=1000)
        reapplied = [e for e in entries if e.action == "access.reapply"]
        assert len(reapplied) == 1 and reapplied[0].details == {
            "keys_revoked": 1,
            "users_disabled": 1,
            "passwords_reset": 1,
            "sessions_ended": 1,
        }
        details = [e for e in entries if e.action == "restore"][-1].details
        assert details["keys_revoked"] == details["users_disabled"] == 1
        assert details["passwords_reset"] == 1 and details["sessions_ended"] == 1
    # Opening again finds nothing more to do, and adds no entry.
    with Warden.open(target, actor="test:again") as warden:
        assert warden.revocations_reapplied == RevocationReport()


def test_a_revocation_interrupted_before_its_commit_takes_effect_at_the_next_open(
    tmp_path: Path,
) -> None:
    """The ledger line is written before the commit: a crash between them closes, not opens."""
    settings = Settings(data_dir=tmp_path / "data", key_dir=tmp_path / "keys")
    with Warden.open(settings, create=True, actor="test:live") as warden:
        issued = warden.access.create_api_key("door camera", "operator")
        # What a kill after the ledger's fsync and before the database commit leaves.
        KeyRing.open(warden.key_dir).revocations.revoke_key(issued.key.key_id)
        assert _key_works(warden, settings, issued.secret)  # the database has not changed
    with Warden.open(settings, actor="test:reopened") as warden:
        assert warden.revocations_reapplied.keys_revoked == 1
        assert not _key_works(warden, settings, issued.secret)


def test_a_tampered_ledger_stops_a_restored_deployment_from_opening(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "live", key_dir=tmp_path / "keys")
    archive = tmp_path / "deployment.fwbackup"
    _live_changes_after_a_backup(settings, archive)
    ledger = settings.resolved_key_dir / REVOCATIONS
    lines = ledger.read_bytes().splitlines(keepends=True)
    ledger.write_bytes(b"".join(lines[1:]))  # the key's revocation removed
    target = Settings(data_dir=tmp_path / "restored", key_dir=tmp_path / "keys")
    with pytest.raises(IntegrityError, match="line 1 of the revocation ledger"):
        restore(archive, target)
    # Nor does the restored database open later: the key stays unusable.
    with pytest.raises(IntegrityError, match="revocation ledger"):
        Warden.open(target, actor="test:restored")


def test_a_password_hash_the_ledger_does_not_know_is_left_alone(tmp_path: Path) -> None:
    """Only a hash the ledger records as replaced is replaced: never one set elsewhere.

    With several hosts on one PostgreSQL database each has its own key
    directory, so a password changed through another host is not in this
    one's ledger: re-applying this ledger must not bring back the hash it
    last recorded.
    """
    settings = Settings(data_dir=tmp_path / "data", key_dir=tmp_path / "keys")
    elsewhere = "changed through another host"
    with Warden.open(settings, create=True, actor="test:live") as warden:
        warden.access.create_user("alice", OLD, "operator")
        warden.with_actor("user:alice").access.change_password("alice", OLD, NEW)
        with warden.store.transaction() as tx:  # what the other host's change leaves here
            tx.update_user("alice", password_hash=hash_password(elsewhere))
            tx.set_meta(APPLIED, "0")  # and an offset that is not this ledger's
    with Warden.open(settings, actor="test:reopened") as warden:
        assert warden.revocations_reapplied == RevocationReport()
        assert _signs_in(warden, settings, "alice", elsewhere)
        assert not _signs_in(warden, settings, "alice", NEW)


def test_a_damaged_ledger_is_reported_by_the_integrity_check(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", key_dir=tmp_path / "keys")
    with Warden.open(settings, create=True, actor="test:live") as warden:
        issued = warden.access.create_api_key("door camera", "operator")
        warden.access.revoke_api_key(issued.key.key_id)
        assert warden.integrity_check() == []
        ledger = settings.resolved_key_dir / REVOCATIONS
        ledger.write_bytes(ledger.read_bytes().replace(issued.key.key_id.encode(), b"0" * 16))
        (problem,) = warden.integrity_check()
        assert problem.startswith("revocation ledger: line 1 of the revocation ledger")
