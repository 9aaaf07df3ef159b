"""What shadow mode costs the feeds it does not shadow, and the ones it does.

Times ``Recommender.serve`` (in process, in-process store, tracking included) one request
at a time for a fixed seeded mix of users, with shadow mode off and at several rates; the
shadow logs are computed by the service's background thread, as in the server. Requests
arrive back to back (``--pace 0``: the worst case, the shadow thread always competing for
the GIL) or every ``--pace`` seconds.

    .venv/bin/python bench/shadow_latency.py --database-url sqlite:///var/world-s1.db \
        --rates 0,0.01,1 --requests 2000 --pace 0.01

Prints one JSON object per rate: p50/p90/p99 serve latency, shadow logs written and
dropped, and the background seconds per shadow log.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from pitchrec.domain.feed import FeedKind, FeedRequest  # noqa: E402
from pitchrec.index.build import build_snapshot  # noqa: E402
from pitchrec.index.snapshot import Snapshot  # noqa: E402
from pitchrec.ranking.shadow import ShadowConfig, parse_candidate  # noqa: E402
from pitchrec.service import RequestInfo, ServiceConfig, build_service  # noqa: E402
from pitchrec.sources.database import make_engine  # noqa: E402
from pitchrec.sources.loaders import load_sources  # noqa: E402
from pitchrec.tracking.memory_store import MemoryStore  # noqa: E402


def users(snapshot: Snapshot, n: int, seed: int) -> list[int | None]:
    rng = np.random.default_rng(seed)
    warm = np.asarray(snapshot.users.history_users)
    return [int(rng.choice(warm)) if rng.random() < 0.7 else None for _ in range(n)]


def run(snapshot: Snapshot, rate: float, args: argparse.Namespace) -> dict[str, object]:
    shadow = None
    if rate > 0:
        shadow = ShadowConfig(
            parse_candidate(args.candidate), rate=rate, draws=args.draws, cpu_share=args.cpu_share
        )
    service = build_service(ServiceConfig(shadow=shadow), MemoryStore(), snapshot=snapshot)
    recommender = service.recommender
    assert recommender is not None
    who = users(snapshot, args.requests + args.warmup, args.seed)
    samples: list[float] = []
    for i, user in enumerate(who):
        request = FeedRequest(FeedKind.DISCOVER, user, size=24)
        info = RequestInfo(f"bench-{rate}-{i}", "v1/discover", user)
        started = time.perf_counter()
        recommender.serve(request, info)
        elapsed = time.perf_counter() - started
        if i >= args.warmup:
            samples.append(elapsed * 1000.0)
        if args.pace > 0:
            time.sleep(max(0.0, args.pace - elapsed))
    counters = service.counters()
    service.stop()
    values = np.asarray(samples)
    logged = counters.get("shadow_logged", 0.0)
    return {
        "rate": rate,
        "draws": args.draws,
        "cpu_share": args.cpu_share,
        "pace_s": args.pace,
        "requests": len(samples),
        "p50_ms": round(float(np.percentile(values, 50)), 3),
        "p90_ms": round(float(np.percentile(values, 90)), 3),
        "p99_ms": round(float(np.percentile(values, 99)), 3),
        "mean_ms": round(float(values.mean()), 3),
        "shadow_sampled": counters.get("shadow_sampled", 0.0),
        "shadow_logged": logged,
        "shadow_dropped": counters.get("shadow_dropped", 0.0),
        "shadow_errors": counters.get("shadow_errors", 0.0),
        "shadow_ms_per_log": (
            round(1000.0 * counters.get("shadow_seconds", 0.0) / logged, 1) if logged else None
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--rates", default="0,0.01,1")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--warmup", type=int, default=100)
    parser.add_argument("--pace", type=float, default=0.0, help="Seconds between requests.")
    parser.add_argument("--draws", type=int, default=16)
    parser.add_argument("--candidate", default="@collaborative=0@popularity_prior=0")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--cpu-share", type=float, default=0.1, help="ShadowConfig.cpu_share")
    args = parser.parse_args()
    engine = make_engine(args.database_url)
    snapshot = build_snapshot(load_sources(engine))
    engine.dispose()
    for rate in (float(r) for r in args.rates.split(",")):
        print(json.dumps(run(snapshot, rate, args)), flush=True)


if __name__ == "__main__":
    main()
