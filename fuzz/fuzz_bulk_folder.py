"""The bulk-import folder reader (``service/bulk.items_from_folder``).

The input describes a tree: lines of ``folder/file`` names (one subfolder per
person, the folder name is the full name). Names a file system cannot hold
(empty, ``.``/``..``, NUL, too long) are dropped, as no real folder has them.
Promise: each folder gives a valid record with its photos, or the reason it
cannot be imported; nothing else escapes.
"""

from __future__ import annotations

import shutil

from fuzz._scratch import scratch_dir
from fuzz.engine import fuzz_main, instrumented

with instrumented("facewarden.service.bulk", "facewarden.service.records"):
    from facewarden.errors import FacewardenError
    from facewarden.service.bulk import IMAGE_SUFFIXES, items_from_folder

BASE = scratch_dir("folder")


def _usable(name: str) -> bool:
    return name not in ("", ".", "..") and "\x00" not in name and len(name.encode()) <= 200


def test_one_input(data: bytes) -> None:
    root = BASE / "import"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    for line in data.decode("utf-8", errors="replace").splitlines()[:32]:
        folder, _, file = line.partition("/")
        if not _usable(folder):
            continue
        (root / folder).mkdir(exist_ok=True)
        if _usable(file) and "/" not in file:
            (root / folder / file).write_bytes(b"\xff\xd8\xff")
    try:
        items = list(items_from_folder(root, lawful_basis="consent"))
    except FacewardenError:
        return
    for item in items:
        assert (item.record is None) != (item.problem is None), item
        if item.record is not None:
            assert item.photos and all(p.suffix.lower() in IMAGE_SUFFIXES for p in item.photos)
            assert item.record.full_name.strip()


if __name__ == "__main__":
    fuzz_main(test_one_input)
