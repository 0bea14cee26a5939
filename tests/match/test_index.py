"""The exact vector index: results equal a brute-force sort, groups counted once."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from facewarden.match.index import ExactIndex, Hit, VectorIndex

DIM = 16


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def _brute(vectors: np.ndarray, groups: list[str], query: np.ndarray, k: int) -> list[str]:
    best: dict[str, float] = {}
    for g, s in zip(groups, vectors @ query, strict=True):
        best[g] = max(best.get(g, -2.0), float(s))
    return [g for g, _ in sorted(best.items(), key=lambda kv: -kv[1])[:k]]


def test_it_satisfies_the_protocol() -> None:
    assert isinstance(ExactIndex(DIM), VectorIndex)


@pytest.mark.parametrize(
    ("n", "faces_per_group", "k"), [(1, 1, 1), (50, 1, 5), (400, 7, 10), (300, 60, 3), (20, 4, 50)]
)
def test_top_k_distinct_groups_match_brute_force(n: int, faces_per_group: int, k: int) -> None:
    rng = np.random.default_rng(n * 31 + k)
    vectors = _unit(rng, n)
    groups = [f"g{i // faces_per_group}" for i in range(n)]
    index = ExactIndex(DIM)
    index.add([f"k{i}" for i in range(n)], groups, vectors)
    queries = _unit(rng, 5)
    for query, hits in zip(queries, index.search(queries, k), strict=True):
        assert [h.group for h in hits] == _brute(vectors, groups, query, k)
        assert all(a.similarity >= b.similarity for a, b in itertools.pairwise(hits))
        for hit in hits:
            row = int(hit.key[1:])
            assert groups[row] == hit.group
            assert hit.similarity == pytest.approx(float(vectors[row] @ query), abs=1e-6)


def test_remove_keys_and_groups_then_search_stays_exact() -> None:
    rng = np.random.default_rng(7)
    vectors = _unit(rng, 100)
    groups = [f"g{i % 10}" for i in range(100)]
    index = ExactIndex(DIM)
    index.add([f"k{i}" for i in range(100)], groups, vectors)
    assert index.remove(["k0", "k1", "nope"]) == 2
    assert index.remove_groups(["g5"]) == 10
    assert len(index) == 88 and "k0" not in index and "k2" in index
    keep = [i for i in range(100) if i not in (0, 1) and groups[i] != "g5"]
    query = _unit(rng, 1)[0]
    hits = index.search(query, 9)[0]
    assert [h.group for h in hits] == _brute(vectors[keep], [groups[i] for i in keep], query, 9)
    assert "g5" not in {h.group for h in hits}


def test_growth_beyond_the_initial_capacity_keeps_every_vector() -> None:
    rng = np.random.default_rng(3)
    index = ExactIndex(DIM)
    for start in range(0, 1000, 250):
        index.add(
            [f"k{i}" for i in range(start, start + 250)],
            [f"g{i}" for i in range(start, start + 250)],
            _unit(rng, 250),
        )
    assert len(index) == 1000
    assert len(index.search(_unit(rng, 1), 1000)[0]) == 1000


def test_transform_applies_an_orthogonal_map_to_stored_vectors() -> None:
    rng = np.random.default_rng(11)
    vectors = _unit(rng, 30)
    q, _ = np.linalg.qr(rng.standard_normal((DIM, DIM)))
    index = ExactIndex(DIM)
    index.add([f"k{i}" for i in range(30)], [f"g{i}" for i in range(30)], vectors)
    probe = _unit(rng, 1)[0]
    before = index.search(probe, 5)[0]
    index.transform(q)
    after = index.search((q @ probe).astype(np.float32), 5)[0]
    assert [h.group for h in before] == [h.group for h in after]
    assert [h.similarity for h in before] == pytest.approx([h.similarity for h in after], abs=1e-5)


def test_empty_index_and_bad_input() -> None:
    index = ExactIndex(DIM)
    assert index.search(np.zeros((2, DIM), np.float32), 3) == [[], []]
    with pytest.raises(ValueError, match="shape"):
        index.add(["a"], ["g"], np.zeros((1, DIM + 1), np.float32))
    index.add(["a"], ["g"], np.ones((1, DIM), np.float32) / 4)
    with pytest.raises(ValueError, match="already stored"):
        index.add(["a"], ["g"], np.ones((1, DIM), np.float32) / 4)
    with pytest.raises(ValueError, match="differ"):
        index.add(["b", "c"], ["g"], np.ones((2, DIM), np.float32))
    with pytest.raises(ValueError, match="NaN"):
        index.add(["d"], ["g"], np.full((1, DIM), np.nan, np.float32))
    with pytest.raises(ValueError, match="k must be"):
        index.search(np.ones(DIM, np.float32), 0)
    assert index.search(np.ones(DIM, np.float32) / 4, 2)[0] == [Hit("g", "a", pytest.approx(1.0))]
