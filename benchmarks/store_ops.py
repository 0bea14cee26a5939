"""The Store's own cost: inserts and the reads an index rebuild makes, rows prepared beforehand.

``registry.py`` times whole operations, in which the store is one part among
decryption, protection, numpy and the audit; on a loaded machine its figures
move by more than the store could. This one times only calls of the
:class:`~facewarden.store.Store` protocol, on rows built before the clock
starts (random bytes where ciphertexts go, no cryptography), so that two
versions of the store can be compared on the store alone (``benchmarks/ab.py``):

* **insert**: ``insert_subject`` (with two sealed fields), ``insert_face`` and
  ``add_membership`` for each of ``--rows`` subjects, in one transaction;
* **iterate**: every template (``iter_templates``), every membership and every
  wrapped key, as ``Warden.warm_up`` reads them.

Each is repeated ``--rounds`` times on a growing database; the medians are
printed per 1,000 rows: wall clock, this process's CPU and, on PostgreSQL,
the server's CPU (a throwaway embedded server, ``fsync`` on).

Run::

    .venv/bin/python benchmarks/store_ops.py --store sqlite
    .venv/bin/python benchmarks/store_ops.py --store postgres --rows 2000 --rounds 5
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from facewarden.privacy import utc_now
from facewarden.service import Warden
from facewarden.store import FaceRow, Store, SubjectRow
from registry import Backend


def _rows(count: int) -> list[tuple[SubjectRow, FaceRow]]:
    now = utc_now()
    rows = []
    for _ in range(count):
        subject_id, face_id = f"sub_{secrets.token_hex(8)}", f"face_{secrets.token_hex(8)}"
        fields = {"full_name": os.urandom(80), "lawful_basis": os.urandom(40)}
        rows.append(
            (
                SubjectRow(subject_id, os.urandom(60), None, fields, now, now),
                FaceRow(face_id, subject_id, "dlib-resnet+mirror", os.urandom(600), now),
            )
        )
    return rows


def _timed(backend: Backend, call: Callable[[], int]) -> tuple[int, float, float, float]:
    """``call``'s count, wall seconds, this process's CPU seconds and the server's."""
    wall, cpu, server = time.perf_counter(), time.process_time(), backend.server_cpu()
    count = call()
    return (
        count,
        time.perf_counter() - wall,
        time.process_time() - cpu,
        backend.server_cpu() - server,
    )


def _iterate(store: Store) -> int:
    count = sum(1 for _ in store.iter_templates())
    count += sum(1 for _ in store.iter_memberships())
    return count + sum(1 for _ in store.iter_wrapped_keys())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--rows", type=int, default=2000, help="subjects per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write every figure, as numbers, here")
    args = parser.parse_args()
    samples: dict[str, list[float]] = {}

    def add(step: str, count: int, wall: float, cpu: float, server: float) -> None:
        per = 1000 / count
        for what, value in (("wall", wall), ("cpu", cpu), ("server cpu", server)):
            if what != "server cpu" or args.store == "postgres":
                samples.setdefault(f"{step}: {what} ms/1k rows", []).append(value * 1000 * per)

    with (
        tempfile.TemporaryDirectory(prefix="facewarden-store-") as tmp,
        Backend(args.store).running() as backend,
        Warden.open(backend.settings(Path(tmp)), create=True) as warden,
    ):
        watchlist = warden.watchlists.create("bench", purpose="benchmark", lawful_basis="bench")
        store = warden._ctx.store  # the benchmark calls the Store itself, below the services
        for _ in range(args.rounds):
            rows = _rows(args.rows)

            def insert(rows: list[tuple[SubjectRow, FaceRow]] = rows) -> int:
                with store.transaction() as tx:
                    for subject, face in rows:
                        tx.insert_subject(subject)
                        tx.insert_face(face)
                        tx.add_membership(
                            watchlist.watchlist_id, subject.subject_id, face.created_at
                        )
                return len(rows)

            add("insert", *_timed(backend, insert))
            add("iterate", *_timed(backend, lambda: _iterate(store)))
    figures = {name: statistics.median(values) for name, values in samples.items()}
    load = os.getloadavg()[0]
    print(
        f"\nfacewarden store operations on {args.store}, {args.rounds} rounds of "
        f"{args.rows:,} subjects, medians; {os.cpu_count()} CPUs, load {load:.1f}"
    )
    width = max(len(name) for name in figures)
    for name, value in figures.items():
        print(f"{name:<{width}}  {value:9.2f}")
    if args.json is not None:
        args.json.write_text(json.dumps({"store": args.store, "load": load, "figures": figures}))


if __name__ == "__main__":
    main()
