"""What the signed audit head costs an audited request, against the same log without it.

Each audited action commits one durable transaction (SQLite, ``synchronous=FULL``)
and then moves the signed head in the key directory (one 256-byte slot,
``pwrite`` + ``fdatasync``; see :mod:`facewarden.privacy.anchor`). The peer is
the same deployment with the anchor switched off, so the ratio is the price of
detecting a wiped or rolled-back log. Measured two ways:

* **one writer**: ``audit.record`` in a loop (a CLI, a quiet server): every
  commit pays one anchor write;
* **4 writers**: 4 threads appending at once (a busy server): commits that
  land while an anchor write is in flight share the next one (group commit).

Also: one ``audit verify`` of the resulting log (a snapshot read plus the anchor).

Run::

    .venv/bin/python benchmarks/audit_anchor.py            # 300 appends per case
    .venv/bin/python benchmarks/audit_anchor.py --appends 1000
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import threading
import time
from pathlib import Path

from facewarden.config import Settings
from facewarden.service import Warden


def _open(root: Path, *, anchored: bool) -> Warden:
    settings = Settings(data_dir=root / "data", key_dir=root / "keys", workers=1)
    warden = Warden.open(settings, create=True, actor="bench:anchor")
    if not anchored:
        warden._ctx.anchor = None  # the peer: the same log, no signed head
    return warden


def _one_writer(warden: Warden, n: int) -> list[float]:
    times = []
    for _ in range(n):
        started = time.perf_counter()
        warden.audit.record("bench.append")
        times.append(time.perf_counter() - started)
    return times


def _four_writers(warden: Warden, n: int) -> float:
    def run() -> None:
        for _ in range(n // 4):
            warden.audit.record("bench.append")

    threads = [threading.Thread(target=run) for _ in range(4)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return (n // 4) * 4 / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--appends", type=int, default=300)
    args = parser.parse_args()
    results: dict[bool, tuple[float, float, float, float]] = {}
    for anchored in (False, True):
        with tempfile.TemporaryDirectory() as tmp:
            warden = _open(Path(tmp), anchored=anchored)
            try:
                times = _one_writer(warden, args.appends)
                p50 = statistics.median(times) * 1000
                p99 = statistics.quantiles(times, n=100)[98] * 1000
                rate = _four_writers(warden, args.appends)
                started = time.perf_counter()
                result = warden.audit.verify()
                verify_ms = (time.perf_counter() - started) * 1000
                if not result.ok:
                    raise SystemExit(f"verification failed: {result.report.problem}")
            finally:
                warden.close()
        results[anchored] = (p50, p99, rate, verify_ms)
        label = "with signed head" if anchored else "without (peer)"
        print(
            f"{label:>17}: one writer p50 {p50:.2f} ms, p99 {p99:.2f} ms; "
            f"4 writers {rate:.0f} appends/s; verify {verify_ms:.1f} ms"
        )
    peer, ours = results[False], results[True]
    print(
        f"ratio (with / without): one-writer p50 x{ours[0] / peer[0]:.2f}, "
        f"4-writer throughput x{ours[2] / peer[2]:.2f}"
    )


if __name__ == "__main__":
    main()
