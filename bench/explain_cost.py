"""What explanations cost (issue 14, item 3: ``GET /v1/feed/{kind}?explain=true``).

Builds a snapshot from a database, then serves the same requests (user, seed) with and
without ``explain``, alternating in pairs so a noisy shared machine drifts on both alike,
one request at a time on one core (BLAS pinned to one thread), through
``Recommender.feed`` with the service's defaults (policies at the prior). Times two
things per request: the feed alone, and the feed plus the v1 response body (pydantic
model, JSON bytes), which is where an explanation's extra bytes are made.

    .venv/bin/python bench/explain_cost.py --database-url sqlite:///var/w-collab.db

Prints one JSON object: medians and p90 per kind, with and without, and the median of
the paired ratios.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import orjson  # noqa: E402

from pitchrec.api.v1 import WITHOUT_EXPLANATIONS, FeedOut  # noqa: E402
from pitchrec.domain.feed import FeedKind, FeedRequest  # noqa: E402
from pitchrec.index.build import build_snapshot  # noqa: E402
from pitchrec.service import Recommender  # noqa: E402
from pitchrec.sources.database import make_engine  # noqa: E402
from pitchrec.sources.loaders import load_sources  # noqa: E402


def _users(recommender: Recommender, n: int, warm_fraction: float, seed: int) -> list[int | None]:
    """The seeded warm/cold mix of bench/feed_latency.py."""
    rng = np.random.default_rng(seed)
    warm_ids = np.asarray(recommender.snapshot.users.history_users)
    users: list[int | None] = []
    for i in range(n):
        if warm_ids.size and rng.random() < warm_fraction:
            users.append(int(rng.choice(warm_ids)))
        else:
            users.append([None, 0, 10**12 + i][i % 3])
    return users


def _serve(recommender: Recommender, request: FeedRequest) -> tuple[float, float, int]:
    """(feed ms, feed + body ms, body bytes) of one request."""
    t0 = time.perf_counter_ns()
    feed = recommender.feed(request)
    t1 = time.perf_counter_ns()
    body = FeedOut.from_feed(feed, "bench", recommender.snapshot.built_at)
    exclude = None if request.explain else WITHOUT_EXPLANATIONS
    data = orjson.dumps(body.model_dump(mode="json", exclude=exclude))
    t2 = time.perf_counter_ns()
    return (t1 - t0) / 1e6, (t2 - t0) / 1e6, len(data)


def _summary(values: list[float]) -> dict[str, float]:
    array = np.asarray(values)
    return {
        "p50_ms": round(float(np.median(array)), 3),
        "p90_ms": round(float(np.percentile(array, 90)), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--requests", type=int, default=1000, help="pairs per feed kind")
    parser.add_argument("--warm-fraction", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    engine = make_engine(args.database_url)
    snapshot = build_snapshot(load_sources(engine))
    engine.dispose()
    recommender = Recommender(snapshot)
    users = _users(recommender, args.requests, args.warm_fraction, args.seed)
    result: dict[str, object] = {
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, {platform.python_version()}",
        "resumes": len(snapshot.resumes),
        "challenges": len(snapshot.challenges),
        "pairs_per_kind": args.requests,
    }
    for kind in FeedKind:
        for user in users[:50]:  # warm-up: caches, lazy imports, the explain module
            for explain in (False, True):
                _serve(recommender, FeedRequest(kind=kind, user_id=user, explain=explain))
        times: dict[bool, list[tuple[float, float, int]]] = {False: [], True: []}
        for i, user in enumerate(users):
            order = (False, True) if i % 2 == 0 else (True, False)
            for explain in order:
                request = FeedRequest(kind=kind, user_id=user, seed=args.seed + i, explain=explain)
                times[explain].append(_serve(recommender, request))
        feed_ratio = [on[0] / off[0] for on, off in zip(times[True], times[False], strict=True)]
        body_ratio = [on[1] / off[1] for on, off in zip(times[True], times[False], strict=True)]
        result[kind.value] = {
            "feed_without": _summary([t[0] for t in times[False]]),
            "feed_with": _summary([t[0] for t in times[True]]),
            "feed_and_body_without": _summary([t[1] for t in times[False]]),
            "feed_and_body_with": _summary([t[1] for t in times[True]]),
            "median_paired_ratio_feed": round(float(np.median(feed_ratio)), 3),
            "median_paired_ratio_feed_and_body": round(float(np.median(body_ratio)), 3),
            "body_bytes_without": int(np.median([t[2] for t in times[False]])),
            "body_bytes_with": int(np.median([t[2] for t in times[True]])),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
