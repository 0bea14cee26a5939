"""Run every fuzzing harness for a bounded time and report runs, coverage and crashes.

    python -m fuzz.run --seconds 15            # make fuzz-smoke (CI)
    python -m fuzz.run --seconds 600 image     # make fuzz HARNESS=image SECONDS=600

Each harness runs in its own process (atheris/libFuzzer, or the hypothesis
fallback), on a working corpus under ``fuzz/.corpus/<harness>/`` that grows
between runs, seeded from :mod:`fuzz.seeds`. A crash leaves its input in
``fuzz/.crashes/``; copy it to ``fuzz/regressions/<harness>/`` once the bug is
fixed, where ``tests/fuzz/test_regressions.py`` replays it forever. Exit 1 when
any harness crashed, hung or ran past its memory limit.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from fuzz.engine import engine_name
from fuzz.seeds import SEEDS, write_seeds

FUZZ_DIR = Path(__file__).resolve().parent
REPO_ROOT = FUZZ_DIR.parent
# The largest input each harness takes: room for the seeds, small enough to stay fast.
MAX_LEN = {"image": 262_144, "dlib_model": 1_048_576}
DEFAULT_MAX_LEN = 65_536


def _harnesses() -> list[str]:
    return sorted(p.stem.removeprefix("fuzz_") for p in FUZZ_DIR.glob("fuzz_*.py"))


def run_one(name: str, seconds: int, crashes: Path) -> dict[str, object]:
    """Fuzz one harness for ``seconds``; its runs, coverage and verdict."""
    corpus = FUZZ_DIR / ".corpus" / name
    work, seeds = corpus / "work", corpus / "seeds"
    work.mkdir(parents=True, exist_ok=True)
    n_seeds = write_seeds(name, seeds) if name in SEEDS else 0
    crashes.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        f"fuzz.fuzz_{name}",
        f"-max_total_time={seconds}",
        f"-max_len={MAX_LEN.get(name, DEFAULT_MAX_LEN)}",
        "-timeout=10",
        "-rss_limit_mb=2560",
        f"-artifact_prefix={crashes}/{name}-",
        "-print_final_stats=1",
        str(work),
        str(seeds),
    ]
    started = time.monotonic()
    proc = subprocess.run(
        command,
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,  # keeps a traceback next to libFuzzer's verdict
        text=True,
        errors="replace",
        check=False,
        # libFuzzer stops itself after max_total_time; this only catches a wedged process.
        timeout=seconds + 180,
    )
    elapsed = time.monotonic() - started
    output = "\n".join(
        line for line in proc.stdout.splitlines() if not line.startswith("INFO: Instrumenting")
    )
    runs = re.findall(r"Done (\d+) runs", output) or re.findall(
        r"stat::number_of_executed_units: (\d+)", output
    )
    cov = re.findall(r"cov: (\d+)", output)
    return {
        "name": name,
        "ok": proc.returncode == 0,
        "seeds": n_seeds,
        "runs": int(runs[-1]) if runs else 0,
        "coverage": int(cov[-1]) if cov else None,
        "corpus": sum(1 for _ in work.iterdir()),
        "seconds": round(elapsed, 1),
        "tail": "" if proc.returncode == 0 else output[-3000:],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("harnesses", nargs="*", help=f"default: all of {', '.join(_harnesses())}")
    parser.add_argument("--seconds", type=int, default=15, help="fuzzing time per harness")
    parser.add_argument("--crashes", type=Path, default=FUZZ_DIR / ".crashes")
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="harnesses at once (default: one per core)",
    )
    args = parser.parse_args(argv)
    names = args.harnesses or _harnesses()
    unknown = set(names) - set(_harnesses())
    if unknown:
        parser.error(
            f"unknown harness(es) {', '.join(sorted(unknown))}; choose from {_harnesses()}"
        )
    os.environ.setdefault("PYTHONHASHSEED", "0")
    print(
        f"fuzzing {len(names)} harness(es) for {args.seconds} s each, {args.jobs} at once, "
        f"with {engine_name()}"
    )
    print(
        f"{'harness':<12} {'verdict':<8} {'runs':>9} {'cov':>6} {'corpus':>7} {'seeds':>6} {'s':>6}"
    )
    failed = []
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        results = pool.map(lambda name: run_one(name, args.seconds, args.crashes), names)
    for name, result in zip(names, results, strict=True):
        verdict = "ok" if result["ok"] else "CRASH"
        cov = "-" if result["coverage"] is None else result["coverage"]
        print(
            f"{name:<12} {verdict:<8} {result['runs']:>9} {cov:>6} {result['corpus']:>7} "
            f"{result['seeds']:>6} {result['seconds']:>6}",
            flush=True,
        )
        if not result["ok"]:
            failed.append(result)
    for result in failed:
        print(f"\n--- {result['name']}: the end of its output ---\n{result['tail']}")
    if failed:
        print(f"\nFAILED: {len(failed)} harness(es) crashed; inputs are in {args.crashes}")
        return 1
    print(f"fuzz: {len(names)} passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
