"""Soak: the real server on loopback under a mixed load at rising concurrency, for a bounded time.

    .venv/bin/python benchmarks/soak.py --minutes 20                 # the long run
    .venv/bin/python benchmarks/soak.py --minutes 3 --out soak-out   # a validation run

The server (``create_app`` under uvicorn, configured as ``facewarden serve``
configures it) runs in its own process on a fresh deployment. A gallery of real
people is enrolled (face_recognition's knn people and dlib's johns), then the
time is split into stages of 1, 2, 4 and 8 concurrent clients (``--stages``).
Each client repeats a weighted mix of what a site does all day:

    identify 30%   verify 15%   enroll 10%   pushed camera frames 20%
    sighting queries 10%   console sessions 15% (sign in, /me, the console page,
    a subject page, sign out)

Every request's status and latency are kept. Afterwards every enrollment the
server acknowledged (201) is read back: a missing one is lost. The server's
resident memory (VmRSS) is sampled every 5 s.

Verdict (exit 1 when any fails): no 5xx at all; no enrollment lost; memory flat
after warm-up. Memory rightly grows with concurrency (more requests in flight,
a malloc arena per busy thread), so flatness is judged at constant load: the
warm-up is everything up to the middle of the last (busiest) stage, and the
highest RSS of that stage's second half must stay within the larger of +10%
and +64 MiB of the highest RSS of its first half. Other 4xx answers (none
expected) are counted as errors and reported.

Prints one table per stage (requests, requests/s, p50 and p99 latency per
operation and overall, 5xx, errors, RSS) and the RSS samples, and writes the
samples and a PNG plot (throughput, p99 latency and RSS over time) into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from _loopback import JOHNS, KNN, enroll, memory_mib, served

MAX_MINUTES = 30
USERNAME, PASSWORD = "soakoperator", "soak-test-password-0123"
MIX = {
    "identify": 30,
    "verify": 15,
    "enroll": 10,
    "frame": 20,
    "sightings": 10,
    "console": 15,
}


@dataclass
class Sample:
    """One request."""

    at: float
    op: str
    status: int
    seconds: float
    stage: int


@dataclass
class Soak:
    """Everything measured."""

    samples: list[Sample] = field(default_factory=list)
    rss: list[tuple[float, float, int]] = field(default_factory=list)  # (t, MiB, stage)
    acknowledged: list[str] = field(default_factory=list)
    lost: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, sample: Sample) -> None:
        with self.lock:
            self.samples.append(sample)


def _setup(client: httpx.Client) -> tuple[list[tuple[bytes, str]], list[str]]:
    """The gallery, two pushed cameras; (probe bytes, expected subject) pairs and camera names."""
    for watchlist in ("soak", "enrolled"):
        client.post(
            "/v1/watchlists",
            json={"name": watchlist, "purpose": "soak test", "lawful_basis": "test"},
        ).raise_for_status()
    people = {p.name: sorted(p.iterdir())[:3] for p in sorted((KNN / "train").iterdir())}
    people |= {p.name: sorted(p.glob("*.jpg"))[:3] for p in sorted(JOHNS.iterdir())}
    ids = {}
    for name, photos in people.items():
        # The first photo with exactly one usable face (some show a second person).
        for photo in photos:
            response = enroll(client, name, photo, "soak", "soak test")
            if response.status_code == 201:
                ids[name] = response.json()["subject_id"]
                break
            if response.status_code != 400:
                raise SystemExit(f"enrolling {name} failed: {response.status_code} {response.text}")
    probes = [
        ((KNN / "test" / f"{name}1.jpg").read_bytes(), ids[name])
        for name in ("obama", "alex_lacamoire")
        if name in ids
    ]
    probes += [
        (sorted(p.glob("*.jpg"))[-1].read_bytes(), ids[p.name])
        for p in sorted(JOHNS.iterdir())
        if p.name in ids
    ]
    cameras = []
    for name in ("lobby", "gate"):
        client.post(
            "/v1/cameras",
            json={
                "name": name,
                "location": f"soak {name}",
                "watchlists": ["soak"],
                "source": "push",
            },
        ).raise_for_status()
        cameras.append(name)
    return probes, cameras


class Client:
    """One simulated client: its own connections, a random walk through the mix."""

    def __init__(
        self, url: str, key: str, probes: list[tuple[bytes, str]], cameras: list[str], seed: int
    ) -> None:
        self.http = httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=120)
        self.url = url
        self.probes, self.cameras = probes, cameras
        self.rng = random.Random(seed)
        self.enrolled = 0
        self.photos = [p for d in sorted(JOHNS.iterdir()) for p in sorted(d.glob("*.jpg"))[1:6]]

    def one(self, soak: Soak, stage: int) -> None:
        op = self.rng.choices(list(MIX), weights=list(MIX.values()))[0]
        image, expected = self.rng.choice(self.probes)
        started = time.perf_counter()
        status = getattr(self, f"_{op}")(soak, image, expected)
        soak.add(Sample(time.time(), op, status, time.perf_counter() - started, stage))

    def _identify(self, soak: Soak, image: bytes, expected: str) -> int:
        response = self.http.post(
            "/v1/identify",
            data={"watchlist": "soak", "purpose": "soak"},
            files={"file": ("probe.jpg", image, "image/jpeg")},
        )
        if response.status_code == 200:
            tops = [
                f["candidates"][0]["subject_id"]
                for f in response.json()["faces"]
                if f["candidates"]
            ]
            return 200 if expected in tops else 299  # 299: answered, but the wrong person
        return response.status_code

    def _verify(self, soak: Soak, image: bytes, expected: str) -> int:
        response = self.http.post(
            "/v1/verify",
            data={"subject_id": expected, "purpose": "soak"},
            files={"file": ("probe.jpg", image, "image/jpeg")},
        )
        return response.status_code

    def _enroll(self, soak: Soak, image: bytes, expected: str) -> int:
        self.enrolled += 1
        photo = self.photos[self.rng.randrange(len(self.photos))]
        name = f"soak enrolled {id(self)}-{self.enrolled}"
        response = enroll(self.http, name, photo, "enrolled", "soak test")
        if response.status_code == 201:
            with soak.lock:
                soak.acknowledged.append(response.json()["subject_id"])
        return response.status_code

    def _frame(self, soak: Soak, image: bytes, expected: str) -> int:
        camera = self.rng.choice(self.cameras)
        return self.http.post(
            f"/v1/cameras/{camera}/frames", files={"image": ("frame.jpg", image, "image/jpeg")}
        ).status_code

    def _sightings(self, soak: Soak, image: bytes, expected: str) -> int:
        camera = self.rng.choice(self.cameras)
        return self.http.get(
            "/v1/sightings", params={"camera": camera, "watchlist": "soak", "limit": 20}
        ).status_code

    def _console(self, soak: Soak, image: bytes, expected: str) -> int:
        with httpx.Client(base_url=self.url, timeout=60) as browser:
            login = browser.post(
                "/v1/auth/login", json={"username": USERNAME, "password": PASSWORD}
            )
            if login.status_code != 200:
                return login.status_code
            csrf = login.json()["csrf_token"]
            for path in ("/v1/auth/me", "/console/", f"/v1/subjects/{expected}?purpose=soak"):
                page = browser.get(path)
                if page.status_code != 200:
                    return page.status_code
            return browser.post("/v1/auth/logout", headers={"X-CSRF-Token": csrf}).status_code

    def close(self) -> None:
        self.http.close()


def _sample_rss(pid: int, soak: Soak, stop: threading.Event, stage: list[int]) -> None:
    while not stop.wait(5.0):
        soak.rss.append((time.time(), memory_mib(pid), stage[0]))


def run(minutes: float, stages: list[int], out: Path) -> int:
    with served("soak", username=USERNAME, password=PASSWORD) as server:
        url, key = server.url, server.key
        with server.client() as admin:
            probes, cameras = _setup(admin)
        soak, stop, stage_now = Soak(), threading.Event(), [0]
        sampler = threading.Thread(target=_sample_rss, args=(server.pid, soak, stop, stage_now))
        sampler.start()
        started = time.time()
        per_stage = minutes * 60 / len(stages)
        for index, clients in enumerate(stages):
            stage_now[0] = index
            _stage(url, key, probes, cameras, clients, per_stage, soak, index)
            soak.rss.append((time.time(), memory_mib(server.pid), index))
            print(f"stage {index + 1}/{len(stages)} ({clients} clients) done", flush=True)
        stop.set()
        sampler.join()
        with server.client(timeout=60) as admin:
            soak.lost = sum(
                admin.get(f"/v1/subjects/{sid}", params={"purpose": "soak"}).status_code != 200
                for sid in soak.acknowledged
            )
    return _report(soak, stages, started, out)


def _stage(
    url: str,
    key: str,
    probes: list[tuple[bytes, str]],
    cameras: list[str],
    clients: int,
    seconds: float,
    soak: Soak,
    index: int,
) -> None:
    stop_at = time.monotonic() + seconds

    def loop(seed: int) -> None:
        client = Client(url, key, probes, cameras, seed)
        try:
            while time.monotonic() < stop_at:
                client.one(soak, index)
        finally:
            client.close()

    threads = [threading.Thread(target=loop, args=(index * 100 + i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _report(soak: Soak, stages: list[int], started: float, out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    by_stage: dict[int, list[Sample]] = defaultdict(list)
    for sample in soak.samples:
        by_stage[sample.stage].append(sample)
    print(
        f"\n{'stage':>5} {'clients':>7} {'op':<10} {'requests':>8} {'req/s':>7} "
        f"{'p50 ms':>7} {'p99 ms':>7} {'5xx':>4} {'errors':>6}"
    )
    for index, clients in enumerate(stages):
        samples = by_stage[index]
        span = (
            max(1e-9, (max(s.at for s in samples) - min(s.at for s in samples))) if samples else 1
        )
        for op in [*MIX, "all"]:
            chosen = [s for s in samples if op in ("all", s.op)]
            if not chosen:
                continue
            latencies = [s.seconds * 1000 for s in chosen]
            print(
                f"{index + 1:>5} {clients:>7} {op:<10} {len(chosen):>8} {len(chosen) / span:>7.2f} "
                f"{statistics.median(latencies):>7.0f} {_percentile(latencies, 0.99):>7.0f} "
                f"{sum(s.status >= 500 for s in chosen):>4} "
                f"{sum(300 <= s.status < 500 or s.status == 299 for s in chosen):>6}"
            )
    print(f"\n{'minute':>6} {'RSS MiB':>8} {'stage':>5}")
    for at, mib, stage in soak.rss[:: max(1, len(soak.rss) // 40)]:
        print(f"{(at - started) / 60:>6.1f} {mib:>8.0f} {stage + 1:>5}")
    last = [(at, mib) for at, mib, stage in soak.rss if stage == len(stages) - 1]
    middle = (last[0][0] + last[-1][0]) / 2 if last else 0.0
    warm_rss = max((mib for at, mib in last if at <= middle), default=float("nan"))
    end_rss = max((mib for at, mib in last if at > middle), default=float("nan"))
    bound = warm_rss + max(64.0, 0.10 * warm_rss)
    fivexx = sum(s.status >= 500 for s in soak.samples)
    errors = sum(300 <= s.status < 500 or s.status == 299 for s in soak.samples)
    (out / "soak.json").write_text(
        json.dumps(
            {
                "samples": [s.__dict__ for s in soak.samples],
                "rss": soak.rss,
                "acknowledged": len(soak.acknowledged),
                "lost": soak.lost,
            }
        )
    )
    _plot(soak, stages, started, out / "soak.png")
    print(
        f"\n{len(soak.samples)} requests, {fivexx} 5xx, {errors} other errors; "
        f"{len(soak.acknowledged)} enrollments acknowledged, {soak.lost} lost; "
        f"busiest stage's peak RSS {warm_rss:.0f} MiB in its first half, {end_rss:.0f} MiB "
        f"in its second (bound {bound:.0f} MiB); plot: {out / 'soak.png'}"
    )
    failed = fivexx > 0 or soak.lost > 0 or not end_rss <= bound
    print("soak: FAILED" if failed else "soak: OK")
    return 1 if failed else 0


def _plot(soak: Soak, stages: list[int], started: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bucket = 15.0
    buckets: dict[int, list[Sample]] = defaultdict(list)
    for sample in soak.samples:
        buckets[int((sample.at - started) // bucket)].append(sample)
    keys = sorted(buckets)
    minutes = [(k + 0.5) * bucket / 60 for k in keys]
    throughput = [len(buckets[k]) / bucket for k in keys]
    p99 = [_percentile([s.seconds * 1000 for s in buckets[k]], 0.99) for k in keys]
    fig, axes = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    axes[0].plot(minutes, throughput)
    axes[0].set_ylabel("requests/s")
    axes[1].plot(minutes, p99, color="tab:red")
    axes[1].set_ylabel("p99 latency (ms)")
    axes[2].plot(
        [(t - started) / 60 for t, _, _ in soak.rss], [m for _, m, _ in soak.rss], color="tab:green"
    )
    axes[2].set_ylabel("server RSS (MiB)")
    axes[2].set_xlabel("minutes")
    stage_len = (max(minutes) if minutes else 1) / len(stages)
    for axis in axes:
        for i in range(1, len(stages)):
            axis.axvline(i * stage_len, color="grey", linewidth=0.5)
    axes[0].set_title("facewarden soak: clients " + ", ".join(str(c) for c in stages))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=3.0, help=f"at most {MAX_MINUTES}")
    parser.add_argument("--stages", default="1,2,4,8", help="concurrent clients per stage")
    parser.add_argument("--out", type=Path, default=Path("soak-out"))
    args = parser.parse_args()
    if not 0 < args.minutes <= MAX_MINUTES:
        parser.error(f"--minutes must be in (0, {MAX_MINUTES}]")
    stages = [int(s) for s in args.stages.split(",")]
    sys.exit(run(args.minutes, stages, args.out))


if __name__ == "__main__":
    main()
