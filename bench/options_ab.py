"""Paired feed latency of two ranking option sets on one snapshot (issue 13).

Runs-apart comparisons on a shared machine drift with its load; this one builds one
snapshot and times the service defaults against a baseline (the defaults with
``--baseline`` assignments, by default the round-2 candidate changes off), request by
request, alternating which goes first, so both see the same load.

    .venv/bin/python bench/options_ab.py --database-url sqlite:////tmp/world20.db \
        --baseline au_shares_candidates=0 boost_new=0

Prints one JSON object: p50/p99 per feed kind and arm, and the median of the paired
differences (service minus baseline), ms.
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
from pitchrec.ranking.options import RankingOptions  # noqa: E402
from pitchrec.service import Recommender  # noqa: E402
from pitchrec.sources.database import make_engine  # noqa: E402
from pitchrec.sources.loaders import load_sources  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--requests", type=int, default=300, help="per feed kind and arm")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--baseline", nargs="+", default=["au_shares_candidates=0", "boost_new=0"])
    args = parser.parse_args()

    snapshot = build_snapshot(load_sources(make_engine(args.database_url)))
    service = RankingOptions.service()
    baseline = service.overridden(args.baseline)
    arms = {"service": Recommender(snapshot, options=service)}
    arms["baseline"] = Recommender(snapshot, options=baseline)
    rng = np.random.default_rng(args.seed)
    warm = np.asarray(snapshot.users.history_users)
    users: list[int | None] = [
        int(rng.choice(warm)) if rng.random() < 0.7 else [None, 0, 10**12 + i][i % 3]
        for i in range(args.requests)
    ]
    result: dict[str, dict[str, float]] = {}
    for kind in (FeedKind.TOTAL, FeedKind.DISCOVER):
        for recommender in arms.values():
            for user in users[:50]:
                recommender.feed(FeedRequest(kind=kind, user_id=user))
        samples: dict[str, list[float]] = {name: [] for name in arms}
        for i, user in enumerate(users):
            order = list(arms) if i % 2 == 0 else list(arms)[::-1]
            for name in order:
                request = FeedRequest(kind=kind, user_id=user, seed=args.seed + i)
                t0 = time.perf_counter_ns()
                arms[name].feed(request)
                samples[name].append((time.perf_counter_ns() - t0) / 1e6)
        for name, values in samples.items():
            result[f"{kind.value}/{name}"] = {
                "p50_ms": round(float(np.percentile(values, 50)), 3),
                "p99_ms": round(float(np.percentile(values, 99)), 3),
            }
        difference = np.subtract(samples["service"], samples["baseline"])
        result[f"{kind.value}/paired_difference"] = {
            "median_ms": round(float(np.median(difference)), 3)
        }
    summary = {"resumes": len(snapshot.resumes), "baseline": args.baseline, "latency": result}
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
