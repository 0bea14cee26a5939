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
import os
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field

import httpx

from _loopback import FACES, JOHNS, KNN, enroll, memory_mib, served

MAX_SECONDS = 60


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
        response = enroll(client, name, photos[0], "load", "load test")
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
            response = enroll(
                client,
                f"enrolled under load {tag}-{i}",
                photos[i % len(photos)],
                "enrolled",
                "load test",
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
    level.peak_rss_mib = memory_mib(pid, "VmHWM")
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
    with served("load") as server:
        with server.client() as client:
            started = time.perf_counter()
            ids = _gallery(client)
            took = time.perf_counter() - started
            print(f"gallery: {len(ids)} subjects enrolled over HTTP in {took:.1f} s")
        probes = _probes(ids)
        url, key, pid = server.url, server.key, server.pid
        run_level(url, key, pid, probes, 1, min(2.0, args.seconds))  # warm-up
        print(f"{os.cpu_count()} CPUs; {args.seconds:g} s per level; identify, fast mode")
        print(" clients requests    req/s  p50(ms)  p99(ms) errors  enrolled  lost  peakRSS(MiB)")
        for clients in (int(c) for c in args.clients.split(",")):
            print(_report(run_level(url, key, pid, probes, clients, args.seconds)), flush=True)


if __name__ == "__main__":
    main()
