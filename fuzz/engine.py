"""Run one harness under atheris (coverage-guided), or under hypothesis where atheris is absent.

A harness is a module with ``test_one_input(data: bytes) -> None`` that feeds
the bytes to one parser of outside input and lets through only the typed
errors that parser promises (a ``FacewardenError`` subclass, or the
framework's own 4xx error for malformed HTTP bodies). Anything else escaping
it, a hang past the time limit, or memory past the RSS limit is a crash.

Run one: ``python -m fuzz.fuzz_image [libFuzzer flags] [corpus dirs]``; the
runner (``python -m fuzz.run``) builds the seed corpora and runs them all.

atheris ships manylinux wheels for CPython 3.11 on x86-64 (installed with the
``test`` extra there). Elsewhere ``FUZZ_ENGINE=hypothesis`` (or a missing
atheris) runs the same harness on hypothesis-generated and seed-mutated bytes
for ``-max_total_time`` seconds: not coverage-guided, so weaker, but the same
harnesses and the same notion of a crash.

This module imports nothing of facewarden, so harnesses can import the code
under test inside :func:`instrumented` and have it instrumented for coverage.
"""

from __future__ import annotations

import contextlib
import os
import random
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

Target = Callable[[bytes], None]

# Packages whose Python code atheris instruments for coverage feedback: ours and
# the pure-Python parsers our parsers sit on.
INSTRUMENTED = ("facewarden", "PIL", "starlette", "multipart", "python_multipart", "csv")


def engine_name() -> str:
    """``atheris`` when it can be used here, else ``hypothesis``."""
    if os.environ.get("FUZZ_ENGINE") == "hypothesis":
        return "hypothesis"
    try:
        import atheris  # noqa: F401
    except ImportError:
        return "hypothesis"
    return "atheris"


@contextlib.contextmanager
def instrumented(*modules: str) -> Iterator[None]:
    """Import the code under test inside this block so atheris can see its coverage.

    Args:
        modules: the packages or modules to instrument (default: ours and the
            parsers beneath them). Naming only the parser under test keeps the
            start quick: importing facewarden's service layer instruments hundreds
            of modules otherwise.
    """
    if engine_name() == "atheris":
        import atheris

        with atheris.instrument_imports(include=list(modules or INSTRUMENTED)):
            yield
    else:
        yield


def fuzz_main(target: Target, argv: list[str] | None = None) -> None:
    """Fuzz ``target`` with the arguments libFuzzer takes; never returns normally."""
    argv = list(sys.argv if argv is None else argv)
    if engine_name() == "atheris":
        import atheris

        atheris.Setup(argv, target)
        atheris.Fuzz()
        return
    sys.exit(_hypothesis_fuzz(target, argv))


def _flag(argv: list[str], name: str, default: int) -> int:
    for arg in argv:
        if arg.startswith(f"-{name}="):
            return int(arg.split("=", 1)[1])
    return default


def _corpus(argv: list[str]) -> list[bytes]:
    seeds = []
    for arg in argv[1:]:
        if arg.startswith("-"):
            continue
        path = Path(arg)
        files = sorted(path.iterdir()) if path.is_dir() else [path]
        seeds += [f.read_bytes() for f in files if f.is_file()]
    return seeds


def _mutate(data: bytes, rng: random.Random, max_len: int) -> bytes:
    """A libFuzzer-like mutation: flip, insert, erase, splice in magic values, truncate."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        choice = rng.randrange(6)
        at = rng.randrange(len(buf) + 1)
        if choice == 0 and buf:
            buf[min(at, len(buf) - 1)] ^= 1 << rng.randrange(8)
        elif choice == 1:
            buf[at:at] = rng.randbytes(rng.randint(1, 16))
        elif choice == 2 and buf:
            del buf[at : at + rng.randint(1, 64)]
        elif choice == 3:
            magic = rng.choice([b"\xff", b"\x00", b"\x7f\xff\xff\xff", b"\xff\xff\xff\xff", b"-1"])
            buf[at : at + len(magic)] = magic
        elif choice == 4:
            del buf[at:]
        elif buf:
            start = rng.randrange(len(buf))
            buf[at:at] = buf[start : start + rng.randint(1, 256)]
    return bytes(buf[:max_len])


def _hypothesis_fuzz(target: Target, argv: list[str]) -> int:
    """The fallback: replay the corpus, then generated and mutated inputs until time is up."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    seconds = _flag(argv, "max_total_time", 30)
    max_len = _flag(argv, "max_len", 1 << 20)
    seed = _flag(argv, "seed", 0) or int(time.time())
    seeds = _corpus(argv) or [b""]
    rng = random.Random(seed)
    runs = 0
    for data in seeds:
        target(data)
        runs += 1
    deadline = time.monotonic() + seconds

    @settings(
        max_examples=200,
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=list(HealthCheck),
    )
    @given(st.binary(max_size=4096) | st.integers(0, len(seeds) - 1))
    def one(choice: bytes | int) -> None:
        data = choice if isinstance(choice, bytes) else _mutate(seeds[choice], rng, max_len)
        target(data)

    while time.monotonic() < deadline:
        one()
        runs += 200
    print(f"#{runs} DONE (hypothesis engine, seed {seed}) Done {runs} runs in {seconds} second(s)")
    return 0
