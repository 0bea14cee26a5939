"""The registry's throughput and latency: enrollment, index rebuild, identification.

What it measures, on real SQLite files in a temporary folder:

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

Run::

    .venv/bin/python benchmarks/registry.py                    # 10k and 100k
    .venv/bin/python benchmarks/registry.py --sizes 1000       # quick check
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from facewarden.config import Settings
from facewarden.privacy import ManualClock, utc_now
from facewarden.service import SubjectRecord, Warden
from facewarden.service.bulk import ImportItem
from facewarden.service.gallery import VERSION_KEY, seal_template
from facewarden.service.records import new_id, seal_record
from facewarden.store import FaceRow, SubjectRow

FACES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "faces"
JOHNS = FACES / "dlib" / "examples" / "johns"
KNN = FACES / "face_recognition" / "examples" / "knn_examples"
PROBE = KNN / "test" / "obama1.jpg"
BATCH = 5000


def _settings(root: Path, workers: int | None = None) -> Settings:
    return Settings(data_dir=root / "data", key_dir=root / "keys", workers=workers)


def _people() -> list[tuple[str, list[Path]]]:
    people = [(p.name, sorted(p.glob("*.jpg"))) for p in sorted(JOHNS.iterdir()) if p.is_dir()]
    people += [(p.name, sorted(p.iterdir())) for p in sorted((KNN / "train").iterdir())]
    return people


def bench_enrollment(root: Path, workers: int) -> list[tuple[str, str]]:
    """Faces/s of one-by-one enrollment and of the bulk path."""
    rows = []
    people = _people()
    faces = sum(len(photos) for _, photos in people)
    with Warden.open(_settings(root / "one-by-one"), create=True) as warden:
        warden.recognition.verify_images(PROBE, PROBE)  # load the models before timing
        start = time.perf_counter()
        for name, photos in people:
            record = SubjectRecord(full_name=name, lawful_basis="benchmark")
            warden.registry.enroll(record, photos, force=True)
        elapsed = time.perf_counter() - start
    rows.append(
        (
            f"enroll, one call per person, in process ({faces} faces)",
            f"{faces / elapsed:.1f} faces/s ({elapsed:.1f} s)",
        )
    )
    with Warden.open(_settings(root / "bulk", workers), create=True) as warden:
        items = [
            ImportItem(
                name,
                f"bench:{name}",
                SubjectRecord(full_name=name, lawful_basis="benchmark"),
                tuple(photos),
            )
            for name, photos in people
        ]
        start = time.perf_counter()
        summary = warden.bulk.run(items, force=True, workers=workers)
        elapsed = time.perf_counter() - start
    rows.append(
        (
            f"bulk import, {workers} worker process(es) ({summary.faces} faces)",
            f"{summary.faces / elapsed:.1f} faces/s ({elapsed:.1f} s, pool start incl.)",
        )
    )
    return rows


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


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms"


def _time(call: Callable[[], object], repeat: int) -> list[float]:
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return samples


def bench_gallery(root: Path, size: int, searches: int, end_to_end: int) -> list[tuple[str, str]]:
    """Insert, reopen and identify against a watchlist of ``size`` templates (+ Obama)."""
    settings = _settings(root / f"gallery-{size}")
    clock = ManualClock(utc_now())
    with Warden.open(settings, clock=clock, create=True) as warden:
        wl = warden.watchlists.create("bench", purpose="benchmark", lawful_basis="benchmark")
        obama = warden.registry.enroll(
            SubjectRecord(full_name="Barack Obama", lawful_basis="benchmark"),
            sorted((KNN / "train" / "obama").iterdir()),
            watchlists=["bench"],
        )
        start = time.perf_counter()
        _fill(warden, size, wl.watchlist_id)
        inserted = time.perf_counter() - start
    start = time.perf_counter()
    warden = Warden.open(settings, clock=clock)
    opened = time.perf_counter() - start
    try:
        start = time.perf_counter()
        warden.warm_up()
        loaded = time.perf_counter() - start
        recognition = warden.recognition
        pipeline = warden.pipeline
        faces = pipeline.run(pipeline.decode(PROBE))
        check = recognition.identify_faces(faces, "bench")
        if check.matched_subjects != (obama.subject_id,):
            raise SystemExit(f"the probe did not match its subject: {check.to_dict()}")
        recognition.identify_faces(faces, "bench")  # warm caches
        gallery, protector = warden._ctx.gallery, warden._ctx.protector
        probes = protector.protect(np.array([f.require_embedding() for f in faces]))
        exact = _time(lambda: gallery.search(wl.watchlist_id, probes, 5), searches)
        search = _time(lambda: recognition.identify_faces(faces, "bench"), searches)
        full = _time(lambda: recognition.identify(PROBE, "bench"), end_to_end)
    finally:
        warden.close()
    n = size + 2
    return [
        (
            f"{size:,} templates: insert through the store",
            f"{inserted:.1f} s ({size / inserted:,.0f} subjects/s)",
        ),
        (f"{size:,} templates: open (keys, quick_check)", f"{opened:.2f} s"),
        (f"{size:,} templates: warm up (decrypt all, build index)", f"{loaded:.2f} s"),
        (f"{size:,} templates: exact index search alone ({searches}x)", _percentiles(exact)),
        (f"{size:,} templates: identify, search + audit ({searches}x)", _percentiles(search)),
        (f"{size:,} templates: identify end to end ({end_to_end}x)", _percentiles(full)),
        (
            f"{size:,} templates: database size",
            f"{_db_size(settings) / 2**20:.1f} MiB ({n:,} faces)",
        ),
    ]


def _db_size(settings: Settings) -> int:
    db = settings.data_dir / "facewarden.db"
    return sum(p.stat().st_size for p in (db, db.with_name(db.name + "-wal")) if p.exists())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--searches", type=int, default=200)
    parser.add_argument("--end-to-end", type=int, default=30)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--skip-enrollment", action="store_true")
    args = parser.parse_args()
    if not FACES.is_dir():
        raise SystemExit(f"the shared photos are not at {FACES}")
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="facewarden-bench-") as tmp:
        root = Path(tmp)
        if not args.skip_enrollment:
            rows += bench_enrollment(root, args.workers)
        for size in args.sizes:
            rows += bench_gallery(root, size, args.searches, args.end_to_end)
    width = max(len(name) for name, _ in rows)
    print(f"\nfacewarden registry benchmark, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print(f"{'measure':<{width}}  result")
    for name, value in rows:
        print(f"{name:<{width}}  {value}")


if __name__ == "__main__":
    main()
