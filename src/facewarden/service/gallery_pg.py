"""The gallery inside PostgreSQL: pgvector's HNSW index over ``face_vectors``.

Selected by ``gallery_index = "pgvector"`` (PostgreSQL only). The store
keeps every face's protected template in ``face_vectors`` (written in the
same transaction as the encrypted template, re-written by template rotation,
deleted with the face: see :mod:`facewarden.store._pg_schema`), so the
database *is* the index:

* nothing is decrypted at start: :meth:`PgVectorGallery.rebuild` only notes
  the gallery version (a server over a million faces starts at once);
* the services' update calls (``add_faces``, ``join``, ``leave``, ...) have
  nothing to do, and what one process commits is searchable by every other
  at once, with no rebuild;
* a search is one query per probe: the nearest vectors of the watchlist's
  members (pgvector's iterative HNSW scan, cosine), ranked into distinct
  subjects as :class:`~facewarden.match.index.ExactIndex` ranks them
  (:func:`~facewarden.match.pgvector.widening_search`).

Faces stored before the table existed (a database migrated to version 5),
or while a process without pgvector emptied it, are copied in by the first
:meth:`~PgVectorGallery.rebuild` of a process, and by the first after such an
emptying:
their templates are decrypted once, in batches, each batch re-read and
written under the database's write lock (so a template rotation in another
process cannot interleave with it).

The vectors are approximate-search results scored exactly: pgvector's
float32 cosine distance, as the in-memory index computes it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from functools import partial

import numpy as np
import numpy.typing as npt

from facewarden.errors import ConfigError
from facewarden.match.index import Hit, as_matrix
from facewarden.match.pgvector import widening_search
from facewarden.privacy.crypto import Envelope, WrappedKey
from facewarden.privacy.keys import KeyRing
from facewarden.service.gallery import VERSION_KEY, Gallery, embedder_of, open_template
from facewarden.store.base import Reader
from facewarden.store.postgres import PostgresStore

__all__ = ["EMPTIED_KEY", "MIN_PGVECTOR", "PgVectorGallery"]

logger = logging.getLogger(__name__)

#: ``hnsw.iterative_scan`` came with pgvector 0.8.0.
MIN_PGVECTOR = (0, 8)
_BACKFILL_BATCH = 500
EMPTIED_KEY = "face_vectors_emptied"
"""Meta key: replaced each time a process without pgvector empties ``face_vectors``."""


class PgVectorGallery(Gallery):
    """The :class:`Gallery` surface over the store's ``face_vectors`` table.

    Args:
        store: the deployment's PostgreSQL store (searches run on its connection).
        dim: the template dimension.
        embedder: the embedder whose templates are comparable with probes; others are skipped.
        candidates: rows fetched per probe before ranking (widened when too few subjects came).
        ef_search: pgvector's ``hnsw.ef_search`` (raised to ``candidates`` when lower).
            Face embeddings crowd into a narrow cone, so the graph needs a wide
            search: at 1M templates (``benchmarks/gallery.py``) ef 200 with 100
            candidates finds exact search's top subject 95.5% of the time in
            12 ms p99, ef 800 with 400 candidates 99.4% in 38 ms p99.

    Raises:
        ConfigError: the database's pgvector is older than 0.8.
    """

    in_database = True

    def __init__(
        self,
        store: PostgresStore,
        dim: int,
        embedder: str,
        *,
        candidates: int = 400,
        ef_search: int = 800,
    ) -> None:
        super().__init__(dim, embedder)
        version = store.pgvector_version()
        if version[:2] < MIN_PGVECTOR:
            found = ".".join(map(str, version)) or "none"
            raise ConfigError(
                f'gallery_index = "pgvector" needs pgvector 0.8 or later in {store.location} '
                f"(found {found}); upgrade it (ALTER EXTENSION vector UPDATE) or use another "
                "gallery_index"
            )
        self._store = store
        self._candidates = candidates
        self._ef_search = ef_search
        self._backfilled = False
        self._emptied: str | None = None
        if dim != 128:  # schema version 5 indexes 128-d vectors; others get theirs now
            store.ensure_face_vector_index(dim)

    def __repr__(self) -> str:
        return f"PgVectorGallery({self._store.location!r}, embedder={self._embedder!r})"

    @property
    def template_count(self) -> int:
        """Templates searchable over every watchlist (one face in two watchlists counts twice)."""
        return self._store.count_face_vectors(embedder=self._embedder)

    def size(self, watchlist_id: str) -> int:
        """Templates searchable in one watchlist."""
        return self._store.count_face_vectors(watchlist_id=watchlist_id, embedder=self._embedder)

    def unload(self) -> None:
        """Forget the version held; the next search only reads it again."""
        self.version = None

    def rebuild(self, reader: Reader, envelope: Envelope) -> None:
        """Note the stored gallery version; the first time, copy in faces missing from the index.

        Nothing is loaded: the database is the index.
        """
        # Again after a process opened without pgvector emptied the table (it
        # records that with a new gallery version): else nobody would match here.
        emptied = reader.get_meta(EMPTIED_KEY)
        stale = not self._backfilled or emptied != self._emptied
        if stale and not self._store.in_transaction:
            self._backfill(envelope)
            self._backfilled, self._emptied = True, emptied
        self.version = reader.get_meta(VERSION_KEY) or ""

    def _backfill(self, envelope: Envelope) -> None:
        after, copied = "", 0
        while True:
            with self._store.transaction() as tx:
                page = tx.templates_without_vectors(after=after, limit=_BACKFILL_BATCH)
                for row in page:
                    if embedder_of(row.model) != self._embedder:
                        continue  # another dimension, maybe: left to that embedder's servers
                    key = WrappedKey.from_bytes(row.wrapped_key)
                    vector = open_template(envelope, key, row.face_id, row.template, self._dim)
                    tx.put_face_vector(row.face_id, vector)
                    copied += 1
            if len(page) < _BACKFILL_BATCH:
                break
            after = page[-1].face_id
        if copied:
            self._store.analyze_face_vectors()
            logger.info("copied %d template(s) into the pgvector index", copied)

    def forget_saved(self, keyring: KeyRing | None = None) -> None:
        """Nothing is saved outside the database."""

    def add_faces(
        self, subject_id: str, face_ids: Sequence[str], vectors: npt.NDArray[np.float32]
    ) -> None:
        """Nothing to do: the store wrote the vectors with the faces."""

    def join(
        self,
        watchlist_id: str,
        subject_id: str,
        face_ids: Sequence[str],
        vectors: npt.NDArray[np.float32],
    ) -> None:
        """Nothing to do: the search joins the memberships table."""

    def leave(self, watchlist_id: str, subject_id: str) -> None:
        """Nothing to do: the search joins the memberships table."""

    def remove_faces(self, subject_id: str, face_ids: Iterable[str]) -> None:
        """Nothing to do: deleting a face deletes its vector."""

    def remove_subject(self, subject_id: str) -> None:
        """Nothing to do: erasing a subject deletes its faces and their vectors."""

    def transform(self, matrix: npt.ArrayLike) -> None:
        """Nothing to do: template rotation re-wrote every vector in its transaction."""

    def search(self, watchlist_id: str, probes: npt.NDArray[np.float32], k: int) -> list[list[Hit]]:
        """The best ``k`` subjects of a watchlist for each probe row, found by PostgreSQL.

        Raises:
            ValueError: ``k`` is not positive or the probes have the wrong shape.
        """
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        matrix = as_matrix(probes, self._dim, "probes")
        return [
            widening_search(partial(self._nearest, watchlist_id, probe), k, self._candidates)
            for probe in matrix
        ]

    def _nearest(
        self, watchlist_id: str, probe: npt.NDArray[np.float32], count: int
    ) -> list[tuple[str, str, float]]:
        return self._store.nearest_faces(
            watchlist_id, self._embedder, probe, count, ef_search=self._ef_search
        )
