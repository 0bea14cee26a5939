"""The HNSW index: the exact index's answers on small galleries, persisted encrypted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facewarden.match.ann import HnswIndex
from facewarden.match.index import ExactIndex, VectorIndex
from facewarden.privacy.crypto import Envelope
from facewarden.privacy.keys import KeyRing

DIM = 32


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _pair(n: int, per_group: int, seed: int = 0) -> tuple[HnswIndex, ExactIndex, np.ndarray]:
    rng = np.random.default_rng(seed)
    vectors = _unit(rng, n)
    keys = [f"k{i}" for i in range(n)]
    groups = [f"g{i // per_group}" for i in range(n)]
    ann, exact = HnswIndex(DIM), ExactIndex(DIM)
    ann.add(keys, groups, vectors)
    exact.add(keys, groups, vectors)
    return ann, exact, _unit(rng, 20)


def test_it_satisfies_the_protocol() -> None:
    assert isinstance(HnswIndex(DIM), VectorIndex)


@pytest.mark.parametrize(("n", "per_group", "k"), [(1, 1, 1), (300, 1, 5), (2000, 3, 10)])
def test_small_galleries_give_the_exact_answer(n: int, per_group: int, k: int) -> None:
    ann, exact, queries = _pair(n, per_group)
    for got, want in zip(ann.search(queries, k), exact.search(queries, k), strict=True):
        assert [h.group for h in got] == [h.group for h in want]
        assert [h.similarity for h in got] == pytest.approx([h.similarity for h in want], abs=1e-6)


def test_groups_with_many_vectors_widen_the_candidates() -> None:
    ann, exact, queries = _pair(1000, 200, seed=3)  # 5 groups of 200
    ann.candidates = 10
    got = ann.search(queries, 5)
    assert all(len(hits) == 5 for hits in got)
    assert [h.group for h in got[0]] == [h.group for h in exact.search(queries[:1], 5)[0]]


def test_remove_add_and_transform_keep_it_exact() -> None:
    ann, exact, queries = _pair(500, 2, seed=5)
    for index in (ann, exact):
        assert index.remove(["k0", "k1", "nope"]) == 2
        assert index.remove_groups(["g10"]) == 2
    rng = np.random.default_rng(9)
    fresh = _unit(rng, 50)
    for index in (ann, exact):
        index.add([f"n{i}" for i in range(50)], [f"h{i}" for i in range(50)], fresh)
    assert len(ann) == len(exact) == 546 and "k0" not in ann and "n3" in ann
    q, _ = np.linalg.qr(rng.standard_normal((DIM, DIM)))
    ann.transform(q)
    exact.transform(q)
    for got, want in zip(ann.search(queries, 3), exact.search(queries, 3), strict=True):
        assert [h.key for h in got] == [h.key for h in want]
    with pytest.raises(ValueError, match="already stored"):
        ann.add(["n3"], ["x"], fresh[:1])


def test_a_graph_cut_up_by_removals_still_answers_exactly() -> None:
    # Removing most of a sparse graph leaves live elements hnswlib cannot reach
    # from its entry point; it then refuses to return k results. The index
    # answers such probes exhaustively instead of failing the search.
    rng = np.random.default_rng(11)
    vectors = _unit(rng, 300)
    keys, groups = [f"k{i}" for i in range(300)], [f"g{i}" for i in range(300)]
    for trial in range(30):
        ann = HnswIndex(DIM, m=2, ef_construction=5, ef_search=10, candidates=10)
        exact = ExactIndex(DIM)
        for index in (ann, exact):
            index.add(keys, groups, vectors)
            index.remove([k for i, k in enumerate(keys) if (i + trial) % 50])
        queries = _unit(rng, 5)
        for got, want in zip(ann.search(queries, 3), exact.search(queries, 3), strict=True):
            assert [h.key for h in got] == [h.key for h in want]


def test_saved_encrypted_and_loaded_or_rebuilt(tmp_path: Path) -> None:
    envelope = Envelope(KeyRing.open(tmp_path / "keys", create=True))
    ann, _, queries = _pair(300, 1, seed=11)
    path = tmp_path / "wl.ann"
    ann.save(path, envelope, name="wl_1", version="v1")
    assert path.stat().st_mode & 0o777 == 0o600
    assert b"k17" not in path.read_bytes()
    loaded = HnswIndex.load(path, envelope, name="wl_1", version="v1")
    assert loaded is not None and len(loaded) == 300
    assert loaded.search(queries, 3) == ann.search(queries, 3)
    assert HnswIndex.load(path, envelope, name="wl_1", version="v2") is None  # stale
    assert HnswIndex.load(path, envelope, name="wl_2", version="v1") is None  # swapped
    assert HnswIndex.load(tmp_path / "missing", envelope, name="wl_1", version="v1") is None
    tampered = bytearray(path.read_bytes())
    tampered[-5] ^= 1
    path.write_bytes(bytes(tampered))
    assert HnswIndex.load(path, envelope, name="wl_1", version="v1") is None


def test_empty_index_and_bad_input() -> None:
    index = HnswIndex(DIM)
    assert index.search(np.zeros(DIM, dtype=np.float32), 3) == [[]]
    with pytest.raises(ValueError, match="k must be"):
        index.search(np.zeros(DIM), 0)
    with pytest.raises(ValueError, match="shape"):
        index.add(["a"], ["g"], np.zeros((1, DIM + 1)))
    with pytest.raises(ValueError, match="NaN"):
        index.add(["a"], ["g"], np.full((1, DIM), np.nan))
