"""What every use case shares: the store, the keys, the pipelines, the gallery and one lock.

Built once by :class:`~facewarden.service.warden.Warden` and handed to each
service together with the actor it acts for. The lock serialises writes with
the in-memory gallery updates that follow them, so a search never sees a
gallery that disagrees with what was committed.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import numpy.typing as npt

from facewarden.config import Settings
from facewarden.errors import FacewardenError
from facewarden.privacy.anchor import Anchor, HeadAnchor
from facewarden.privacy.audit import AuditChain, AuditEntry
from facewarden.privacy.clock import Clock
from facewarden.privacy.crypto import Envelope, WrappedKey
from facewarden.privacy.freetext import FreeText
from facewarden.privacy.keys import KeyRing
from facewarden.privacy.template import TemplateProtector
from facewarden.service.gallery import VERSION_KEY, Gallery, open_template
from facewarden.service.keycheck import TEMPLATE_KEY, protector_for
from facewarden.service.refusals import LockoutRefusals
from facewarden.store.base import Reader, Store, Transaction, WatchlistRow
from facewarden.vision.pipeline import Pipeline

__all__ = ["Context"]


@dataclass(eq=False)
class Context:
    """The shared state of one open deployment."""

    settings: Settings
    store: Store
    keyring: KeyRing
    envelope: Envelope
    chain: AuditChain
    protector: TemplateProtector
    clock: Clock
    pipeline: Pipeline
    enroll_pipeline: Pipeline
    gallery: Gallery
    anchor: HeadAnchor | None = None
    lock: threading.RLock = field(default_factory=threading.RLock)
    refusals: LockoutRefusals = field(default_factory=LockoutRefusals)
    """Refusals during lockouts, counted here and audited in summary (see its module)."""
    closed: bool = False
    # The audit entry appended last in the open transaction (see audit_appended).
    _appended: AuditEntry | None = field(default=None, repr=False)

    def audit_appended(self, entry: AuditEntry) -> None:
        """Note the entry an open transaction appended; the anchor moves once it commits."""
        self._appended = entry

    erasures_pending: bool = False
    """Set by an erasure inside :meth:`writing`: destroy the KEKs once it commits."""

    @cached_property
    def freetext(self) -> FreeText:
        """Seals and opens typed free text (purposes, case references) with the audit key."""
        return FreeText(self.keyring.audit_key)

    def watchlist_purpose(self, row: WatchlistRow) -> str:
        """A watchlist's declared purpose, opened (typed text, stored sealed)."""
        return self.freetext.open(
            row.purpose, table="watchlists", row=row.watchlist_id, field="purpose"
        )

    def watchlist_basis(self, row: WatchlistRow) -> str:
        """A watchlist's declared lawful basis, opened (typed text, stored sealed)."""
        return self.freetext.open(
            row.lawful_basis, table="watchlists", row=row.watchlist_id, field="lawful_basis"
        )

    def ensure_open(self) -> None:
        """Refuse use after :meth:`Warden.close`."""
        if self.closed:
            raise FacewardenError("this Warden is closed; open a new one")

    @property
    def template_dim(self) -> int:
        """The dimension of stored templates."""
        return self.protector.dim

    @contextmanager
    def writing(self, *, gallery_changes: bool = False) -> Iterator[Transaction]:
        """A store transaction under the shared lock.

        With ``gallery_changes`` the transaction also records a new gallery
        version; callers update the in-memory gallery inside the block, after
        their writes, and this process adopts the version once committed.
        Other processes see the new version and rebuild.
        """
        self.ensure_open()
        with self.lock:
            self.refresh(need_gallery=False)
            version = secrets.token_hex(8) if gallery_changes else None
            changes_before = self.gallery.changes
            self._appended = None
            try:
                with self.store.transaction() as tx:
                    # Read again under the database's write lock: another process
                    # may have rotated the template key while this one waited for
                    # it, and a face protected with the old key must be refused
                    # (store_faces compares), not stored beside renewed ones.
                    self._adopt_template_key(tx.get_meta(TEMPLATE_KEY))
                    # Likewise the gallery: another process may have committed a
                    # change (an erasure) since refresh() above. Updated in place
                    # and stamped with this transaction's version, the gallery
                    # would pass for current without that change; dropped, the
                    # next search rebuilds it from the committed state.
                    if self.gallery.loaded and (
                        (tx.get_meta(VERSION_KEY) or "") != self.gallery.version
                    ):
                        self.gallery.unload()
                    if version is not None:
                        tx.set_meta(VERSION_KEY, version)
                    yield tx
            except BaseException:
                # The gallery may have been updated for writes that were then
                # rolled back: drop it, so the next search rebuilds it. A failed
                # read (an unknown id, say) changed nothing and keeps it.
                if self.gallery.changes != changes_before:
                    self.gallery.unload()
                self._appended = None
                raise
            finally:
                pending, self.erasures_pending = self.erasures_pending, False
            if pending:
                # Committed: the erased subjects' KEKs go now (the ledger has their
                # ids, so a crash before this line is completed at the next open).
                self.keyring.destroy_erased_keys()
            if version is not None:
                self.gallery.forget_saved(self.keyring)
                if self.gallery.loaded:
                    self.gallery.version = version
            head, self._appended = self._appended, None
            if head is not None and self.anchor is not None:
                self.anchor.note(head.seq, head.entry_hash)
        # Outside the lock: writers that commit meanwhile share one anchor write.
        if head is not None:
            self.move_anchor()

    def move_anchor(self) -> None:
        """Write the newest committed audit head to the signed anchor (see HeadAnchor.flush)."""
        if self.anchor is not None:
            self.anchor.flush(self._log_holds)

    def _log_holds(self, anchor: Anchor) -> bool:
        found = self.store.list_audit(after_seq=anchor.seq - 1, limit=1)
        held = [(e.seq, e.entry_hash) for e in found]
        return held == [(anchor.seq, anchor.entry_hash)]

    def refresh(self, *, need_gallery: bool) -> None:
        """Catch up with other processes: a template rotation, changed templates or members.

        The gallery is loaded lazily, by the first search (``need_gallery``);
        commands that never search do not pay for decrypting every template.
        """
        self.ensure_open()
        with self.lock:
            self._adopt_template_key(self.store.get_meta(TEMPLATE_KEY))
            if not (need_gallery or self.gallery.loaded):
                return
            current = self.store.get_meta(VERSION_KEY) or ""
            if not self.gallery.loaded or current != self.gallery.version:
                self.gallery.rebuild(self.store, self.envelope)

    def _adopt_template_key(self, stored: str | None) -> None:
        if stored is not None and stored != self.protector.key_id:
            # Another process rotated the template key: probes and new
            # enrollments must use the new transform, and the gallery reloads.
            self.protector = protector_for(self.keyring, stored, self.template_dim)
            self.gallery.unload()

    def templates_of(
        self, reader: Reader, subject_id: str, data_key: WrappedKey
    ) -> tuple[list[str], npt.NDArray[np.float32]]:
        """The face ids and decrypted (still protected) templates of a subject."""
        faces = reader.faces_of(subject_id)
        vectors = [
            open_template(self.envelope, data_key, f.face_id, f.template, self.template_dim)
            for f in faces
        ]
        matrix = np.array(vectors, dtype=np.float32).reshape(len(faces), self.template_dim)
        return [f.face_id for f in faces], matrix
