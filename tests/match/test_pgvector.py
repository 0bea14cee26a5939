"""The pgvector index on the session's real PostgreSQL: exact answers on small galleries."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import numpy as np
import pytest

from facewarden.match.index import ExactIndex, VectorIndex
from facewarden.match.pgvector import PgVectorIndex
from facewarden.store._pg_embedded import EmbeddedPostgres

DIM = 32


@pytest.fixture
def url(pg_server: EmbeddedPostgres) -> str:
    return pg_server.create_database(f"v_{secrets.token_hex(6)}")


@pytest.fixture
def index(url: str) -> Iterator[PgVectorIndex]:
    built = PgVectorIndex(url, "wl_a", DIM)
    yield built
    built.close()


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_it_answers_as_the_exact_index_does(index: PgVectorIndex, url: str) -> None:
    assert isinstance(index, VectorIndex)
    rng = np.random.default_rng(1)
    vectors = _unit(rng, 600)
    keys, groups = [f"k{i}" for i in range(600)], [f"g{i // 3}" for i in range(600)]
    exact = ExactIndex(DIM)
    exact.add(keys, groups, vectors)
    index.add(keys, groups, vectors)
    other = PgVectorIndex(url, "wl_b", DIM)
    other.add(["x"], ["gx"], vectors[:1])  # another namespace is never returned
    queries = _unit(rng, 10)
    for got, want in zip(index.search(queries, 5), exact.search(queries, 5), strict=True):
        assert [h.group for h in got] == [h.group for h in want]
        assert [h.similarity for h in got] == pytest.approx([h.similarity for h in want], abs=1e-5)
    assert len(index) == 600 and len(other) == 1 and "k5" in index and "x" not in index
    other.close()


def test_remove_and_widening(index: PgVectorIndex) -> None:
    rng = np.random.default_rng(2)
    vectors = _unit(rng, 400)
    index.add([f"k{i}" for i in range(400)], [f"g{i // 100}" for i in range(400)], vectors)
    index.candidates = 5
    hits = index.search(vectors[0], 4)[0]
    assert len(hits) == 4 and hits[0].key == "k0"
    assert index.remove(["k0", "nope"]) == 1
    assert index.remove_groups(["g3"]) == 100
    assert len(index) == 299
    assert index.search(vectors[0], 4)[0][0].key != "k0"
    index.clear()
    assert index.search(vectors[0], 4) == [[]]


def test_a_bulk_loaded_index_is_used_at_once(url: str) -> None:
    # After a bulk load the planner must know how big the namespace is: with no
    # statistics it guesses a handful of rows and sorts the whole namespace
    # instead of walking the graph (exact, but 20x slower at 100k vectors).
    import psycopg

    rng = np.random.default_rng(3)
    n = 30_000
    bulk = PgVectorIndex(url, "wl_bulk", DIM, create_index=False)
    try:
        bulk.add([f"k{i}" for i in range(n)], [f"g{i}" for i in range(n)], _unit(rng, n))
        bulk.build_index()
    finally:
        bulk.close()
    probe = "[" + ",".join(f"{x:.6f}" for x in _unit(rng, 1)[0]) + "]"
    with psycopg.connect(url) as conn:
        plan = "\n".join(
            row[0]
            for row in conn.execute(
                "EXPLAIN SELECT key FROM vector_index WHERE namespace = 'wl_bulk' "
                "ORDER BY embedding <=> %s::vector LIMIT 100",
                (probe,),
            )
        )
    assert "vector_index_hnsw" in plan, plan
