"""Identify over HTTP on loopback under 1, 4 and 16 concurrent clients, with enrollments alongside.

The real server (``create_app`` under uvicorn, configured as ``facewarden
serve`` configures it) runs in its own process over a fresh deployment in a
temporary folder. A gallery is enrolled through ``POST /v1/subjects``
(face_recognition's knn people plus dlib's five "johns", a few photos each),
then for each level of concurrency:

* N client threads post real probe photos to ``POST /v1/identify`` in a loop
  for the given time (each on its own keep-alive connection);
* one more thread keeps enrolling new subjects through ``POST /v1/subjects``
  (onto another watchlist, so the searched gallery stays the same);
* afterwards every enrollment the server acknowledged (201) is read back:
  a missing one is a lost enrollment.

Printed per level: requests, requests/s, p50 and p99 latency, errors (any
status but 200, or a wrong top candidate), enrollments acknowledged and
lost, and the server process's peak resident memory (VmHWM) so far.

Run::

    .venv/bin/python benchmarks/api_load.py               # 10 s per level
    .venv/bin/python benchmarks/api_load.py --seconds 60  # the longest allowed
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

FACES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "faces"
KNN = FACES / "face_recognition" / "examples" / "knn_examples"
JOHNS = FACES / "dlib" / "examples" / "johns"
MAX_SECONDS = 60

# The server process: a deployment, an operator key, then uvicorn as `serve` runs it.
_SERVER = """
import json, sys
from pathlib import Path
import uvicorn
from facewarden.api import create_app
from facewarden.config import Settings
from facewarden.service.warden import Warden

root, port = Path(sys.argv[1]), int(sys.argv[2])
settings = Settings(data_dir=root / "data", key_dir=root / "keys", port=port)
warden = Warden.open(settings, create=True, actor="bench:setup")
key = warden.access.create_api_key("load test", "operator").secret
print(json.dumps({"key": key}), flush=True)
uvicorn.Server(uvicorn.Config(
    create_app(settings, warden=warden), host="127.0.0.1", port=port, access_log=False,
    log_level="warning", ws="none", lifespan="on", server_header=False,
    timeout_keep_alive=settings.keep_alive_seconds, limit_concurrency=settings.max_connections,
    h11_max_incomplete_event_size=64 * 1024,
)).run()
"""


@dataclass
class Level:
    """What one level of concurrency measured."""

    clients: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    acknowledged: list[str] = field(default_factory=list)
    lost: int = 0
    peak_rss_mib: float = 0.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_up(url: str, server: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and server.poll() is None:
        try:
            httpx.get(f"{url}/health", timeout=1).raise_for_status()
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise SystemExit(f"the server did not come up (exit code {server.poll()})")


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _enroll(client: httpx.Client, name: str, photo: Path, watchlist: str) -> httpx.Response:
    record = json.dumps({"full_name": name, "lawful_basis": "load test"})
    return client.post(
        "/v1/subjects",
        data={"record": record, "watchlist": watchlist},
        files={"file": (photo.name, photo.read_bytes(), "image/jpeg")},
    )


def _gallery(client: httpx.Client) -> dict[str, str]:
    """Enroll the knn people (gallery photos) and the johns (first 3 chips): name -> id."""
    for watchlist in ("load", "enrolled"):
        client.post(
            "/v1/watchlists",
            json={"name": watchlist, "purpose": "load test", "lawful_basis": "test"},
        ).raise_for_status()
    people = {p.name: sorted(p.iterdir())[:1] for p in sorted((KNN / "train").iterdir())}
    people |= {p.name: sorted(p.glob("*.jpg"))[:1] for p in sorted(JOHNS.iterdir())}
    ids = {}
    for name, photos in people.items():
        response = _enroll(client, name, photos[0], "load")
        response.raise_for_status()
        ids[name] = response.json()["subject_id"]
    return ids


def _probes(ids: dict[str, str]) -> list[tuple[bytes, str]]:
    """Probe photos with the subject id their top candidate must be."""
    probes = [
        ((KNN / "test" / "obama1.jpg").read_bytes(), ids["obama"]),
        ((KNN / "test" / "alex_lacamoire1.jpg").read_bytes(), ids["alex_lacamoire"]),
        ((KNN / "test" / "johnsnow_test1.jpg").read_bytes(), ids["kit_harington"]),
    ]
    for person in sorted(JOHNS.iterdir()):
        probes.append((sorted(person.glob("*.jpg"))[-1].read_bytes(), ids[person.name]))
    return probes


def _client_loop(
    url: str,
    key: str,
    probes: list[tuple[bytes, str]],
    stop: float,
    level: Level,
    lock: threading.Lock,
) -> None:
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=120) as client:
        i = 0
        while time.perf_counter() < stop:
            image, expected = probes[i % len(probes)]
            i += 1
            started = time.perf_counter()
            response = client.post(
                "/v1/identify",
                data={"watchlist": "load"},
                files={"file": ("probe.jpg", image, "image/jpeg")},
            )
            elapsed = time.perf_counter() - started
            ok = response.status_code == 200
            if ok:
                faces = response.json()["faces"]
                ok = bool(faces) and any(
                    f["candidates"] and f["candidates"][0]["subject_id"] == expected for f in faces
                )
            with lock:
                level.latencies.append(elapsed)
                level.errors += 0 if ok else 1


def _enroll_loop(url: str, key: str, stop: float, level: Level, tag: str) -> None:
    photos = [p for person in sorted(JOHNS.iterdir()) for p in sorted(person.glob("*.jpg"))[3:6]]
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=120) as client:
        i = 0
        while time.perf_counter() < stop:
            response = _enroll(
                client, f"enrolled under load {tag}-{i}", photos[i % len(photos)], "enrolled"
            )
            i += 1
            if response.status_code == 201:
                level.acknowledged.append(response.json()["subject_id"])


def run_level(
    url: str, key: str, pid: int, probes: list[tuple[bytes, str]], clients: int, seconds: float
) -> Level:
    """One level: ``clients`` identify loops and one enrollment loop for ``seconds``."""
    level, lock = Level(clients, seconds), threading.Lock()
    stop = time.perf_counter() + seconds
    threads = [
        threading.Thread(target=_client_loop, args=(url, key, probes, stop, level, lock))
        for _ in range(clients)
    ]
    threads.append(
        threading.Thread(target=_enroll_loop, args=(url, key, stop, level, str(clients)))
    )
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=60) as client:
        level.lost = sum(
            client.get(f"/v1/subjects/{sid}").status_code != 200 for sid in level.acknowledged
        )
    level.peak_rss_mib = _peak_rss_mib(pid)
    return level


def _report(level: Level) -> str:
    latencies = sorted(level.latencies)
    p50 = statistics.median(latencies) * 1000 if latencies else float("nan")
    p99 = (
        latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] * 1000
        if latencies
        else float("nan")
    )
    return (
        f"{level.clients:>7} {len(latencies):>8} {len(latencies) / level.seconds:>8.1f} "
        f"{p50:>8.0f} {p99:>8.0f} {level.errors:>6} {len(level.acknowledged):>9} "
        f"{level.lost:>5} {level.peak_rss_mib:>9.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--seconds", type=float, default=10.0, help=f"per level, at most {MAX_SECONDS}"
    )
    parser.add_argument("--clients", default="1,4,16", help="comma-separated concurrency levels")
    args = parser.parse_args()
    if not 0 < args.seconds <= MAX_SECONDS:
        parser.error(f"--seconds must be in (0, {MAX_SECONDS}]")
    if not JOHNS.is_dir():
        sys.exit(f"the shared photos are missing: {FACES}")
    with tempfile.TemporaryDirectory(prefix="facewarden-load-") as root:
        port = _free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("FACEWARDEN_")}
        server = subprocess.Popen(
            [sys.executable, "-c", _SERVER, root, str(port)],
            stdout=subprocess.PIPE, text=True, env=env,
        )  # fmt: skip
        try:
            assert server.stdout is not None
            key = json.loads(server.stdout.readline())["key"]
            url = f"http://127.0.0.1:{port}"
            _wait_until_up(url, server)
            with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=120) as client:
                started = time.perf_counter()
                ids = _gallery(client)
                took = time.perf_counter() - started
                print(f"gallery: {len(ids)} subjects enrolled over HTTP in {took:.1f} s")
            probes = _probes(ids)
            run_level(url, key, server.pid, probes, 1, min(2.0, args.seconds))  # warm-up
            print(f"{os.cpu_count()} CPUs; {args.seconds:g} s per level; identify, fast mode")
            print(
                " clients requests    req/s  p50(ms)  p99(ms) errors  enrolled  lost  peakRSS(MiB)"
            )
            for clients in (int(c) for c in args.clients.split(",")):
                print(
                    _report(run_level(url, key, server.pid, probes, clients, args.seconds)),
                    flush=True,
                )
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
