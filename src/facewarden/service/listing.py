"""Listings for the operator console: who is on a watchlist, and how much is held.

``members`` pages through one watchlist's subjects with their names (an
audited read, like every read of a name); ``counts`` says how many subjects
and watchlists the deployment holds, which names nobody and is not audited.
"""

from __future__ import annotations

from dataclasses import dataclass

from facewarden.privacy.crypto import WrappedKey
from facewarden.service.audit import AuditLog
from facewarden.service.context import Context
from facewarden.service.watchlists import resolve_watchlist

__all__ = ["Counts", "Listings", "Member"]


@dataclass(frozen=True)
class Member:
    """A subject on a watchlist."""

    subject_id: str
    full_name: str


@dataclass(frozen=True)
class Counts:
    """How much the deployment holds (numbers only)."""

    subjects: int
    watchlists: int


class Listings:
    """Paged member lists and counts, for one actor."""

    def __init__(self, ctx: Context, audit: AuditLog) -> None:
        self._ctx = ctx
        self._audit = audit

    def members(
        self, ref: str, *, after: str | None = None, limit: int = 50, purpose: str = ""
    ) -> list[Member]:
        """A page of a watchlist's subjects by id, with their names (an audited read).

        Raises:
            NotFoundError: no such watchlist.
        """
        limit = max(1, min(limit, self._ctx.settings.max_page_size))
        with self._ctx.writing() as tx:
            watchlist = resolve_watchlist(tx, ref)
            ids = sorted(
                subject_id
                for wl, subject_id in tx.iter_memberships()
                if wl == watchlist.watchlist_id and subject_id > (after or "")
            )[:limit]
            members = []
            for subject_id in ids:
                row = tx.get_subject(subject_id)
                if row is None:
                    continue
                name = self._ctx.envelope.decrypt_str(
                    row.fields["full_name"],
                    data_key=WrappedKey.from_bytes(row.wrapped_key),
                    table="subjects",
                    row=subject_id,
                    field="full_name",
                )
                members.append(Member(subject_id, name))
            self._audit.append(
                tx,
                "subject.list",
                object_type="watchlist",
                object_id=watchlist.watchlist_id,
                purpose=purpose or self._ctx.watchlist_purpose(watchlist),
                details={"subjects": [m.subject_id for m in members]},
            )
        return members

    def counts(self) -> Counts:
        """How many subjects and watchlists there are."""
        self._ctx.ensure_open()
        store = self._ctx.store
        return Counts(store.count_subjects(), len(store.list_watchlists()))
