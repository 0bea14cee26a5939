"""Acceptance: kill -9 during bulk enrollment, 50 times; nothing acknowledged is lost.

Each round starts ``facewarden subjects import`` on a folder of real LFW
people, kills its whole process group with SIGKILL at a random moment, and
then checks the database the way a restarted server would: SQLite's
integrity check and the audit chain pass, every subject whose
``enrolled <id> <source>`` line reached stdout (the acknowledgement, printed
after the commit) is present and complete, and no subject exists without its
record and faces. The next round resumes where the killed one stopped.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from facewarden.config import Settings
from facewarden.service.warden import Warden

KILLS = 50
PEOPLE = 120


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
        process = subprocess.Popen(
            [
                *command,
                "subjects",
                "import",
                str(people),
                "--lawful-basis",
                "test: consent",
                "--workers",
                "1",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        # Kill after start-up most of the time (models loaded, writes flowing),
        # sometimes during start-up itself.
        time.sleep(rng.uniform(0.2, 4.0))
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate(timeout=30)
        for line in output.splitlines():
            parts = line.split(" ", 2)
            if len(parts) == 3 and parts[0] == "enrolled":
                acknowledged[parts[1]] = parts[2]
        _check_consistent(Settings.load(data_dir=data, key_dir=keys), acknowledged, round_number)
    assert len(acknowledged) >= 20, "the kills came too early to test anything"
    print(f"{KILLS} kills, {len(acknowledged)} acknowledged enrollments, all intact")


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
