"""Crash consistency: SIGKILL a worker at random moments of each state-changing operation.

    python benchmarks/crash.py --runs 300                  # both stores, all six operations
    python benchmarks/crash.py --runs 24 --stores sqlite --ops enroll,erase --json out.json

Each run starts a worker process that opens the deployment, says ``ready``,
and repeats one operation, printing an acknowledgement line after each commit
(``ack enroll <id> <faces>``, ``ack erase <id>``, ``ack rotate-master <key>``,
...), exactly as a server answers only after its transaction committed. After a
random delay the whole process group gets SIGKILL. Then the deployment is
opened again, as a restarted server would, and checked:

- the store's integrity check and the audit chain with its signed anchor pass;
- every acknowledged enrollment is there, complete (record decrypts, every
  acknowledged face), and every acknowledged erasure is absent;
- every subject present is whole (its record decrypts, it has a face) and is
  identified by its own face: templates agree with the template key in use;
- every data key is wrapped by a master key the key directory still holds, and
  the database's template key is the key directory's (a rotation resumed or
  rolled back, never half-applied);
- a purge is all or nothing: the expired subjects set up before it are all
  there or all gone (all gone once it was acknowledged);
- bulk import: every ``enrolled`` line's subject is there and complete.

Operations run round-robin over stores and operations, so ``--runs 300`` gives
each of the 12 pairs 25 kills. Faces are found once by the real pipeline on
real photos (dlib's "johns" and LFW people in ``../shared``) and handed to the
workers, which enroll them through the service layer (bulk import runs the real
CLI with its pipeline). PostgreSQL is the embedded server the tests use; only
the client is killed (the server survives, as when an API process dies).

Prints one line per run and a table per (store, operation); exits 1 on any
inconsistency. ``tests/crash`` runs a reduced count in CI.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import random
import re
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared" / "data"
OPS = ("enroll", "erase", "rotate-master", "rotate-templates", "purge", "bulk-import")
STORES = ("sqlite", "postgres")
RETENTION_DAYS = 30
WATCHLIST = "crash"
PURPOSE = "crash test"
# How long after "ready" a kill may land: each operation's loop runs several
# commits in this window, so kills fall before, inside and after transactions.
KILL_WINDOW_S = {"bulk-import": 12.0, "purge": 0.6}
DEFAULT_WINDOW_S = 1.2


# ---------------------------------------------------------------- the worker side


def _open_warden(root: Path, *, clock: Any = None) -> Any:
    from facewarden.config import Settings
    from facewarden.service import Warden

    settings = Settings.load(**_settings_overrides(root))
    kwargs = {"clock": clock} if clock is not None else {}
    return Warden.open(settings, create=True, actor="crash:worker", **kwargs)


def _settings_overrides(root: Path) -> dict[str, object]:
    overrides: dict[str, object] = {
        "data_dir": root / "data",
        # Not under the data directory's parent: kept apart, as a deployment should.
        "key_dir": root.parent / f"{root.name}-keys",
        "workers": 1,
        "enroll_mode": "fast",
        "subject_retention_days": RETENTION_DAYS,
    }
    url_file = root / "database_url"
    if url_file.exists():
        overrides["database_url"] = url_file.read_text().strip()
    return overrides


def _ack(*words: object) -> None:
    print("ack", *words, flush=True)


def worker(op: str, root: Path) -> None:
    """Repeat ``op`` on the deployment at ``root`` until killed (or out of work)."""
    from facewarden.service import SubjectRecord

    plan = json.loads((root / "plan.json").read_text())
    warden = _open_warden(root)
    faces = pickle.loads((root / "faces.pkl").read_bytes())
    print("ready", flush=True)
    if op == "enroll":
        for photo in plan["free_photos"]:
            prepared = [warden.registry.prepare_detected(faces[photo], source=photo)]
            record = SubjectRecord(
                full_name=f"Crash {secrets.token_hex(4)}",
                lawful_basis="test",
                id_number=f"CR{secrets.token_hex(6).upper()}",
                notes=f"photo:{photo}",
            )
            done = warden.registry.enroll_prepared(
                record, prepared, watchlists=[WATCHLIST], purpose=PURPOSE
            )
            _ack("enroll", done.subject_id, len(done.face_ids))
    elif op == "erase":
        for subject_id in plan["erasable"]:
            warden.registry.erase(subject_id, purpose=PURPOSE)
            _ack("erase", subject_id)
    elif op == "rotate-master":
        while True:
            rotation = warden.keys.rotate_master()
            _ack("rotate-master", rotation.new_key_id, rotation.rewrapped)
            for key_id in rotation.retired_key_ids:
                warden.keys.destroy_master(key_id)
                _ack("destroy-master", key_id)
    elif op == "rotate-templates":
        while True:
            rotation = warden.keys.rotate_templates()
            _ack("rotate-templates", rotation.new_key_id, rotation.templates)
    elif op == "purge":
        while True:
            report = warden.purge()
            _ack("purge", *report.erased_subjects)
    warden.close()
    print("done", flush=True)


# ---------------------------------------------------------------- the parent side


@dataclass
class Model:
    """What was acknowledged on one deployment, across all its runs."""

    faces: dict[str, int] = field(default_factory=dict)  # acknowledged enrollments
    erased: set[str] = field(default_factory=set)  # acknowledged erasures
    imported: dict[str, str] = field(default_factory=dict)  # bulk import: id -> source


@dataclass
class Deployment:
    store: str
    root: Path
    model: Model = field(default_factory=Model)
    bulk_runs: int = 0
    windows: dict[str, float] = field(default_factory=dict)  # learnt kill windows per operation


def _find_faces(root: Path) -> dict[str, list[Any]]:
    """The fast pipeline's faces of each johns photo: found once, pickled for the workers."""
    from facewarden.vision.pipeline import MODES

    pipeline = MODES["fast"]
    johns = SHARED / "faces" / "dlib" / "examples" / "johns"
    faces = {}
    for photo in sorted(johns.glob("*/*.jpg")):
        found = pipeline.run(pipeline.decode(photo))
        if len(found) == 1 and found[0].usable:
            faces[f"{photo.parent.name}/{photo.name}"] = found
    return faces


BULK_PEOPLE = 20


def _people_folder(target: Path, start: int, count: int) -> Path:
    """A bulk-import folder of symlinks to LFW people (the images stay in ../shared).

    Each run takes the next ``count`` people, so that most runs are killed in
    the middle of real work rather than while skipping what is already done.
    """
    pool = sorted(p for p in (SHARED / "lfw-fold1" / "lfw").iterdir() if p.is_dir())
    people = [pool[(start + i) % len(pool)] for i in range(count)]
    for person in people:
        (target / person.name).mkdir(parents=True, exist_ok=True)
        photo = sorted(person.glob("*.jpg"))[0]
        link = target / person.name / photo.name
        if not link.exists():
            link.symlink_to(photo)
    return target


def _subjects(warden: Any) -> dict[str, Any]:
    """Every subject present, decrypted (raises if one cannot be read)."""
    found, after = {}, None
    while page := warden.registry.subjects(after=after, limit=100, purpose=PURPOSE):
        for summary in page:
            found[summary.subject_id] = warden.registry.get(summary.subject_id, purpose=PURPOSE)
        after = page[-1].subject_id
    return found


def _photo_of(subject: Any) -> str | None:
    notes = subject.record.notes or ""
    return notes.removeprefix("photo:") if notes.startswith("photo:") else None


def _check(dep: Deployment, faces: dict[str, list[Any]], purge_set: set[str]) -> list[str]:
    """Open the deployment as a restarted server would and list every inconsistency."""
    from facewarden.service.keycheck import TEMPLATE_KEY

    problems: list[str] = []
    warden = _open_warden(dep.root)
    try:
        problems += [f"integrity: {p}" for p in warden.integrity_check()]
        status = warden.keys.status()
        orphaned = set(status.data_keys_by_master) - set(status.master_key_ids)
        if orphaned:
            problems.append(f"data keys wrapped by missing master keys {sorted(orphaned)}")
        db_template = warden.store.get_meta(TEMPLATE_KEY)
        if db_template not in (None, status.template_key_id):
            problems.append(f"database template key {db_template} != {status.template_key_id}")
        present = _subjects(warden)
        for subject_id, count in dep.model.faces.items():
            if subject_id in dep.model.erased:
                continue
            if subject_id not in present:
                problems.append(f"acknowledged enrollment {subject_id} is missing")
            elif len(present[subject_id].faces) != count:
                problems.append(
                    f"{subject_id} has {len(present[subject_id].faces)} of {count} faces"
                )
        for subject_id, source in dep.model.imported.items():
            if subject_id not in present or not present[subject_id].faces:
                problems.append(f"acknowledged import {subject_id} ({source}) is missing or empty")
        problems += [
            f"acknowledged erasure {s} is present" for s in dep.model.erased & set(present)
        ]
        stale = purge_set & set(present)
        if stale and stale != purge_set:
            # A purge records its erasures in the ledger as one record, its
            # transaction's last write: killed before it, every expired subject
            # stays; after it, the next open erases every one.
            problems.append(f"half a purge: {len(stale)} of {len(purge_set)} expired subjects left")
        probes = []
        for subject_id, subject in present.items():
            if not subject.faces:
                problems.append(f"{subject_id} is present without a face (half-written)")
            photo = _photo_of(subject)
            if photo is not None:
                probes.append((subject_id, faces[photo][0]))
        if probes:
            result = warden.recognition.identify_faces(
                [f for _, f in probes], WATCHLIST, top_k=3, purpose=PURPOSE
            )
            for (subject_id, _), probe in zip(probes, result.faces, strict=True):
                if subject_id not in {c.subject_id for c in probe.matches}:
                    problems.append(f"{subject_id} is not identified by its own face")
    finally:
        warden.close()
    return problems


def _prepare_run(
    dep: Deployment, op: str, faces: dict[str, list[Any]], rng: random.Random
) -> set[str]:
    """Write the worker's plan; for a purge, enroll expired subjects first. Returns that set."""
    from facewarden.privacy import ManualClock
    from facewarden.service import SubjectRecord

    warden = _open_warden(dep.root)
    try:
        present = _subjects(warden)
    finally:
        warden.close()
    used = {p for s in present.values() if (p := _photo_of(s))}
    free = [p for p in faces if p not in used]
    rng.shuffle(free)
    erasable = sorted(s for s, subj in present.items() if _photo_of(subj))
    rng.shuffle(erasable)
    purge_set: set[str] = set()
    if op == "purge" and len(free) >= 2:
        old = ManualClock(datetime.now(UTC) - timedelta(days=RETENTION_DAYS + 10))
        warden = _open_warden(dep.root, clock=old)
        try:
            for photo in free[:2]:
                prepared = [warden.registry.prepare_detected(faces[photo], source=photo)]
                record = SubjectRecord(
                    full_name="Expired", lawful_basis="test", notes=f"photo:{photo}"
                )
                done = warden.registry.enroll_prepared(record, prepared, watchlists=[WATCHLIST])
                purge_set.add(done.subject_id)
        finally:
            warden.close()
        free = free[2:]
    plan: dict[str, object] = {"free_photos": free, "erasable": erasable}
    if op == "bulk-import":
        folder = dep.root / f"people-{dep.bulk_runs}"
        _people_folder(folder, dep.bulk_runs * BULK_PEOPLE, BULK_PEOPLE)
        plan["bulk_folder"] = str(folder)
        dep.bulk_runs += 1
    (dep.root / "plan.json").write_text(json.dumps(plan))
    return purge_set


def _skipped_some(stderr: str) -> bool:
    """Whether a ``subjects import`` summary on ``stderr`` counts skipped sources."""
    found = re.search(r"already done, (\d+) skipped", stderr)
    return found is not None and int(found.group(1)) > 0


def _start_worker(dep: Deployment, op: str) -> subprocess.Popen[str]:
    if op == "bulk-import":
        env = dict(os.environ)
        for name, value in _settings_overrides(dep.root).items():
            env[f"FACEWARDEN_{name.upper()}"] = str(value)
        command = [
            sys.executable, "-m", "facewarden.cli", "subjects", "import",
            json.loads((dep.root / "plan.json").read_text())["bulk_folder"],
            "--lawful-basis", "test", "--workers", "1",
        ]  # fmt: skip
    else:
        env = dict(os.environ)
        command = [sys.executable, __file__, "--worker", op, "--root", str(dep.root)]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
        start_new_session=True,  # its own process group: the kill takes its children too
    )


def one_run(
    dep: Deployment, op: str, faces: dict[str, list[Any]], rng: random.Random
) -> dict[str, Any]:
    """Start, kill, restart, check: one row of the report."""
    purge_set = _prepare_run(dep, op, faces, rng)
    proc = _start_worker(dep, op)
    assert proc.stdout is not None
    if op != "bulk-import":
        first = proc.stdout.readline().strip()
        if first != "ready":
            proc.kill()
            raise RuntimeError(f"worker for {op} did not start: {first!r} {proc.stderr.read()}")
    started = time.monotonic()
    delay = rng.uniform(0.0, dep.windows.get(op, KILL_WINDOW_S.get(op, DEFAULT_WINDOW_S)))
    while time.monotonic() - started < delay and proc.poll() is None:
        time.sleep(0.02)
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    else:
        # It ran out of work before the kill: aim the next kills inside the time it took.
        dep.windows[op] = max(0.2, 0.9 * (time.monotonic() - started))
    out, err = proc.communicate()
    killed = proc.returncode == -signal.SIGKILL
    acks = Counter()
    for line in out.splitlines():
        words = line.split()
        if words[:2] == ["ack", "enroll"]:
            dep.model.faces[words[2]] = int(words[3])
        elif words[:2] == ["ack", "erase"]:
            dep.model.erased.add(words[2])
        elif words[:2] == ["ack", "purge"]:
            dep.model.erased.update(words[2:])
        elif words[:1] == ["enrolled"]:
            dep.model.imported[words[1]] = words[2]
        if words[:1] in (["ack"], ["enrolled"]):
            acks[words[1] if words[0] == "ack" else "import"] += 1
    # An import that skipped someone (a photo without a usable face) exits 1 with
    # its summary, having committed the others: done, not a failed worker.
    partial = op == "bulk-import" and proc.returncode == 1 and _skipped_some(err)
    if not killed and proc.returncode != 0 and not partial:
        raise RuntimeError(f"worker for {op} failed ({proc.returncode}): {err[-2000:]}")
    acknowledged_purge = any(line.startswith("ack purge") for line in out.splitlines())
    if op == "erase":
        _settle_erasure_in_flight(dep, acks["erase"])
    problems = _check(dep, faces, purge_set)
    if acknowledged_purge:
        warden = _open_warden(dep.root)
        try:
            left = purge_set & set(_subjects(warden))
        finally:
            warden.close()
        problems += [f"acknowledged purge left expired {s}" for s in sorted(left)]
    return {
        "store": dep.store,
        "op": op,
        "delay_s": round(delay, 3),
        "killed": killed,
        "acks": dict(acks),
        "problems": problems,
    }


def _settle_erasure_in_flight(dep: Deployment, acknowledged: int) -> None:
    """The erasure after the last acknowledged one may have committed unacknowledged.

    Both outcomes are consistent; the model learns which one happened so that
    the check holds the subject to it (present and whole, or absent for good).
    """
    plan = json.loads((dep.root / "plan.json").read_text())
    if acknowledged >= len(plan["erasable"]):
        return
    in_flight = plan["erasable"][acknowledged]
    warden = _open_warden(dep.root)
    try:
        if warden.store.get_subject(in_flight) is None:
            dep.model.erased.add(in_flight)
    finally:
        warden.close()


def _setup(store: str, root: Path, faces: dict[str, list[Any]], pg: Any) -> Deployment:
    root.mkdir(parents=True)
    if pg is not None:
        (root / "database_url").write_text(pg.create_database(f"crash_{secrets.token_hex(6)}"))
    (root / "faces.pkl").write_bytes(pickle.dumps(faces))
    warden = _open_warden(root)
    try:
        warden.watchlists.create(WATCHLIST, purpose=PURPOSE, lawful_basis="test")
    finally:
        warden.close()
    return Deployment(store, root)


def run(
    runs: int, stores: list[str], ops: list[str], seed: int, workdir: Path
) -> list[dict[str, Any]]:
    """``runs`` kills, round-robin over (store, op); every row of the report."""
    from facewarden.store._pg_embedded import EmbeddedPostgres

    rng = random.Random(seed)
    faces = _find_faces(workdir)
    pg = EmbeddedPostgres().start() if "postgres" in stores else None
    try:
        deployments = {
            s: _setup(s, workdir / s, faces, pg if s == "postgres" else None) for s in stores
        }
        pairs = [(s, o) for s in stores for o in ops]
        rows = []
        for number in range(runs):
            store, op = pairs[number % len(pairs)]
            row = one_run(deployments[store], op, faces, rng)
            rows.append(row)
            verdict = "ok" if not row["problems"] else "INCONSISTENT: " + "; ".join(row["problems"])
            print(
                f"{number + 1:>4}/{runs} {store:<8} {op:<16} kill after {row['delay_s']:.2f}s "
                f"acks {sum(row['acks'].values()):>3}  {verdict}",
                flush=True,
            )
        return rows
    finally:
        if pg is not None:
            pg.stop()


def report(rows: list[dict[str, Any]]) -> int:
    """The table per (store, op); the number of inconsistent runs."""
    table: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for row in rows:
        cell = table[(row["store"], row["op"])]
        cell["runs"] += 1
        cell["killed"] += row["killed"]
        cell["acks"] += sum(row["acks"].values())
        cell["inconsistent"] += bool(row["problems"])
    header = f"{'store':<9} {'operation':<17} {'runs':>5} {'killed':>7} {'acks':>6}"
    print(f"\n{header} {'inconsistent':>13}")
    for (store, op), cell in sorted(table.items()):
        print(
            f"{store:<9} {op:<17} {cell['runs']:>5} {cell['killed']:>7} {cell['acks']:>6} "
            f"{cell['inconsistent']:>13}"
        )
    bad = sum(bool(r["problems"]) for r in rows)
    print(f"\n{len(rows)} runs, {bad} inconsistent")
    return bad


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=24)
    parser.add_argument("--stores", default=",".join(STORES))
    parser.add_argument("--ops", default=",".join(OPS))
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--json", type=Path, help="write every run's row here")
    parser.add_argument(
        "--workdir", type=Path, help="keep the deployments here (default: a temp dir)"
    )
    parser.add_argument("--worker", choices=OPS, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.root)
        return 0
    stores, ops = args.stores.split(","), args.ops.split(",")
    if set(stores) - set(STORES) or set(ops) - set(OPS):
        parser.error(f"stores from {STORES}, operations from {OPS}")
    import tempfile

    with tempfile.TemporaryDirectory(prefix="facewarden-crash-") as tmp:
        workdir = args.workdir or Path(tmp)
        started = time.monotonic()
        rows = run(args.runs, stores, ops, args.seed, workdir)
        bad = report(rows)
        print(f"{time.monotonic() - started:.0f} s in all")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
