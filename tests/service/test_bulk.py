"""Bulk enrollment from a CSV: skips with reasons, acknowledgement after commit, resumable."""

from __future__ import annotations

import csv
import sqlite3
from pathlib import Path

import pytest

from facewarden.errors import InvalidInputError
from facewarden.service import Warden, database_path
from facewarden.service.bulk import ImportEvent, items_from_csv, items_from_folder

from ._data import FACES, KNN

TRAIN = KNN / "train"


def _write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, ["full_name", "id_number", "date_of_birth", "photo"])
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.mark.slow
def test_csv_import_skips_with_reasons_and_resumes(
    warden: Warden, tmp_path: Path, faces_dir: Path
) -> None:
    warden.watchlists.create("staff", purpose="t", lawful_basis="t")
    dogs = FACES / "dlib" / "examples" / "faces" / "dogs.jpg"
    rows = [
        {
            "full_name": "Barack Obama",
            "id_number": "US-44",
            "photo": f"{TRAIN / 'obama' / 'obama.jpg'};{TRAIN / 'obama' / 'obama2.jpg'}",
        },
        {
            "full_name": "Joe Biden",
            "id_number": "us 44",
            "photo": str(TRAIN / "biden" / "biden.jpg"),
        },
        {"full_name": "Dog", "photo": str(dogs)},
        {"full_name": "Two People", "photo": str(KNN / "test" / "kit_with_rose.jpg")},
        {
            "full_name": "Bad Date",
            "date_of_birth": "1961-13-45",
            "photo": str(TRAIN / "biden" / "biden2.jpg"),
        },
        {"full_name": "Ghost", "photo": "does-not-exist.jpg"},
        {"full_name": "No Photo", "photo": ""},
        {"full_name": "Rose Leslie", "photo": f"{TRAIN / 'rose_leslie' / 'img1.jpg'};{dogs}"},
    ]
    sheet = _write_csv(tmp_path / "people.csv", rows)
    db = database_path(warden.settings)
    events: list[ImportEvent] = []

    def on_event(event: ImportEvent) -> None:
        if event.kind == "enrolled":  # acknowledged only once another connection can see it
            other = sqlite3.connect(db)
            count = other.execute(
                "SELECT COUNT(*) FROM subjects WHERE subject_id = ?", (event.subject_id,)
            ).fetchone()[0]
            other.close()
            assert count == 1
        events.append(event)

    items = list(items_from_csv(sheet, lawful_basis="consent"))
    summary = warden.bulk.run(items, watchlists=["staff"], workers=1, on_event=on_event)
    assert (summary.enrolled, summary.faces, summary.already) == (2, 3, 0)
    reasons = {e.source.rsplit("#", 1)[1]: "; ".join(e.reasons) for e in events}
    assert "already enrolled with this ID number" in reasons["3"]
    assert "no face found" in reasons["4"]
    assert "2 faces found" in reasons["5"]
    # An import cannot choose a face: it says what to do instead of advising a
    # --face option it does not have (found by hand, importing LFW folders).
    assert "crop" in reasons["5"] and "enroll them on their own" in reasons["5"]
    assert "(--face" not in reasons["5"] and "(face 1 to" not in reasons["5"]
    assert "date_of_birth" in reasons["6"]
    assert "file not found" in reasons["7"]
    assert "no photo given" in reasons["8"]
    assert "no face found" in reasons["9"]  # enrolled from its other photo, with a warning
    assert [e.kind for e in events if e.kind == "enrolled"] == ["enrolled"] * 2
    assert warden.store.count_subjects() == 2
    assert (
        len(
            warden.recognition.identify(
                KNN / "test" / "kit_with_rose.jpg", "staff"
            ).matched_subjects
        )
        == 1
    )  # Rose only

    again = warden.bulk.run(items_from_csv(sheet, lawful_basis="consent"), workers=1)
    assert (again.enrolled, again.already, len(again.skipped)) == (0, 2, 6)
    assert warden.store.count_subjects() == 2


def test_import_sources_are_checked_before_any_work(tmp_path: Path, faces_dir: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("full_name,photo,shoe_size\nA,a.jpg,11\n")
    with pytest.raises(InvalidInputError, match="unknown: shoe_size"):
        list(items_from_csv(bad))
    (tmp_path / "empty").mkdir()
    (tmp_path / "Jane_Doe").mkdir()
    (tmp_path / "Jane_Doe" / "notes.txt").write_text("no photos here")
    items = list(items_from_folder(tmp_path, lawful_basis="consent"))
    assert [(i.source.rsplit("/", 1)[1], i.problem) for i in items] == [
        ("Jane_Doe", "no photos (.jpg, .png, .webp, .bmp)"),
        ("empty", "no photos (.jpg, .png, .webp, .bmp)"),
    ]
    folder = list(items_from_folder(TRAIN, lawful_basis="consent"))
    assert [i.record.full_name for i in folder if i.record] == [
        "alex lacamoire",
        "biden",
        "kit harington",
        "obama",
        "rose leslie",
    ]


def test_source_keys_are_keyed_hashes(warden: Warden) -> None:
    key = warden.bulk.source_key("folder:/photos/Jane Doe")
    assert len(key) == 64 and "Jane" not in key
    assert key == warden.bulk.source_key("folder:/photos/Jane Doe")
    assert key != warden.bulk.source_key("folder:/photos/John Doe")


def _peak_kib_reading(sheet: Path) -> tuple[int, str]:
    """Peak memory (KiB) of a process listing ``sheet``'s import items, and the error it met."""
    import subprocess
    import sys

    script = (
        "import resource, sys\n"
        "from pathlib import Path\n"
        "from facewarden.errors import InvalidInputError\n"
        "from facewarden.service.bulk import items_from_csv\n"
        "base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        "    list(items_from_csv(Path(sys.argv[1]), lawful_basis='t'))\n"
        "    message = ''\n"
        "except InvalidInputError as exc:\n"
        "    message = exc.message\n"
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base)\n"
        "print(message)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(sheet)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    grown, message = done.stdout.split("\n", 1)
    return int(grown), message.strip()


@pytest.mark.parametrize("kind", ["not UTF-8", "one endless line"])
def test_a_huge_wrong_file_as_csv_is_refused_in_bounded_memory(tmp_path: Path, kind: str) -> None:
    # Found by giving a video to --csv: its first bad byte sent the reader to
    # find the line, by reading the whole file into memory (a 4 GB video, 4 GB);
    # a sheet with no line ends was read as one line, whole. Both are refused
    # now without holding the file: 256 MiB here, sparse on disk.
    sheet = tmp_path / "people.csv"
    with sheet.open("wb") as handle:
        handle.write(b"full_name,photo\n" + (b"\xff" if kind == "not UTF-8" else b"A"))
        handle.truncate(256 * 1024 * 1024)
    grown, message = _peak_kib_reading(sheet)
    assert grown < 64 * 1024, f"{grown} KiB more to refuse it"
    assert message.startswith(f"{sheet}:2: "), message
