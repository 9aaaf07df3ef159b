"""Feed latency and memory benchmark (issue: the feed engine).

Builds a snapshot from a database, saves it, loads it back memory-mapped, then times
``Recommender.feed`` in process for a fixed mix of warm users (with history) and cold
users (anonymous, 0, unknown ids), one request at a time on one core.

    .venv/bin/python bench/feed_latency.py --database-url sqlite:///var/pitchrec-demo.db

Prints one JSON object: build and load times, p50/p90/p99 latency per feed kind, RSS.
BLAS threads are pinned to 1 before numpy is imported, so the numbers are one core's.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from pitchrec.domain.feed import FeedKind, FeedRequest  # noqa: E402
from pitchrec.index import snapshot as snapshot_files  # noqa: E402
from pitchrec.index.build import build_snapshot  # noqa: E402
from pitchrec.index.snapshot import load as load_snapshot  # noqa: E402
from pitchrec.service import Recommender  # noqa: E402
from pitchrec.sources.database import make_engine  # noqa: E402
from pitchrec.sources.loaders import load_sources  # noqa: E402


def rss_mb() -> float:
    """Current resident set size of this process, MB (from /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def user_mix(recommender: Recommender, n: int, warm_fraction: float, seed: int) -> list[int | None]:
    """A fixed, seeded mix: warm ids drawn from users with history, cold ones from
    None, 0 and ids that do not exist."""
    rng = np.random.default_rng(seed)
    warm_ids = np.asarray(recommender.snapshot.users.history_users)
    users: list[int | None] = []
    for i in range(n):
        if warm_ids.size and rng.random() < warm_fraction:
            users.append(int(rng.choice(warm_ids)))
        else:
            users.append([None, 0, 10**12 + i][i % 3])
    return users


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    values = np.asarray(samples_ms)
    return {
        "p50_ms": round(float(np.percentile(values, 50)), 3),
        "p90_ms": round(float(np.percentile(values, 90)), 3),
        "p99_ms": round(float(np.percentile(values, 99)), 3),
        "mean_ms": round(float(values.mean()), 3),
        "n": int(values.size),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--requests", type=int, default=2000, help="per feed kind")
    parser.add_argument("--warm-fraction", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    baseline_rss = rss_mb()
    engine = make_engine(args.database_url)
    started = time.perf_counter()
    source = load_sources(engine)
    load_seconds = time.perf_counter() - started
    engine.dispose()
    started = time.perf_counter()
    built = build_snapshot(source)
    build_seconds = time.perf_counter() - started
    with tempfile.TemporaryDirectory() as tmp:
        directory = snapshot_files.save(built, Path(tmp) / "snapshot")
        del built, source
        before_load_rss = rss_mb()
        started = time.perf_counter()
        recommender = Recommender(load_snapshot(directory))
        disk_load_seconds = time.perf_counter() - started
        users = user_mix(recommender, args.requests, args.warm_fraction, args.seed)
        latency: dict[str, dict[str, float]] = {}
        for kind in FeedKind:
            for user in users[:50]:  # warm-up: page in the mapped arrays, fill caches
                recommender.feed(FeedRequest(kind=kind, user_id=user))
            samples: list[float] = []
            sizes: list[int] = []
            for i, user in enumerate(users):
                request = FeedRequest(kind=kind, user_id=user, seed=args.seed + i)
                t0 = time.perf_counter_ns()
                feed = recommender.feed(request)
                samples.append((time.perf_counter_ns() - t0) / 1e6)
                sizes.append(len(feed.items))
            latency[kind.value] = percentiles(samples) | {"mean_items": float(np.mean(sizes))}
        serving_rss = rss_mb()
    snapshot = recommender.snapshot
    result = {
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, {platform.python_version()}",
        "resumes": len(snapshot.resumes),
        "challenges": len(snapshot.challenges),
        "users_with_history": int(snapshot.users.history_users.shape[0]),
        "load_from_database_s": round(load_seconds, 3),
        "build_s": round(build_seconds, 3),
        "load_snapshot_from_disk_s": round(disk_load_seconds, 4),
        "latency": latency,
        "rss_baseline_mb": round(baseline_rss, 1),
        "rss_snapshot_and_serving_mb": round(serving_rss - before_load_rss, 1),
        "rss_serving_mb": round(serving_rss, 1),
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
