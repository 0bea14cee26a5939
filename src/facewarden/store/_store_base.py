"""What both stores do alike around their one connection.

Private to :mod:`facewarden.store.sqlite` and :mod:`facewarden.store.postgres`:
each store says how a write transaction begins and ends (``_begun``), which
transaction class it yields (``_transaction_type``) and how a read-only
transaction is had on a connection of its own (``_snapshot``); this base
keeps the rest: one transaction at a time, the transaction object refused
once its block ends, the snapshots (the audit's, a long read's), the schema version, ``close``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Generic, TypeVar

from facewarden.errors import FacewardenError
from facewarden.store import migrations
from facewarden.store._dialect import Dialect
from facewarden.store._read import Reads
from facewarden.store._write import Writes

__all__ = ["StoreBase"]

TxT = TypeVar("TxT", bound=Writes)


class StoreBase(Reads, Generic[TxT]):
    """A store over one connection, guarded by a lock; its transactions are ``TxT``."""

    _transaction_type: type[TxT]

    def __init__(self, dialect: Dialect, conn: Any) -> None:
        super().__init__(dialect, self._live, threading.RLock())
        self._conn: Any = conn
        self._in_transaction = False

    def _live(self) -> Any:
        """The connection; raises FacewardenError once the store is closed."""
        if self._conn is None:
            raise FacewardenError("the store is closed")
        return self._conn

    def _begun(self, conn: Any) -> AbstractContextManager[None]:
        """Begin a write transaction on ``conn``; commit at the end, roll back on error."""
        raise NotImplementedError

    def _snapshot(self, *, own: bool = False) -> AbstractContextManager[Any]:
        """A connection other than the store's, in a read-only transaction.

        ``own``: a connection of its own, closed at the end, for a long read
        that should not make the audit's verification wait (a subject's export).
        """
        raise NotImplementedError

    @property
    def location(self) -> str:
        raise NotImplementedError

    def __repr__(self) -> str:
        state = "closed" if self._conn is None else "open"
        return f"{type(self).__name__}({self.location!r}, {state})"

    @property
    def schema_version(self) -> int:
        with self._lock, self._dialect.translated("read"):
            return migrations.version_of(self._live(), self._dialect)

    @contextmanager
    def transaction(self) -> Iterator[TxT]:
        """One write transaction: committed at the end of the block, rolled back on error.

        Raises:
            FacewardenError: a transaction is already open in this store.
        """
        with self._lock:
            conn = self._live()
            if self._in_transaction:
                raise FacewardenError("a transaction is already open on this store")
            self._in_transaction = True
            tx = self._transaction_type(self._dialect, conn, self._lock)
            try:
                with self._begun(conn):
                    yield tx
            finally:
                tx.end()
                self._in_transaction = False

    def audit_snapshot(self) -> AbstractContextManager[Reads]:
        """Reads from one read-only transaction on a connection of its own.

        See :meth:`facewarden.store.base.Store.audit_snapshot`.
        """
        return self._reads("audit snapshot", own=False)

    def snapshot(self) -> AbstractContextManager[Reads]:
        """Every read, from one read-only transaction on a connection of its own.

        See :meth:`facewarden.store.base.Store.snapshot`.
        """
        return self._reads("snapshot", own=True)

    @contextmanager
    def _reads(self, what: str, *, own: bool) -> Iterator[Reads]:
        with self._lock:
            self._live()  # refuse after close
        with self._dialect.translated(what), self._snapshot(own=own) as conn:
            # The snapshot is fixed by the transaction's first read, so read now.
            conn.execute("SELECT COUNT(*) FROM meta").fetchone()
            yield Reads(self._dialect, lambda: conn, threading.RLock())

    def close(self) -> None:
        """Close the connection; idempotent. Later calls raise FacewardenError."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
