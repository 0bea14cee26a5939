"""1:N search over galleries of 100k and 1M templates: exact numpy, HNSW, pgvector HNSW.

The gallery is shaped like real face embeddings (see ``_facelike.py``):
synthetic identities drawn from the between- and within-person statistics of
the real dlib embeddings of the LFW fold, two templates each, plus the real
LFW fold embeddings mixed in (each person's first photo enrolled). Every
vector is then protected by a random orthogonal transform, as stored
templates are. Probes are *planted matches*: a fresh photo of an enrolled
synthetic identity, or another real photo of an enrolled LFW person.

For each index it prints: build time, memory (resident-set growth of this
process for in-process indexes; table plus index size on disk for pgvector,
whose memory is the server's), identify latency p50/p99 for one probe and
for a batch of 64 probes (top 5 distinct subjects), recall@1 against exact
search (the top subject equals exact search's), and identification accuracy
(the top subject is the planted one).

``--json`` also writes every figure as a number (for comparing two runs,
``benchmarks/ab.py``).

Run::

    .venv/bin/python benchmarks/gallery.py                       # 100k and 1M
    .venv/bin/python benchmarks/gallery.py --sizes 100000 --pgvector-max 100000
"""

from __future__ import annotations

import argparse
import gc
import json
import multiprocessing
import os
import secrets
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from _facelike import FaceModel, lfw_embeddings, similarity_profile
from facewarden.match.ann import HnswIndex
from facewarden.match.index import ExactIndex, Hit
from facewarden.match.pgvector import PgVectorIndex
from facewarden.store._pg_embedded import EmbeddedPostgres

F32 = npt.NDArray[np.float32]
K = 5
BATCH = 64


@dataclass
class Gallery:
    keys: list[str]
    groups: list[str]
    vectors: F32
    probes: F32
    planted: list[str]


def build_gallery(
    model: FaceModel, names: np.ndarray, real: F32, size: int, probes: int
) -> Gallery:
    rng = np.random.default_rng(size)
    _, first = np.unique(names, return_index=True)
    enrolled = np.zeros(len(names), dtype=bool)
    enrolled[first] = True
    lfw_keys = [f"lfw{i}" for i in np.flatnonzero(enrolled)]
    lfw_groups = [f"lfw:{names[i]}" for i in np.flatnonzero(enrolled)]
    lfw_probe_groups = [f"lfw:{names[i]}" for i in np.flatnonzero(~enrolled)]
    identities = (size - len(lfw_keys)) // 2
    centres = model.identities(rng, identities)
    synthetic = model.photos(rng, centres, 2)
    groups = [f"s{i}" for i in range(identities) for _ in range(2)] + lfw_groups
    keys = [f"f{i}" for i in range(len(synthetic))] + lfw_keys
    vectors = np.concatenate([synthetic, real[enrolled]])
    chosen = rng.choice(identities, size=probes, replace=False)
    probe_vectors = np.concatenate([model.photos(rng, centres[chosen]), real[~enrolled]])
    planted = [f"s{i}" for i in chosen] + lfw_probe_groups
    rotation, _ = np.linalg.qr(rng.standard_normal((real.shape[1], real.shape[1])))
    protect = rotation.astype(np.float32)
    order = rng.permutation(len(planted))
    return Gallery(
        keys,
        groups,
        np.ascontiguousarray(vectors @ protect.T),
        np.ascontiguousarray((probe_vectors @ protect.T)[order]),
        [planted[i] for i in order],
    )


def rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@dataclass
class Row:
    name: str
    size: int
    build_s: float
    memory: str
    single: tuple[float, float]
    batch: tuple[float, float]
    recall: float
    accuracy: float

    def record(self, figures: dict[str, float]) -> None:
        """Its timed figures, named by index and size, into ``figures``."""
        label = f"{self.size:,} {self.name}"
        figures[f"{label}: build s"] = self.build_s
        figures[f"{label}: 1 probe p50 ms"] = self.single[0]
        figures[f"{label}: 1 probe p99 ms"] = self.single[1]
        figures[f"{label}: 64 probes p50 ms"] = self.batch[0]
        figures[f"{label}: 64 probes p99 ms"] = self.batch[1]

    def line(self) -> str:
        return (
            f"| {self.size:>9,} | {self.name:<13} | {self.build_s:8.1f} | {self.memory:>16} | "
            f"{self.single[0]:7.2f} | {self.single[1]:7.2f} | {self.batch[0]:8.1f} | "
            f"{self.batch[1]:8.1f} | {100 * self.recall:7.2f}% | {100 * self.accuracy:6.2f}% |"
        )


HEADER = (
    "| templates | index         | build s  | memory           | 1 p50ms | 1 p99ms | "
    "64 p50ms | 64 p99ms | recall@1 | top1=planted |\n"
    "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
)


def measure(
    name: str,
    gallery: Gallery,
    search: Callable[[F32, int], list[list[Hit]]],
    exact_top: list[str] | None,
    build_s: float,
    memory: str,
) -> tuple[Row, list[str]]:
    search(gallery.probes[:3], K)  # warm caches
    single, top = [], []
    for probe in gallery.probes:
        started = time.perf_counter()
        hits = search(probe[np.newaxis, :], K)[0]
        single.append(time.perf_counter() - started)
        top.append(hits[0].group if hits else "")
    batches = []
    for start in range(0, len(gallery.probes) - BATCH + 1, BATCH):
        started = time.perf_counter()
        search(gallery.probes[start : start + BATCH], K)
        batches.append(time.perf_counter() - started)
    reference = exact_top or top
    recall = float(np.mean([a == b for a, b in zip(top, reference, strict=True)]))
    accuracy = float(np.mean([a == b for a, b in zip(top, gallery.planted, strict=True)]))
    ms = np.array(single) * 1e3
    batch_ms = np.array(batches) * 1e3
    row = Row(
        name,
        len(gallery.keys),
        build_s,
        memory,
        (float(np.percentile(ms, 50)), float(np.percentile(ms, 99))),
        (float(np.percentile(batch_ms, 50)), float(np.percentile(batch_ms, 99))),
        recall,
        accuracy,
    )
    return row, top


def _exact(gallery: Gallery, threads: int) -> tuple[Row, list[str]]:
    before = rss_mb()
    started = time.perf_counter()
    exact = ExactIndex(gallery.vectors.shape[1])
    exact.add(gallery.keys, gallery.groups, gallery.vectors)
    build = time.perf_counter() - started
    memory = f"{rss_mb() - before:,.0f} MB"
    return measure("exact numpy", gallery, exact.search, None, build, memory)


def _hnsw(gallery: Gallery, threads: int, exact_top: list[str]) -> tuple[Row, list[str]]:
    before = rss_mb()
    started = time.perf_counter()
    ann = HnswIndex(gallery.vectors.shape[1], threads=threads)
    ann.add(gallery.keys, gallery.groups, gallery.vectors)
    build = time.perf_counter() - started
    memory = f"{rss_mb() - before:,.0f} MB"
    ann.threads = 1
    return measure("hnswlib+rerank", gallery, ann.search, exact_top, build, memory)


_SHARED: dict[str, object] = {}


def _in_child(job: str) -> tuple[Row, list[str]]:
    gallery, threads = _SHARED["gallery"], _SHARED["threads"]
    assert isinstance(gallery, Gallery) and isinstance(threads, int)
    if job == "exact":
        return _exact(gallery, threads)
    exact_top = _SHARED["exact_top"]
    assert isinstance(exact_top, list)
    return _hnsw(gallery, threads, exact_top)


def run_in_process(
    gallery: Gallery, threads: int, figures: dict[str, float], *, hnsw: bool = True
) -> list[str]:
    """Each index in a forked child, so its memory is measured on a heap of its own."""
    _SHARED.update(gallery=gallery, threads=threads)
    context = multiprocessing.get_context("fork")
    with context.Pool(1) as pool:
        row, exact_top = pool.apply(_in_child, ("exact",))
    print(row.line(), flush=True)
    row.record(figures)
    if hnsw:
        _SHARED["exact_top"] = exact_top
        with context.Pool(1) as pool:
            row, _ = pool.apply(_in_child, ("hnsw",))
        print(row.line(), flush=True)
        row.record(figures)
    return exact_top


def run_pgvector(
    gallery: Gallery, exact_top: list[str], server: EmbeddedPostgres, figures: dict[str, float]
) -> None:
    url = server.create_database(f"bench_{secrets.token_hex(4)}")
    index = PgVectorIndex(url, "wl_bench", gallery.vectors.shape[1], create_index=False)
    started = time.perf_counter()
    for start in range(0, len(gallery.keys), 100_000):
        end = start + 100_000
        index.add(gallery.keys[start:end], gallery.groups[start:end], gallery.vectors[start:end])
    loaded = time.perf_counter() - started
    index.build_index(memory_mb=4096)
    build = time.perf_counter() - started
    print(f"  (pgvector: COPY {loaded:.0f} s, HNSW build {build - loaded:.0f} s)", flush=True)
    figures[f"{len(gallery.keys):,} pgvector: COPY s"] = loaded
    figures[f"{len(gallery.keys):,} pgvector: HNSW build s"] = build - loaded
    import psycopg

    with psycopg.connect(url) as conn:
        sizes = conn.execute(
            "SELECT pg_total_relation_size('vector_index'), pg_relation_size('vector_index_hnsw')"
        ).fetchone()
        # Load the table and the graph into shared buffers, as a server that has
        # been answering for a while holds them; the first probes would otherwise
        # measure the page cache, not the index.
        conn.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
        conn.execute("SELECT pg_prewarm('vector_index'), pg_prewarm('vector_index_hnsw')")
    assert sizes is not None
    memory = f"{sizes[0] / 2**20:,.0f} MB disk ({sizes[1] / 2**20:,.0f} idx)"
    row, _ = measure("pgvector hnsw", gallery, index.search, exact_top, build, memory)
    print(row.line(), flush=True)
    row.record(figures)
    # The same graph searched wider: what recall costs in latency.
    index.ef_search, index.candidates = 800, 400
    row, _ = measure("pgvector ef800", gallery, index.search, exact_top, build, memory)
    print(row.line(), flush=True)
    row.record(figures)
    index.close()


def tuned_server(shared_buffers: str) -> EmbeddedPostgres:
    """A throwaway PostgreSQL whose buffer pool can hold a million-vector index.

    The default 128 MB pool holds a tenth of the 1M table and its graph, so
    every search would copy pages in from the OS cache; a server dedicated
    to a gallery this size is configured with room for it (PostgreSQL's own
    advice: about a quarter of the machine's memory).
    """
    server = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="fwbench-"))).start()
    import psycopg

    with psycopg.connect(server.url(), autocommit=True) as conn:
        conn.execute(f"ALTER SYSTEM SET shared_buffers = '{shared_buffers}'")
    server.stop()  # keeps the folder: this function made it, not the server object
    return server.start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--probes", type=int, default=500, help="synthetic planted probes")
    parser.add_argument("--pgvector-max", type=int, default=1_000_000)
    parser.add_argument(
        "--shared-buffers", default="4GB", help="the benchmark PostgreSQL's shared_buffers"
    )
    parser.add_argument(
        "--hnsw-max", type=int, default=1_000_000, help="largest size the HNSW index is built for"
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=Path(tempfile.gettempdir()) / "facewarden-lfw-fold1-embeddings.npz",
        help="where the real LFW embeddings are cached",
    )
    parser.add_argument("--json", type=Path, help="also write every timed figure, as numbers, here")
    args = parser.parse_args()
    figures: dict[str, float] = {}
    names, real = lfw_embeddings(args.cache)
    model = FaceModel.fit(names, real)
    same, different = similarity_profile(names, real)
    print(
        f"LFW fold: {len(names)} embeddings; cosine same person {same:.3f}, other {different:.3f}"
    )
    threads = os.cpu_count() or 1
    print(f"{threads} cores; batch = {BATCH} probes; top {K} subjects per probe\n")
    print(HEADER, flush=True)
    server = None
    try:
        for size in args.sizes:
            gallery = build_gallery(model, names, real, size, args.probes)
            exact_top = run_in_process(gallery, threads, figures, hnsw=size <= args.hnsw_max)
            if size <= args.pgvector_max:
                if server is None:
                    server = tuned_server(args.shared_buffers)
                run_pgvector(gallery, exact_top, server, figures)
            del gallery
            gc.collect()
    finally:
        if server is not None:
            server.stop()
            shutil.rmtree(server.root, ignore_errors=True)
    if args.json is not None:
        args.json.write_text(json.dumps({"load": os.getloadavg()[0], "figures": figures}))


if __name__ == "__main__":
    main()
