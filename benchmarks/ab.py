"""One benchmark, two source trees, runs interleaved: each figure's medians and their ratio.

For a change whose cost is the question (issue 12: the store's two dialects
in one implementation, "within 5% of today"), the same script from this
checkout runs against the old tree's ``src`` and the new one's (each first
on ``PYTHONPATH``, ahead of the editable install), so the only difference
between the runs is the code under test. Runs alternate (old, new, new, old,
old, new, ...: each pair in the order opposite to the previous one, so a
load that drifts across the session weighs on both sides alike) and every
figure the script writes with ``--json`` is compared by its median over the
pairs.

Lower is better for every figure compared (seconds, milliseconds, MiB); the
table's ratio is new / old, and a figure more than ``--tolerance`` slower is
flagged.

Run::

    git worktree add --detach /work/wt-old 13a91b4
    .venv/bin/python benchmarks/ab.py --old /work/wt-old/src --new src --pairs 3 \\
        benchmarks/registry.py --sizes 10000 --store postgres
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def run_once(src: Path, script: list[str], log: Path) -> dict[str, float]:
    """Run ``script`` with ``src`` first on the import path; its ``--json`` figures."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as out:
        result_path = Path(out.name)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(src.resolve()), *_path()]))
    try:
        with log.open("a") as handle:
            handle.write(f"\n=== {src} {' '.join(script)} ({time.strftime('%H:%M:%S')})\n")
            handle.flush()
            subprocess.run(
                [sys.executable, *script, "--json", str(result_path)],
                env=env,
                stdout=handle,
                stderr=subprocess.STDOUT,
                check=True,
            )
        figures: dict[str, float] = json.loads(result_path.read_text())["figures"]
        return figures
    finally:
        result_path.unlink(missing_ok=True)


def _path() -> list[str]:
    current = os.environ.get("PYTHONPATH", "")
    return [part for part in current.split(os.pathsep) if part]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--old", type=Path, required=True, help="the old tree's src folder")
    parser.add_argument("--new", type=Path, required=True, help="the new tree's src folder")
    parser.add_argument("--pairs", type=int, default=3)
    parser.add_argument("--tolerance", type=float, default=0.05, help="slower than this is flagged")
    parser.add_argument(
        "--log", type=Path, default=Path("ab.log"), help="each run's own output goes here"
    )
    parser.add_argument("script", nargs=argparse.REMAINDER, help="the benchmark and its options")
    args = parser.parse_args()
    if not args.script:
        parser.error("name the benchmark script to run")
    for tree in (args.old, args.new):
        if not (tree / "facewarden" / "__init__.py").is_file():
            parser.error(f"{tree} holds no facewarden package")
    runs: dict[str, list[dict[str, float]]] = {"old": [], "new": []}
    loads = []
    for pair in range(args.pairs):
        order = ("old", "new") if pair % 2 == 0 else ("new", "old")
        for side in order:
            started = time.perf_counter()
            try:
                figures = run_once(getattr(args, side), args.script, args.log)
            except subprocess.CalledProcessError as exc:
                # Once more: on a shared machine a run can die of others' load (a
                # worker killed for memory); a second failure is the code's.
                print(f"pair {pair + 1}: {side} failed ({exc}); once more", flush=True)
                figures = run_once(getattr(args, side), args.script, args.log)
            runs[side].append(figures)
            loads.append(os.getloadavg()[0])
            print(
                f"pair {pair + 1}/{args.pairs}: {side} done in "
                f"{time.perf_counter() - started:.0f} s, load {loads[-1]:.1f}",
                flush=True,
            )
    every = runs["old"] + runs["new"]
    names = [name for name in runs["old"][0] if all(name in run for run in every)]
    width = max(len(name) for name in names)
    print(
        f"\n{' '.join(args.script)}: {args.pairs} pairs interleaved, medians; "
        f"load {min(loads):.1f} to {max(loads):.1f} on {os.cpu_count()} CPUs"
    )
    print(f"| {'figure':<{width}} | {'old':>10} | {'new':>10} | new/old | |")
    print(f"|{'-' * (width + 2)}|{'-' * 11}:|{'-' * 11}:|--------:|---|")
    for name in names:
        old = statistics.median(run[name] for run in runs["old"])
        new = statistics.median(run[name] for run in runs["new"])
        ratio = new / old if old else float("nan")
        flag = "slower" if ratio > 1 + args.tolerance else ""
        print(f"| {name:<{width}} | {old:>10.3f} | {new:>10.3f} | {ratio:7.3f} | {flag} |")


if __name__ == "__main__":
    main()
