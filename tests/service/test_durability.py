"""Acceptance: kill -9 during bulk enrollment, 50 times; nothing acknowledged is lost.

Each round starts ``facewarden subjects import`` on a folder of real LFW
people, kills its whole process group with SIGKILL at a random point of its
progress (a moment after its first few acknowledgements, or during start-up),
and then checks the database the way a restarted server would: SQLite's
integrity check and the audit chain pass, every subject whose
``enrolled <id> <source>`` line reached stdout (the acknowledgement, printed
after the commit) is present and complete, and no subject exists without its
record and faces. The next round resumes where the killed one stopped.
"""

from __future__ import annotations

import contextlib
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from pathlib import Path

import pytest

from facewarden.config import Settings
from facewarden.service.warden import Warden

KILLS = 50
# More people than the rounds import (about two each, with the ones finished in the
# moment before the kill), so that every round is killed with work left to do. Not
# many more acknowledged than that: each round reads every subject back (an
# audited read), and verifies the whole audit chain.
PEOPLE = 300
# Generous: a round waits this long for its acknowledgements on a loaded machine; it
# ends sooner when the import ends by itself (its stdout closes).
ROUND_TIMEOUT_S = 120.0


def _people_folder(lfw_dir: Path, target: Path) -> Path:
    """A folder of symlinks, one subfolder per LFW person (the images stay in ../shared)."""
    people = sorted(p for p in (lfw_dir / "lfw").iterdir() if p.is_dir())[:PEOPLE]
    for person in people:
        (target / person.name).mkdir(parents=True)
        for photo in sorted(person.glob("*.jpg"))[:1]:
            (target / person.name / photo.name).symlink_to(photo)
    return target


def _env(data: Path, keys: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        FACEWARDEN_DATA_DIR=str(data), FACEWARDEN_KEY_DIR=str(keys), FACEWARDEN_ENROLL_MODE="fast"
    )
    return env


@pytest.mark.slow
def test_sigkill_during_bulk_enrollment_loses_nothing_acknowledged(
    lfw_dir: Path, tmp_path: Path
) -> None:
    people = _people_folder(lfw_dir, tmp_path / "people")
    data, keys = tmp_path / "data", tmp_path / "keys"
    env = _env(data, keys)
    command = [sys.executable, "-m", "facewarden.cli"]
    subprocess.run([*command, "init"], env=env, check=True, capture_output=True, timeout=60)
    rng = random.Random(20261126)
    acknowledged: dict[str, str] = {}
    for round_number in range(KILLS):
        seen = _import_until_killed([*command, "subjects", "import", str(people)], env, rng)
        for line in seen:
            parts = line.split(" ", 2)
            if len(parts) == 3 and parts[0] == "enrolled":
                acknowledged[parts[1]] = parts[2]
        _check_consistent(Settings.load(data_dir=data, key_dir=keys), acknowledged, round_number)
    assert len(acknowledged) >= 20, "the kills came too early to test anything"
    print(f"{KILLS} kills, {len(acknowledged)} acknowledged enrollments, all intact")


def _import_until_killed(command: list[str], env: dict[str, str], rng: random.Random) -> list[str]:
    """Run one import, SIGKILL its process group at a random point of its progress: its stdout.

    The kill is timed by progress, not by the clock from start, so that load on
    the machine moves it with the work: most rounds wait for one or two
    acknowledgements, then kill up to 0.2 s later (mid-work on the next people);
    one in ten kills during start-up itself.
    """
    arguments = ["--lawful-basis", "test: consent", "--workers", "1"]
    with subprocess.Popen(
        [*command, *arguments],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    ) as process:
        lines = _lines_of(process.stdout)
        acknowledgements = rng.choice([0, 1, 1, 1, 1, 1, 1, 2, 2, 2])
        seen = _wait_for_acknowledgements(lines, acknowledgements, ROUND_TIMEOUT_S)
        time.sleep(rng.uniform(0.0, 2.0 if acknowledgements == 0 else 0.2))
        with contextlib.suppress(ProcessLookupError):  # it may have finished on its own
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
        # What it printed before it died is acknowledged too.
        seen.extend(_wait_for_acknowledgements(lines, None, 30))
        return seen


def _lines_of(stream: Iterable[str] | None) -> queue.Queue[str | None]:
    """The lines of a child's stdout as they come, then ``None`` once it closes."""
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in stream or ():
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    return lines


def _wait_for_acknowledgements(
    lines: queue.Queue[str | None], count: int | None, timeout_s: float
) -> list[str]:
    """The lines read until ``count`` acknowledgements came (``None``: until stdout closes).

    Also returns when stdout closes (the import finished: nothing left to do) or
    when ``timeout_s`` has passed, so that a round never waits for work that will
    not come.
    """
    seen: list[str] = []
    acknowledgements = 0
    deadline = time.monotonic() + timeout_s
    while count is None or acknowledgements < count:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            break
        if line is None:
            lines.put(None)  # stays closed for the next wait
            break
        seen.append(line)
        acknowledgements += line.startswith("enrolled ")
    return seen


def _check_consistent(settings: Settings, acknowledged: dict[str, str], round_number: int) -> None:
    with Warden.open(settings, actor="test:durability") as warden:
        problems = warden.integrity_check()
        assert problems == [], f"round {round_number}: {problems}"
        present = {s.subject_id for s in _all_subjects(warden)}
        missing = set(acknowledged) - present
        assert not missing, f"round {round_number}: acknowledged but lost: {missing}"
        for subject_id in present:
            subject = warden.registry.get(subject_id, purpose="durability test")
            # Complete: the decrypted record and at least one face are there.
            assert subject.record.full_name, f"round {round_number}: {subject_id} has no name"
            assert subject.faces, f"round {round_number}: {subject_id} has no face"
            if subject_id in acknowledged:
                source = Path(acknowledged[subject_id]).name.replace("_", " ")
                assert subject.record.full_name == source


def _all_subjects(warden: Warden) -> list:
    subjects, after = [], None
    while True:
        page = warden.registry.subjects(after=after, limit=100)
        if not page:
            return subjects
        subjects.extend(page)
        after = page[-1].subject_id
