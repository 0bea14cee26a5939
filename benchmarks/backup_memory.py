"""What an encrypted backup and its restore cost in memory and time, against a plain copy.

A deployment gets one real person enrolled, then is padded (through the store,
in batches of one transaction) with subjects whose records are as large as the
record limits allow, up to ``--mb`` megabytes of payload. Each command then
runs in a fresh process (``facewarden backup`` / ``restore`` as a user runs
them); the process reports how far its resident set rose above where it stood
once facewarden was imported (``VmHWM`` after the command, the peak reset
through ``/proc/self/clear_refs`` before it), and its wall time. The peer is
the plain copy (``facewarden backup --raw``: SQLite's backup API into a file,
or a new PostgreSQL database), which neither encrypts nor checks anything.

Run::

    .venv/bin/python benchmarks/backup_memory.py                 # SQLite, 200 MB
    .venv/bin/python benchmarks/backup_memory.py --store postgres --mb 100
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from facewarden.config import Settings
from facewarden.service import SubjectRecord, Warden
from facewarden.store.base import SubjectRow

JOHNS = Path(__file__).resolve().parents[2] / "shared/data/faces/dlib/examples/johns"
RECORD_BYTES = 60 + 4028 + 200  # name and notes ciphertexts, ids and row overhead
BATCH = 2000

_CHILD = """
import json, sys, time
from pathlib import Path
from facewarden.cli import cli

def kib(field):
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])

Path("/proc/self/clear_refs").write_text("5")
start, began = kib("VmRSS"), time.perf_counter()
cli.main(sys.argv[1:], standalone_mode=False)
report = {"seconds": time.perf_counter() - began, "rss_growth_mib": (kib("VmHWM") - start) / 1024}
print("BENCH " + json.dumps(report))
"""


def _settings(root: Path, url: str | None) -> Settings:
    return Settings(
        data_dir=root / "data",
        key_dir=root.with_name(root.name + "-keys") / "keys",  # apart from the data
        workers=1,
        enroll_mode="fast",
        database_url=url,
    )


def _build(settings: Settings, megabytes: int) -> None:
    with Warden.open(settings, create=True, actor="bench:backup") as warden:
        record = SubjectRecord(full_name="Bench Person", lawful_basis="benchmark")
        photo = sorted(JOHNS.glob("*/*.jpg"))[0]
        enrolled = warden.registry.enroll(record, [photo]).subject_id
        wrapped = warden.store.get_subject(enrolled)
        assert wrapped is not None
        now = warden.clock()
        for _ in range(max(1, megabytes * 2**20 // RECORD_BYTES // BATCH)):
            with warden.store.transaction() as tx:
                for _ in range(BATCH):
                    fields = {"full_name": os.urandom(60), "notes": os.urandom(4028)}
                    row = SubjectRow(
                        f"sub_{secrets.token_hex(8)}", wrapped.wrapped_key, None, fields, now, now
                    )
                    tx.insert_subject(row)


def _run(settings: Settings, *args: str) -> dict[str, float]:
    env = {
        **os.environ,
        "FACEWARDEN_DATA_DIR": str(settings.data_dir),
        "FACEWARDEN_KEY_DIR": str(settings.resolved_key_dir),
    }
    if settings.database_url:
        env["FACEWARDEN_DATABASE_URL"] = settings.database_url
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, *args], env=env, capture_output=True, text=True, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("BENCH ")]
    if done.returncode or not lines:
        raise SystemExit(f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return dict(json.loads(lines[-1].removeprefix("BENCH ")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--mb", type=int, default=200, help="payload to pad the database to")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        server = None
        url = restored_url = None
        if args.store == "postgres":
            from facewarden.store._pg_embedded import EmbeddedPostgres

            server = EmbeddedPostgres().start()
            url = server.create_database("bench_live")
            restored_url = server.create_database("bench_restored")
        try:
            live = _settings(root / "live", url)
            _build(live, args.mb)
            archive = root / "site.fwbackup"
            raw = server.url("bench_raw") if server is not None else str(root / "raw.db")
            peer = _run(live, "backup", "--raw", raw)
            made = _run(live, "backup", str(archive))
            target = _settings(root / "restored", restored_url)
            shutil.copytree(live.resolved_key_dir, target.resolved_key_dir)
            back = _run(target, "restore", str(archive))
        finally:
            if server is not None:
                server.stop()
        size = archive.stat().st_size / 2**20
        print(f"{args.store}: archive {size:.0f} MiB")
        for name, figures in (("plain copy (peer)", peer), ("backup", made), ("restore", back)):
            print(
                f"  {name:18s} {figures['seconds']:6.1f} s  {size / figures['seconds']:6.1f} MiB/s"
                f"  peak RSS growth {figures['rss_growth_mib']:6.1f} MiB"
            )
        print(f"  backup / plain copy: {made['seconds'] / peer['seconds']:.2f}x the time")


if __name__ == "__main__":
    main()
