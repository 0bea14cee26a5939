"""Watchlists (galleries): each declares its purpose and lawful basis, and its operating point.

A subject can be on any number of watchlists; identification searches one.
A watchlist keeps its false match rate, not a threshold: the threshold is
looked up for the pipeline in use when it searches (``match/thresholds.py``),
so a recalibration or a change of mode never leaves a stale number behind.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from facewarden.errors import ConfigError, NotFoundError
from facewarden.match.thresholds import DEFAULT_FMR, threshold_for
from facewarden.privacy.crypto import WrappedKey
from facewarden.privacy.revocations import APPLIED, Revocation
from facewarden.service.audit import AuditLog
from facewarden.service.context import Context
from facewarden.service.names import canonical_name, is_typed_text
from facewarden.service.records import invalid_input, new_id
from facewarden.service.restriction import refuse_if_restricted
from facewarden.store.base import Reader, Transaction, WatchlistRow
from facewarden.vision.pipeline import Pipeline

__all__ = [
    "Watchlist",
    "Watchlists",
    "comparison_threshold",
    "reapply_departures",
    "resolve_watchlist",
]

_MAX_NAME = 64
_MAX_PURPOSE = 128  # it is the purpose of every audit entry of the watchlist's searches
_MAX_BASIS = 200


@dataclass(frozen=True)
class Watchlist:
    """A watchlist as shown to callers."""

    watchlist_id: str
    name: str
    purpose: str
    lawful_basis: str
    fmr: float
    created_at: datetime
    members: int

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON output."""
        return {
            "watchlist_id": self.watchlist_id,
            "name": self.name,
            "purpose": self.purpose,
            "lawful_basis": self.lawful_basis,
            "fmr": self.fmr,
            "created_at": self.created_at.isoformat(),
            "members": self.members,
        }


def resolve_watchlist(reader: Reader, ref: str) -> WatchlistRow:
    """The watchlist named ``ref``, or with id ``ref``.

    Raises:
        NotFoundError: neither exists; the message says how to create one.
    """
    # As typed first: a name stored before names were normalised is still found.
    row = (
        reader.watchlist_by_name(ref)
        or reader.watchlist_by_name(canonical_name(ref))
        or reader.get_watchlist(ref.strip())
    )
    if row is None:
        raise NotFoundError(
            f"no watchlist called {ref!r}; see `facewarden watchlists list`, or create it with "
            "`facewarden watchlists create`"
        )
    return row


def comparison_threshold(probe: Pipeline, gallery: Pipeline, fmr: float) -> float:
    """The similarity threshold for comparing ``probe`` embeddings with ``gallery`` ones.

    Thresholds are calibrated per model. When the two sides were made by
    different pipelines (fast probes against mirror-averaged enrollment
    templates) no calibration covers the mix, so the stricter of the two is
    used: the false match rate stays at or below the one asked for.

    Raises:
        ConfigError: no calibration for this model or FMR.
    """
    return max(threshold_for(probe, fmr), threshold_for(gallery, fmr))


class Watchlists:
    """Create, list and fill watchlists."""

    def __init__(self, ctx: Context, audit: AuditLog) -> None:
        self._ctx = ctx
        self._audit = audit

    def create(
        self, name: str, *, purpose: str, lawful_basis: str, fmr: float = DEFAULT_FMR
    ) -> Watchlist:
        """Create a watchlist.

        Args:
            name: unique, up to 64 characters; not an id-like ``wl_...``.
            purpose: why it exists (required, up to 128 characters).
            lawful_basis: the legal ground for processing (required).
            fmr: its operating point; must be one of the calibrated FMRs.

        Raises:
            InvalidInputError: a missing or malformed value, or an uncalibrated FMR.
            ConflictError: the name is taken.
        """
        name, purpose, lawful_basis = canonical_name(name), purpose.strip(), lawful_basis.strip()
        if not 0 < len(name) <= _MAX_NAME or not is_typed_text(name) or name.startswith("wl_"):
            raise invalid_input(
                f"watchlist name {name!r} must be 1 to {_MAX_NAME} printable "
                "characters and not start with 'wl_'"
            )
        for label, value, limit in (
            ("purpose", purpose, _MAX_PURPOSE),
            ("lawful basis", lawful_basis, _MAX_BASIS),
        ):
            if not 0 < len(value) <= limit or not is_typed_text(value):
                raise invalid_input(
                    f"a watchlist needs a declared {label} (1 to {limit} printable characters)"
                )
        try:
            comparison_threshold(self._ctx.pipeline, self._ctx.enroll_pipeline, fmr)
        except ConfigError as exc:  # the caller chose an FMR nobody calibrated
            raise invalid_input(exc.message) from None
        watchlist_id = new_id("wl")
        # The declared purpose and basis are typed text: sealed at rest (privacy.freetext).
        seal = self._ctx.freetext.seal
        row = WatchlistRow(
            watchlist_id,
            name,
            seal(purpose, table="watchlists", row=watchlist_id, field="purpose"),
            seal(lawful_basis, table="watchlists", row=watchlist_id, field="lawful_basis"),
            float(fmr),
            self._ctx.clock(),
        )
        with self._ctx.writing() as tx:
            tx.insert_watchlist(row)
            self._audit.append(
                tx,
                "watchlist.create",
                object_type="watchlist",
                object_id=row.watchlist_id,
                purpose=purpose,
                details={"fmr": row.fmr},
            )
        return self._view(row)

    def all(self) -> list[Watchlist]:
        """Every watchlist, by name."""
        self._ctx.ensure_open()
        return [self._view(row) for row in self._ctx.store.list_watchlists()]

    def get(self, ref: str) -> Watchlist:
        """One watchlist by name or id.

        Raises:
            NotFoundError: no such watchlist.
        """
        self._ctx.ensure_open()
        return self._view(resolve_watchlist(self._ctx.store, ref))

    def threshold(self, ref: str) -> float:
        """The similarity threshold the watchlist's searches use now."""
        row = resolve_watchlist(self._ctx.store, ref)
        return comparison_threshold(self._ctx.pipeline, self._ctx.enroll_pipeline, row.fmr)

    def add(self, ref: str, subject_id: str, *, purpose: str = "") -> bool:
        """Put a subject on a watchlist; False if it already was.

        Raises:
            NotFoundError: no such watchlist or subject.
            ConflictError: the subject's processing is restricted (GDPR Art. 18).
        """
        with self._ctx.writing(gallery_changes=True) as tx:
            row = resolve_watchlist(tx, ref)
            subject = tx.get_subject(subject_id)
            if subject is None:
                raise NotFoundError(f"no subject {subject_id}")
            refuse_if_restricted(tx, subject_id, "put on a watchlist")
            added = tx.add_membership(row.watchlist_id, subject_id, self._ctx.clock())
            if added:
                # Put back since being taken off: a restore must not take them off again.
                ledger = self._ctx.keyring.revocations
                tx.set_meta(APPLIED, str(ledger.join_watchlist(subject_id, row.watchlist_id)))
                self._audit.append(
                    tx,
                    "watchlist.add",
                    object_type="subject",
                    object_id=subject_id,
                    purpose=purpose or self._ctx.watchlist_purpose(row),
                    details={"watchlist": row.watchlist_id},
                )
                face_ids, vectors = self._ctx.templates_of(
                    tx, subject_id, WrappedKey.from_bytes(subject.wrapped_key)
                )
                self._ctx.gallery.join(row.watchlist_id, subject_id, face_ids, vectors)
        return added

    def remove(self, ref: str, subject_id: str, *, purpose: str = "") -> bool:
        """Take a subject off a watchlist; False if it was not on it.

        Raises:
            NotFoundError: no such watchlist.
        """
        with self._ctx.writing(gallery_changes=True) as tx:
            row = resolve_watchlist(tx, ref)
            removed = tx.remove_membership(row.watchlist_id, subject_id)
            if removed:
                # Before the commit: a restore of an older backup takes them off again.
                ledger = self._ctx.keyring.revocations
                tx.set_meta(APPLIED, str(ledger.leave_watchlist(subject_id, row.watchlist_id)))
                self._audit.append(
                    tx,
                    "watchlist.remove",
                    object_type="subject",
                    object_id=subject_id,
                    purpose=purpose or self._ctx.watchlist_purpose(row),
                    details={"watchlist": row.watchlist_id},
                )
                self._ctx.gallery.leave(row.watchlist_id, subject_id)
        return removed

    def _view(self, row: WatchlistRow) -> Watchlist:
        return Watchlist(
            row.watchlist_id,
            row.name,
            self._ctx.watchlist_purpose(row),
            self._ctx.watchlist_basis(row),
            row.fmr,
            row.created_at,
            self._ctx.store.count_members(row.watchlist_id),
        )


def reapply_departures(
    ctx: Context, tx: Transaction, records: list[Revocation]
) -> list[tuple[str, str]]:
    """Take off their watchlists again the subjects the ledger last records as taken off.

    A database restored from a backup taken before (an objection upheld, a ban
    ended, the watchlist deleted) has them on it, matched again. One put back
    on since (``join``) stays. Run in a transaction that changes the gallery;
    returns each (subject, watchlist) taken off now, for the caller to audit.
    """
    last: dict[tuple[str, str], str] = {}
    dropped: set[str] = set()
    for r in records:
        if r.kind in ("leave", "join") and r.watchlist is not None:
            last[(r.target, r.watchlist)] = r.kind
        elif r.kind == "drop":
            dropped.add(r.target)
    gone = {pair for pair, kind in last.items() if kind == "leave"}
    if dropped:
        gone |= {(s, w) for w, s in tx.iter_memberships() if w in dropped}
    removed = []
    for subject_id, watchlist_id in sorted(gone):
        if tx.remove_membership(watchlist_id, subject_id):
            ctx.gallery.leave(watchlist_id, subject_id)
            removed.append((subject_id, watchlist_id))
    return removed
