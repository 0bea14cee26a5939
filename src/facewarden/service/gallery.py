"""The in-memory gallery: one exact vector index per watchlist, rebuilt from the store.

Templates are decrypted once at start (they stay protected by the
deployment's transform: raw embeddings never exist here) and kept in sync
by the services after each committed write. A version token in the store's
meta table, replaced by every write that changes templates or memberships,
tells a process that another process (a CLI next to a server) changed the
gallery, so it rebuilds before searching.

Which index serves a watchlist is chosen at each rebuild by an
:class:`IndexPolicy` (settings ``gallery_index`` and ``ann_min_size``):
exact numpy search below the size where it is fast enough, else an HNSW
index with exact re-ranking (:class:`~facewarden.match.ann.HnswIndex`),
which is saved encrypted next to the database after it is built and loaded
instead of rebuilt while the gallery version is unchanged. A watchlist that
grows past the threshold between rebuilds stays exact until the next one.
"""

from __future__ import annotations

import logging
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from facewarden.match.ann import HnswIndex
from facewarden.match.index import ExactIndex, Hit
from facewarden.privacy.crypto import Envelope, WrappedKey
from facewarden.privacy.keys import KeyRing
from facewarden.privacy.template import pack_vector, unpack_vector
from facewarden.store.base import Reader, TemplateRow

__all__ = [
    "VERSION_KEY",
    "Gallery",
    "IndexPolicy",
    "open_template",
    "seal_template",
]

logger = logging.getLogger(__name__)

VERSION_KEY = "gallery_version"
_SAVED_KEY_PREFIX = "index."
_TABLE, _FIELD = "faces", "template"


def seal_template(
    envelope: Envelope, data_key: WrappedKey, face_id: str, protected: npt.NDArray[np.float32]
) -> bytes:
    """Encrypt a protected template for storage, bound to its face id."""
    return envelope.encrypt(
        pack_vector(protected), data_key=data_key, table=_TABLE, row=face_id, field=_FIELD
    )


def open_template(
    envelope: Envelope, data_key: WrappedKey, face_id: str, sealed: bytes, dim: int
) -> npt.NDArray[np.float32]:
    """Decrypt a stored template (still protected by the deployment transform)."""
    raw = envelope.decrypt(sealed, data_key=data_key, table=_TABLE, row=face_id, field=_FIELD)
    return unpack_vector(raw, dim)


@dataclass(frozen=True)
class IndexPolicy:
    """Which vector index a watchlist gets at rebuild.

    Attributes:
        kind: ``exact``, ``ann`` (always HNSW) or ``auto`` (HNSW from ``ann_min_size`` on).
        ann_min_size: the size from which ``auto`` picks HNSW.
        cache_dir: where built HNSW indexes are saved encrypted; None: not saved.
        threads: threads for building HNSW indexes.
    """

    kind: str = "exact"
    ann_min_size: int = 200_000
    cache_dir: Path | None = None
    threads: int = 1

    def wants_ann(self, size: int) -> bool:
        """Whether a watchlist of ``size`` templates gets the HNSW index."""
        return self.kind == "ann" or (self.kind == "auto" and size >= self.ann_min_size)


Index = ExactIndex | HnswIndex


def embedder_of(model: str) -> str:
    """The embedder part of a model key (``dlib-resnet+mirror`` -> ``dlib-resnet``)."""
    return model.split("+", 1)[0]


class Gallery:
    """Per-watchlist exact indexes over protected templates (keys: face ids, groups: subjects).

    Starts unloaded; :meth:`rebuild` loads it. While unloaded, the update
    methods do nothing (the next rebuild reads the committed state anyway).
    Not thread-safe by itself: the service context serialises access.

    Args:
        dim: the template dimension.
        embedder: the embedder whose templates are comparable with probes; others are skipped.
    """

    in_database = False
    """True for a gallery searched in the database (no in-memory copy to keep in step)."""

    def __init__(self, dim: int, embedder: str, policy: IndexPolicy | None = None) -> None:
        self._dim = dim
        self._embedder = embedder
        self._policy = policy or IndexPolicy()
        self._indexes: dict[str, Index] = {}
        self._members: defaultdict[str, set[str]] = defaultdict(set)
        self.version: str | None = None  # None: not loaded
        # Counts in-memory changes, so a rolled-back transaction that changed
        # nothing here does not cost a full rebuild.
        self.changes = 0

    @property
    def embedder(self) -> str:
        """The embedder whose templates this gallery searches (others are skipped)."""
        return self._embedder

    @property
    def loaded(self) -> bool:
        """Whether the gallery holds the store's templates (else it must be rebuilt)."""
        return self.version is not None

    def unload(self) -> None:
        """Drop everything; the next search rebuilds from the store."""
        self._indexes.clear()
        self._members.clear()
        self.version = None

    def __repr__(self) -> str:
        return f"Gallery(watchlists={len(self._indexes)}, templates={self.template_count})"

    @property
    def template_count(self) -> int:
        """Templates held over every watchlist (one face in two watchlists counts twice)."""
        return sum(len(index) for index in self._indexes.values())

    def size(self, watchlist_id: str) -> int:
        """Templates searchable in one watchlist."""
        index = self._indexes.get(watchlist_id)
        return 0 if index is None else len(index)

    def rebuild(self, reader: Reader, envelope: Envelope) -> None:
        """Reload every template and membership from the store."""
        self._indexes.clear()
        self._members.clear()
        for watchlist_id, subject_id in reader.iter_memberships():
            self._members[subject_id].add(watchlist_id)
        batches: defaultdict[str, tuple[list[str], list[str], list[npt.NDArray[np.float32]]]]
        batches = defaultdict(lambda: ([], [], []))
        skipped = 0
        for row in reader.iter_templates():
            if embedder_of(row.model) != self._embedder:
                skipped += 1
                continue
            vector = self._open(envelope, row)
            for watchlist_id in self._members.get(row.subject_id, ()):
                keys, groups, vectors = batches[watchlist_id]
                keys.append(row.face_id)
                groups.append(row.subject_id)
                vectors.append(vector)
        version = reader.get_meta(VERSION_KEY) or ""
        for watchlist_id, (keys, groups, vectors) in batches.items():
            if self._policy.wants_ann(len(keys)):
                self._indexes[watchlist_id] = self._ann(
                    watchlist_id, version, envelope, keys, groups, vectors
                )
            else:
                self._index(watchlist_id).add(keys, groups, np.array(vectors, dtype=np.float32))
        if skipped:
            logger.warning(
                "%d template(s) were made by another embedder than %s and cannot be "
                "searched; re-enroll those faces",
                skipped,
                self._embedder,
            )
        # A store without a version yet reads as "" (loaded, nothing changed since).
        self.version = version
        logger.info(
            "gallery loaded: %d template(s) in %d watchlist(s)",
            self.template_count,
            len(self._indexes),
        )

    def _open(self, envelope: Envelope, row: TemplateRow) -> npt.NDArray[np.float32]:
        key = WrappedKey.from_bytes(row.wrapped_key)
        return open_template(envelope, key, row.face_id, row.template, self._dim)

    def _ann(
        self,
        watchlist_id: str,
        version: str,
        envelope: Envelope,
        keys: list[str],
        groups: list[str],
        vectors: list[npt.NDArray[np.float32]],
    ) -> HnswIndex:
        cache = self._policy.cache_dir
        path = None if cache is None else cache / f"{watchlist_id}.ann"
        if path is not None:
            loaded = HnswIndex.load(
                path, envelope, name=watchlist_id, version=version, threads=self._policy.threads
            )
            if loaded is not None and len(loaded) == len(keys):
                logger.info("HNSW index of %s loaded from %s", watchlist_id, path)
                return loaded
        index = HnswIndex(self._dim, threads=self._policy.threads)
        index.add(keys, groups, np.array(vectors, dtype=np.float32))
        if path is not None and cache is not None:
            cache.mkdir(mode=0o700, parents=True, exist_ok=True)
            # Under a key of its own in the key directory, destroyed with the file
            # when the gallery changes: a copy of the file made before an erasure
            # does not decrypt afterwards (the erased faces are in it).
            own = f"{_SAVED_KEY_PREFIX}{secrets.token_hex(8)}"
            index.save(
                path,
                envelope,
                name=watchlist_id,
                version=version,
                data_key=envelope.new_subject_data_key(own),
            )
        return index

    def forget_saved(self, keyring: KeyRing | None = None) -> None:
        """Delete the saved HNSW indexes and destroy their keys: the gallery changed.

        Called after every committed change of templates or memberships, so an
        erased subject's (encrypted) vectors do not linger in a saved index,
        nor decrypt in a copy of one made before (its key is destroyed).
        """
        cache = self._policy.cache_dir
        if cache is not None and cache.is_dir():
            doomed = []
            for path in cache.glob("*.ann"):
                key_id = HnswIndex.saved_key_id(path)
                if key_id is not None and key_id.startswith(f"sk-{_SAVED_KEY_PREFIX}"):
                    doomed.append(key_id.removeprefix("sk-"))
                path.unlink(missing_ok=True)
            if keyring is not None and doomed:
                keyring.destroy_subject_keys(doomed)

    def _index(self, watchlist_id: str) -> Index:
        index = self._indexes.get(watchlist_id)
        if index is None:
            index = self._indexes[watchlist_id] = ExactIndex(self._dim)
        return index

    def add_faces(
        self, subject_id: str, face_ids: Sequence[str], vectors: npt.NDArray[np.float32]
    ) -> None:
        """Make new faces of a subject searchable in every watchlist it is on."""
        if not self.loaded:
            return
        self.changes += 1
        for watchlist_id in self._members.get(subject_id, ()):
            self._index(watchlist_id).add(face_ids, [subject_id] * len(face_ids), vectors)

    def join(
        self,
        watchlist_id: str,
        subject_id: str,
        face_ids: Sequence[str],
        vectors: npt.NDArray[np.float32],
    ) -> None:
        """Put a subject (with all its faces) on a watchlist."""
        if not self.loaded:
            return
        self.changes += 1
        if watchlist_id in self._members[subject_id]:
            return
        self._members[subject_id].add(watchlist_id)
        if face_ids:
            self._index(watchlist_id).add(face_ids, [subject_id] * len(face_ids), vectors)

    def leave(self, watchlist_id: str, subject_id: str) -> None:
        """Take a subject off a watchlist."""
        if not self.loaded:
            return
        self.changes += 1
        self._members[subject_id].discard(watchlist_id)
        index = self._indexes.get(watchlist_id)
        if index is not None:
            index.remove_groups([subject_id])

    def remove_faces(self, subject_id: str, face_ids: Iterable[str]) -> None:
        """Stop matching some faces of a subject."""
        if not self.loaded:
            return
        self.changes += 1
        wanted = list(face_ids)
        for watchlist_id in self._members.get(subject_id, ()):
            self._index(watchlist_id).remove(wanted)

    def remove_subject(self, subject_id: str) -> None:
        """Stop matching a subject anywhere (erasure)."""
        if not self.loaded:
            return
        self.changes += 1
        for watchlist_id in self._members.pop(subject_id, set()):
            self._index(watchlist_id).remove_groups([subject_id])

    def transform(self, matrix: npt.ArrayLike) -> None:
        """Renew every template with a renewal matrix (template-key rotation)."""
        if not self.loaded:
            return
        self.changes += 1
        for index in self._indexes.values():
            index.transform(matrix)

    def search(self, watchlist_id: str, probes: npt.NDArray[np.float32], k: int) -> list[list[Hit]]:
        """The best ``k`` subjects of a watchlist for each probe row."""
        index = self._indexes.get(watchlist_id)
        if index is None:
            return [[] for _ in range(len(probes))]
        return index.search(probes, k)
