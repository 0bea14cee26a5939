"""A process holding the keys that crashes leaves no core file with them in it.

The red team's finding: with core dumps allowed (a container or a service
with an unlimited core limit) and the kernel's default ``core_pattern``
(``core``, in the working directory), a facewarden process killed by a fault
wrote a core file holding the master key, in the directory a deployment's
data usually sits in. Real processes are crashed here (``os.abort()``), after
raising their core limit as such a host would.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# Raise the limit as a permissive host would, then (with "keys") open the key ring,
# report the limit and whether the process is dumpable, and crash.
_CRASH = """
import ctypes, os, resource, sys
try:
    resource.setrlimit(resource.RLIMIT_CORE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
except (OSError, ValueError):  # a hard limit this user may not raise
    hard = resource.getrlimit(resource.RLIMIT_CORE)[1]
    resource.setrlimit(resource.RLIMIT_CORE, (hard, hard))
if sys.argv[2] == "keys":
    from facewarden.privacy import KeyRing
    ring = KeyRing.open(sys.argv[1], create=True)
    ring.master_key(ring.active_master_id)
dumpable = ctypes.CDLL(None).prctl(3, 0, 0, 0, 0)  # PR_GET_DUMPABLE
print(resource.getrlimit(resource.RLIMIT_CORE), dumpable, flush=True)
os.abort()
"""


def _crash(workdir: Path, key_dir: Path, mode: str) -> str:
    workdir.mkdir()
    done = subprocess.run(
        [sys.executable, "-c", _CRASH, str(key_dir), mode],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode < 0, done.stderr  # killed by SIGABRT
    return done.stdout.strip()


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="core dumps as Linux writes them")
def test_a_process_that_opened_the_keys_cannot_dump_core(tmp_path: Path) -> None:
    key_dir = tmp_path / "keys"
    # The same crash without the keys: it writes a core into its working directory
    # where this host does (core_pattern "core", limits that may be raised), which
    # is when the last check below shows the fix at work rather than the host.
    control = _crash(tmp_path / "without-keys", key_dir, "none")
    assert control.endswith(" 1")  # an ordinary process is dumpable
    host_writes_cores = any((tmp_path / "without-keys").iterdir())

    report = _crash(tmp_path / "with-keys", key_dir, "keys")
    assert report == "(0, 0) 0", f"core limit and dumpable flag after opening the keys: {report}"
    master = next(key_dir.glob("mk-*.key")).read_bytes()
    left = list((tmp_path / "with-keys").iterdir())
    assert not any(master in path.read_bytes() for path in left), "a core holds the master key"
    assert left == [], (
        f"the crash left {[p.name for p in left]} (host writes cores: {host_writes_cores})"
    )
