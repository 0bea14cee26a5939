"""Editing and deleting watchlists: the declared purpose and lawful basis, and removal.

A watchlist's purpose and lawful basis are declared when it is created
(promise 14) and may be corrected later, audited with the old and new
values' lengths only (the texts are in the watchlist itself). A watchlist
that a camera still checks cannot be deleted (take it off the camera
first); deleting one takes every member off it (their records stay) and is
audited with how many there were.
"""

from __future__ import annotations

from facewarden.errors import ConflictError, NotFoundError
from facewarden.privacy.revocations import APPLIED
from facewarden.service.audit import AuditLog
from facewarden.service.context import Context
from facewarden.service.names import is_typed_text
from facewarden.service.records import invalid_input
from facewarden.service.watchlists import Watchlist, Watchlists, resolve_watchlist

__all__ = ["WatchlistAdmin"]

_MAX_PURPOSE = 128
_MAX_BASIS = 256


class WatchlistAdmin:
    """Edit and delete watchlists (see the module's docstring)."""

    def __init__(self, ctx: Context, audit: AuditLog, watchlists: Watchlists) -> None:
        self._ctx = ctx
        self._audit = audit
        self._watchlists = watchlists

    def edit(
        self, ref: str, *, purpose: str | None = None, lawful_basis: str | None = None
    ) -> Watchlist:
        """Correct a watchlist's declared purpose and/or lawful basis (audited).

        Raises:
            InvalidInputError: an empty or overlong value.
            NotFoundError: no such watchlist.
        """
        with self._ctx.writing() as tx:
            row = resolve_watchlist(tx, ref)
            old_purpose = self._ctx.watchlist_purpose(row)
            new_purpose = old_purpose if purpose is None else purpose.strip()
            old_basis = self._ctx.watchlist_basis(row)
            new_basis = old_basis if lawful_basis is None else lawful_basis.strip()
            for label, value, limit in (
                ("purpose", new_purpose, _MAX_PURPOSE),
                ("lawful basis", new_basis, _MAX_BASIS),
            ):
                if not 0 < len(value) <= limit or not is_typed_text(value):
                    raise invalid_input(
                        f"a watchlist needs a declared {label} (1 to {limit} printable characters)"
                    )
            # The declared purpose is typed text: stored sealed, as when created.
            sealed = self._ctx.freetext.seal(
                new_purpose, table="watchlists", row=row.watchlist_id, field="purpose"
            )
            sealed_basis = self._ctx.freetext.seal(
                new_basis, table="watchlists", row=row.watchlist_id, field="lawful_basis"
            )
            if not tx.update_watchlist(row.watchlist_id, purpose=sealed, lawful_basis=sealed_basis):
                raise NotFoundError(f"no watchlist {ref!r}")
            self._audit.append(
                tx,
                "watchlist.update",
                object_type="watchlist",
                object_id=row.watchlist_id,
                purpose=new_purpose,
                details={
                    "purpose_changed": new_purpose != old_purpose,
                    "lawful_basis_changed": new_basis != old_basis,
                },
            )
        return self._watchlists.get(row.watchlist_id)

    def delete(self, ref: str) -> int:
        """Delete a watchlist; its members come off it (audited). Returns how many there were.

        Raises:
            NotFoundError: no such watchlist.
            ConflictError: a camera still checks it.
        """
        with self._ctx.writing(gallery_changes=True) as tx:
            row = resolve_watchlist(tx, ref)
            checking = [c.name for c in tx.list_cameras() if row.watchlist_id in c.watchlists]
            if checking:
                raise ConflictError(
                    f"cameras still check watchlist {row.name!r} ({', '.join(checking)}): "
                    "take it off them first"
                )
            members = [s for w, s in tx.iter_memberships() if w == row.watchlist_id]
            tx.delete_watchlist(row.watchlist_id)
            # Before the commit: a restore of an older backup takes its members off again.
            ledger = self._ctx.keyring.revocations
            tx.set_meta(APPLIED, str(ledger.drop_watchlist(row.watchlist_id)))
            self._audit.append(
                tx,
                "watchlist.delete",
                object_type="watchlist",
                object_id=row.watchlist_id,
                purpose=self._ctx.watchlist_purpose(row),
                details={"members": len(members)},
            )
            for subject_id in members:
                self._ctx.gallery.leave(row.watchlist_id, subject_id)
        return len(members)
