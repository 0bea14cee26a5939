"""Access withdrawn stays withdrawn in every copy: recording revocations, re-applying them at open.

Revoking an API key, disabling a user and changing a password each append a
record to the revocation ledger in the key directory
(:mod:`facewarden.privacy.revocations`) inside the database transaction that
makes the change, before it commits, and record in the meta table how far
into the ledger the database has applied (``revocation_ledger_applied``).
A change whose commit then fails still takes effect at the next open: the
ledger errs on the side of closing.

At every open, before anything is served, :func:`reapply_revocations` reads
the ledger from the database's offset on and makes the database agree with
it: a **database restored from a backup** taken before those changes (its
offset is older) gets its revoked keys revoked again, its disabled users
disabled again, and each password hash the ledger records as replaced set to
the newest hash the ledger holds for that user (the password in use when the
backup came back works; every older one does not). The whole ledger is read
and applied each time (it is idempotent), and a hash the ledger does not know
is left alone. The sessions of every user touched end. Subjects whose
processing was restricted (GDPR Art. 18) and not lifted since are restricted
again (:func:`~facewarden.service.restriction.reapply_restrictions`), each
with a ``subject.restrict`` entry; records corrected (GDPR Art. 16) whose old
values came back are corrected again
(:func:`~facewarden.service.rectification.reapply_rectifications`), each with
a ``subject.update`` entry; faces removed since (a bystander's photo enrolled
under someone else) are removed again
(:func:`~facewarden.service.faces.reapply_face_removals`), each with a
``face.remove`` entry; subjects taken off a watchlist since (or whose
watchlist was deleted) are taken off again
(:func:`~facewarden.service.watchlists.reapply_departures`), each with a
``watchlist.remove`` entry. What it did is one audit entry
(``access.reapply``), and the restore's own entry repeats the counts.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, replace

from facewarden.privacy.revocations import APPLIED, Revocation
from facewarden.service.audit import AuditLog
from facewarden.service.context import Context
from facewarden.service.faces import reapply_face_removals
from facewarden.service.rectification import reapply_rectifications
from facewarden.service.restriction import reapply_restrictions
from facewarden.service.watchlists import reapply_departures
from facewarden.store.base import Transaction

__all__ = ["APPLIED", "RevocationReport", "reapply_revocations"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RevocationReport:
    """What :func:`reapply_revocations` changed in the database.

    Attributes:
        keys_revoked: API keys the ledger records as revoked that were live here.
        users_disabled: users the ledger records as disabled that were enabled here.
        passwords_reset: users whose stored hash was not the newest the ledger holds.
        sessions_ended: sessions of those users.
        subjects_restricted: subjects the ledger records as restricted (and not
            lifted since) that were unrestricted here.
        subjects_rectified: subjects whose record held values the ledger records
            as corrected since.
        faces_removed: faces the ledger records as removed (wrong ones, or
            replaced) that were here.
        memberships_removed: subjects on watchlists the ledger records them as
            taken off (or the watchlist as deleted) since.
    """

    keys_revoked: int = 0
    users_disabled: int = 0
    passwords_reset: int = 0
    sessions_ended: int = 0
    subjects_restricted: int = 0
    subjects_rectified: int = 0
    faces_removed: int = 0
    memberships_removed: int = 0

    @property
    def changed(self) -> bool:
        """Whether anything was re-applied."""
        return any(asdict(self).values())


def reapply_revocations(ctx: Context, audit: AuditLog) -> RevocationReport:
    """Apply the ledger's revocations the database lacks (cheap when none: a stat and a read).

    Raises:
        IntegrityError: the ledger fails authentication (the deployment must not serve).
    """
    ledger = ctx.keyring.revocations
    if _offset(ctx.store.get_meta(APPLIED)) == ledger.end():
        return RevocationReport()
    with ctx.writing(gallery_changes=True) as tx:
        # The whole ledger, whatever the offset: applying it is idempotent, and the
        # offset another host's key directory recorded says nothing about this one's.
        records, end = ledger.since(0)
        access = _apply(ctx, tx, records) if records else RevocationReport()
        if access.changed:
            details = asdict(access)
            # Each subject restricted or corrected has an entry of its own, below.
            own_entries = (
                "subjects_restricted",
                "subjects_rectified",
                "faces_removed",
                "memberships_removed",
            )
            for own in own_entries:
                del details[own]
            audit.append(tx, "access.reapply", details=details)
        restricted = reapply_restrictions(ctx, tx, records)
        for subject_id in restricted:
            audit.append(
                tx,
                "subject.restrict",
                object_type="subject",
                object_id=subject_id,
                details={"reapplied": True},
            )
        rectified = reapply_rectifications(ctx, tx, records)
        for subject_id, fields in rectified.items():
            audit.append(
                tx,
                "subject.update",
                object_type="subject",
                object_id=subject_id,
                details={"fields": list(fields), "reapplied": True},
            )
        removed = reapply_face_removals(ctx, tx, records)
        for subject_id, face_id in removed:
            audit.append(
                tx,
                "face.remove",
                object_type="subject",
                object_id=subject_id,
                details={"face": face_id, "reapplied": True},
            )
        departed = reapply_departures(ctx, tx, records)
        for subject_id, watchlist_id in departed:
            audit.append(
                tx,
                "watchlist.remove",
                object_type="subject",
                object_id=subject_id,
                details={"watchlist": watchlist_id, "reapplied": True},
            )
        report = replace(
            access,
            subjects_restricted=len(restricted),
            subjects_rectified=len(rectified),
            faces_removed=len(removed),
            memberships_removed=len(departed),
        )
        tx.set_meta(APPLIED, str(end))
    if report.changed:
        logger.warning(
            "re-applied access revocations, restrictions or corrections the database lacked "
            "(a database restored from a backup taken before them, or a change interrupted "
            "before its commit): %s",
            report,
        )
    return report


def _apply(ctx: Context, tx: Transaction, records: list[Revocation]) -> RevocationReport:
    ledger = ctx.keyring.revocations
    accounts = {ledger.account(u.username): u for u in tx.list_users()}
    disabled = {r.target for r in records if r.kind == "user"}
    retired: dict[str, set[str | None]] = {}
    newest: dict[str, str | None] = {}
    for r in records:
        if r.kind == "password":
            retired.setdefault(r.target, set()).add(r.retired)
            newest[r.target] = r.password_hash
    keys = 0
    for key_id in dict.fromkeys(r.target for r in records if r.kind == "key"):
        row = tx.get_api_key(key_id)
        if row is not None and row.revoked_at is None:
            keys += tx.revoke_api_key(key_id, ctx.clock())
    users = passwords = sessions = 0
    for account, user in accounts.items():
        touched = False
        if account in disabled and not user.disabled:
            tx.update_user(user.username, disabled=True)
            users += 1
            touched = True
        # Only a hash the ledger records as replaced is replaced (by the newest):
        # one it does not know (set through another host's key directory) stays.
        wanted = newest.get(account)
        stale = ledger.fingerprint(account, user.password_hash) in retired.get(account, ())
        if wanted is not None and stale and wanted != user.password_hash:
            tx.update_user(user.username, password_hash=wanted)
            passwords += 1
            touched = True
        if touched:
            sessions += tx.delete_sessions_of(user.username)
    return RevocationReport(keys, users, passwords, sessions)


def _offset(value: str | None) -> int:
    try:
        return max(0, int(value or 0))
    except ValueError:
        return 0
