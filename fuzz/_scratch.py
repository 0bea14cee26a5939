"""A per-process scratch folder for harnesses whose parser reads files, in memory where possible."""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path


def scratch_dir(name: str) -> Path:
    """A fresh private folder, removed when the process exits (on tmpfs when there is one)."""
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() else None
    path = Path(tempfile.mkdtemp(prefix=f"facewarden-fuzz-{name}-", dir=base))
    atexit.register(shutil.rmtree, path, True)
    return path
