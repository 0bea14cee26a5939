"""No core dump from a process that holds the keys.

Private to :mod:`facewarden.privacy.keys`. A process that crashes (a native
library fault on a crafted photo, an ``abort()``) may have the kernel write
its memory to a core file: with ``core_pattern`` set to ``core`` (the
kernel's default) that file lands in the working directory, which for the
default data directory (``./facewarden-data``) is the data directory's
parent, the folder a copy of which must not carry the keys (SECURITY.md
promise 9). The core holds every key loaded (master keys, the blind-index
key, subject KEKs) and whatever was being decrypted or identified.

So the key ring, when it opens, sets the core-file limit to zero, soft and
hard (a handler that the kernel pipes cores to, such as systemd-coredump or
apport, honours it too), and on Linux marks the process not dumpable, which
also stops other processes of the same user from reading its memory
through ``/proc`` or ``ptrace``. Child processes inherit the limit.
"""

from __future__ import annotations

import ctypes
import logging
import resource
import sys

__all__ = ["forbid_core_dumps"]

logger = logging.getLogger(__name__)

_PR_SET_DUMPABLE = 4


def forbid_core_dumps() -> None:
    """Make this process (and its children) write no core file; idempotent."""
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (OSError, ValueError) as exc:  # pragma: no cover - lowering a limit is always allowed
        logger.warning("could not turn core dumps off: %s", exc)
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:  # pragma: no cover
            logger.warning("could not mark the process not dumpable (errno %d)", ctypes.get_errno())
