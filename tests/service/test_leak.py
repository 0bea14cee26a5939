"""Acceptance: a stolen copy of facewarden's files gives nothing away.

Subjects with known names, ID numbers, addresses and photos are enrolled
through the real CLI (photos kept, encrypted), identified and verified; then
the database file, its WAL, a key-free backup and every log line the
commands wrote are scanned byte by byte for those strings, for JPEG or PNG
data, and for any float32 vector within 0.99 cosine of the raw embeddings
of the enrolled faces.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from facewarden import imaging
from facewarden.privacy.crypto import normalise_id_number
from facewarden.vision.pipeline import Pipeline, central_face

PEOPLE = [
    {
        "name": "Barack Hussein Obama",
        "id_number": "US-4471-0082-19",
        "dob": "1961-08-04",
        "address": "1600 Pennsylvania Avenue NW, Washington",
        "employer": "Leakproof Federal Office",
        "photo": "obama.jpg",
    },
    {
        "name": "Joseph Robinette Biden",
        "id_number": "US-9930-1187-42",
        "dob": "1942-11-20",
        "address": "1209 Barley Mill Road, Wilmington",
        "employer": "Canary Trap Holdings",
        "photo": "biden.jpg",
    },
    {
        "name": "Alexandre Lacamoire",
        "id_number": "XK 55 10 77 A",
        "dob": "1975-08-29",
        "address": "22 Rue des Secrets, Montréal",
        "employer": "Orchestration Noire Ltd",
        "photo": "alex-lacamoire.png",
    },
]
JPEG_MAGIC, PNG_MAGIC = b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n"


def _run(env: dict[str, str], logs: list[str], *args: str | Path) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "facewarden.cli", "-vv", *map(str, args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    logs.append(result.stderr)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _needles() -> list[bytes]:
    needles = []
    for person in PEOPLE:
        for key in ("name", "id_number", "dob", "address", "employer"):
            value = person[key]
            needles.append(value.encode())
            needles.append(value.encode("utf-16-le"))
        needles.append(normalise_id_number(person["id_number"]).encode())
        needles.extend(part.encode() for part in person["name"].split() if len(part) > 5)
    return needles


def _near_vectors(data: bytes, raw: np.ndarray) -> float:
    """The highest cosine between any 128 consecutive float32 values in ``data`` and ``raw``."""
    best = -1.0
    for offset in range(4):
        usable = (len(data) - offset) // 4
        if usable < raw.shape[1]:
            continue
        with np.errstate(invalid="ignore", over="ignore"):  # arbitrary bytes hold NaNs
            floats = np.frombuffer(data, dtype="<f4", count=usable, offset=offset)
            floats = floats.astype(np.float64)
            floats = np.where(np.isfinite(floats) & (np.abs(floats) < 1e3), floats, 0.0)
        windows = sliding_window_view(floats, raw.shape[1])
        norms = np.linalg.norm(windows, axis=1)
        dots = windows @ raw.T  # (positions, people)
        with np.errstate(divide="ignore", invalid="ignore"):
            cosines = np.where(norms[:, None] > 1e-6, dots / norms[:, None], 0.0)
        best = max(best, float(cosines.max()))
    return best


@pytest.mark.slow
def test_no_personal_data_photo_or_raw_template_in_the_files(
    faces_dir: Path, tmp_path: Path
) -> None:
    examples = faces_dir / "face_recognition" / "examples"
    data, keys, backup = tmp_path / "data", tmp_path / "keys", tmp_path / "backup.db"
    env = dict(
        os.environ,
        FACEWARDEN_DATA_DIR=str(data),
        FACEWARDEN_KEY_DIR=str(keys),
        FACEWARDEN_KEEP_ENROLLMENT_PHOTOS="true",
    )
    logs: list[str] = []
    _run(env, logs, "init")
    # A reader holding the database open keeps the WAL file from being
    # checkpointed away when each command exits, so it can be scanned too.
    (database,) = [p for p in data.iterdir() if p.suffix == ".db"]
    holder = sqlite3.connect(database)
    holder.execute("SELECT count(*) FROM sqlite_master").fetchone()
    _run(
        env,
        logs,
        "watchlists",
        "create",
        "staff",
        "--purpose",
        "site access control",
        "--lawful-basis",
        "employment contract",
    )
    subject_ids = []
    for person in PEOPLE:
        subject_ids.append(
            _run(
                env,
                logs,
                "subjects",
                "add",
                examples / person["photo"],
                "--name",
                person["name"],
                "--id-number",
                person["id_number"],
                "--dob",
                person["dob"],
                "--address",
                person["address"],
                "--employer",
                person["employer"],
                "--lawful-basis",
                "consent",
                "-w",
                "staff",
            ).strip()
        )
    identified = json.loads(
        _run(env, logs, "identify", "--json", examples / "obama2.jpg", "--watchlist", "staff")
    )
    assert subject_ids[0] in json.dumps(identified)
    _run(env, logs, "verify", examples / "obama2.jpg", "--subject", subject_ids[0])
    _run(env, logs, "subjects", "show", "--id-number", PEOPLE[1]["id_number"])
    _run(env, logs, "backup", backup)

    files = {p.name: p.read_bytes() for p in data.iterdir() if p.is_file()}
    holder.close()
    assert any(name.endswith("-wal") and content for name, content in files.items())
    files["backup"] = backup.read_bytes()
    files["logs"] = "\n".join(logs).encode()

    pipeline = Pipeline.from_mode("accurate")
    raw = []
    for person in PEOPLE:
        image = imaging.decode(examples / person["photo"])
        face = central_face(pipeline.run(image), image.shape)
        assert face is not None
        raw.append(face.require_embedding())
    raw_embeddings = np.array(raw, dtype=np.float64)

    needles = _needles()
    for name, content in files.items():
        leaked = [n for n in needles if n in content]
        assert not leaked, f"{name} holds personal data in the clear: {leaked[:3]}"
        assert JPEG_MAGIC not in content, f"{name} holds JPEG data"
        assert PNG_MAGIC not in content, f"{name} holds PNG data"
        closest = _near_vectors(content, raw_embeddings)
        assert closest < 0.99, f"{name} holds a vector {closest:.3f} cosine from a raw embedding"
