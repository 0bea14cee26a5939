"""Stateful property tests of the service layer on SQLite and on PostgreSQL (promise 22).

The machine (``_machine.py``) runs random sequences of enroll, add face,
identify, verify, erase, export, master-key and template-key rotation, purge
with an injected clock, and close/reopen, checking its invariants after every
step. CI runs a fixed seed (``derandomize``) and few examples; the long run::

    STATEFUL_EXAMPLES=200 STATEFUL_STEPS=40 .venv/bin/pytest tests/stateful -p no:cacheprovider

draws fresh sequences (not derandomized) and takes about a second a step here.
"""

from __future__ import annotations

import inspect
import itertools
import os
import secrets
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, seed, settings
from hypothesis.stateful import run_state_machine_as_test

from facewarden.config import Settings
from facewarden.store._pg_embedded import EmbeddedPostgres
from facewarden.vision.pipeline import MODES

from ._machine import RETENTION_DAYS, WORLD, Person, ServiceMachine, leaked

EXAMPLES = int(os.environ.get("STATEFUL_EXAMPLES", "4"))
STEPS = int(os.environ.get("STATEFUL_STEPS", "12"))
LONG_RUN = "STATEFUL_EXAMPLES" in os.environ
# A seed whose four sequences run every kind of operation (checked below).
SEED = int(os.environ.get("STATEFUL_SEED", "3"))
EXERCISED = {
    "enroll",
    "add-face",
    "verify",
    "verify-erased",
    "erase",
    "rotate",
    "destroy",
    "purge",
    "close",
}
_RUN_PARAMETERS = inspect.signature(run_state_machine_as_test).parameters


@pytest.fixture(scope="module")
def people(faces_dir: Path) -> tuple[Person, ...]:
    """dlib's five johns, each with three photos; faces found once by the real pipeline.

    The fast pipeline, as the deployments' ``enroll_mode``: the accurate one
    averages ten jittered chips per face, ten times the cost for the same checks.
    """
    pipeline = MODES["fast"]
    found = []
    for folder in sorted((faces_dir / "dlib" / "examples" / "johns").iterdir()):
        photos = tuple(sorted(folder.glob("*.jpg"))[:3])
        faces = tuple(pipeline.run(pipeline.decode(p)) for p in photos[:2])
        found.append(Person(folder.name, photos, faces))
    return tuple(found)


def _settings(**overrides: object) -> settings:
    return settings(
        max_examples=EXAMPLES,
        stateful_step_count=STEPS,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        **overrides,  # type: ignore[arg-type]
    )


def _run_machine(machine: type[ServiceMachine]) -> None:
    if not LONG_RUN:
        machine = seed(SEED)(machine)
    # Without a floor hypothesis ends most sequences after a few steps; the
    # floor makes every example a real sequence (a private knob, hence the check).
    floor = {"_min_steps": STEPS} if "_min_steps" in _RUN_PARAMETERS else {}
    run_state_machine_as_test(machine, settings=_settings(), **floor)


def _run(people: tuple[Person, ...]) -> Iterator[None]:
    WORLD.people = people
    WORLD.log.clear()
    try:
        yield
        kinds = Counter(step.split(" ", 1)[0] for step in WORLD.log)
        print(f"{len(WORLD.log)} state-changing steps: {dict(sorted(kinds.items()))}")
        if not LONG_RUN:
            assert set(kinds) >= EXERCISED, (
                f"the fixed seed no longer runs {EXERCISED - set(kinds)}"
            )
    except BaseException:
        print("steps of the failing example:\n  " + "\n  ".join(WORLD.log[-60:]))
        raise


def test_state_machine_on_sqlite(people: tuple[Person, ...], tmp_path: Path) -> None:
    counter = itertools.count()
    WORLD.scratch = lambda: tmp_path / f"deployment-{next(counter)}"

    def settings_for(root: Path) -> Settings:
        return Settings(
            data_dir=root / "data",
            key_dir=root / "keys",
            workers=1,
            enroll_mode="fast",
            subject_retention_days=RETENTION_DAYS,
        )

    WORLD.settings_for = settings_for
    WORLD.scanned_files = lambda s: [p for p in s.data_dir.rglob("*") if p.is_file()]
    for _ in _run(people):
        _run_machine(ServiceMachine)


def test_state_machine_on_postgres(
    people: tuple[Person, ...], pg_server: EmbeddedPostgres, tmp_path: Path
) -> None:
    counter = itertools.count()
    WORLD.scratch = lambda: tmp_path / f"deployment-{next(counter)}"
    markers: list[str] = []

    def settings_for(root: Path) -> Settings:
        url = pg_server.create_database(f"state_{secrets.token_hex(6)}")
        return Settings(
            data_dir=root / "data",
            key_dir=root / "keys",
            workers=1,
            database_url=url,
            enroll_mode="fast",
            subject_retention_days=RETENTION_DAYS,
        )

    class RecordingMachine(ServiceMachine):
        def teardown(self) -> None:
            markers.extend(self.all_markers)
            super().teardown()

    WORLD.settings_for = settings_for
    # The cluster's files are large (WAL segments): scanned once, after all examples.
    WORLD.scanned_files = lambda s: ()
    for _ in _run(people):
        _run_machine(RecordingMachine)
    files = [p for p in pg_server.data.rglob("*") if p.is_file()]
    assert markers and not leaked(markers, files)
