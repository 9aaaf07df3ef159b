"""Feed p50 on a saved snapshot, in process, one core: the quick A/B of an engine change.

Loads a snapshot directory (``pitchrec`` saves one with ``serve --snapshot`` or
``index.snapshot.save``), serves 20 warm-up and then ``--requests`` total feeds (70 % warm
users drawn from the snapshot's histories, 30 % anonymous) with ``Recommender.feed`` and
prints the p50 and p90 in ms. Run the old and the new code alternately, several rounds,
and compare medians (the machine is shared and noisy). ``--retrieval-candidates N``
overrides the service's candidate-retrieval budget (0: exact scoring, every resume
ranked; the default: the service's, which retrieves beyond that many available resumes).

    .venv/bin/python bench/snapshot_feed_p50.py /tmp/snap20 [--profile] [--retrieval-candidates 0]
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import cProfile  # noqa: E402
import pstats  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from pitchrec.domain.feed import FeedKind, FeedRequest  # noqa: E402
from pitchrec.index.snapshot import load  # noqa: E402
from pitchrec.ranking.options import RankingOptions  # noqa: E402
from pitchrec.service import Recommender  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("snapshot", type=Path)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--profile", action="store_true", help="cProfile 150 more feeds")
    parser.add_argument(
        "--retrieval-candidates", type=int, default=None, help="0: exact (default: service's)"
    )
    args = parser.parse_args()
    snapshot = load(args.snapshot)
    options = RankingOptions.service()
    if args.retrieval_candidates is not None:
        options = replace(options, retrieval_candidates=args.retrieval_candidates)
    recommender = Recommender(snapshot, options=options)
    users = np.asarray(snapshot.users.history_users)
    rng = np.random.default_rng(1)
    requests = [
        FeedRequest(FeedKind.TOTAL, int(user) if i % 10 < 7 else None, seed=i)
        for i, user in enumerate(rng.choice(users, args.requests))
    ]
    for request in requests[:20]:
        recommender.feed(request)
    times = []
    for request in requests:
        started = time.perf_counter()
        recommender.feed(request)
        times.append(time.perf_counter() - started)
    print(f"p50 ms {1000 * np.median(times):.2f} p90 {1000 * np.percentile(times, 90):.2f}")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        for request in requests[:150]:
            recommender.feed(request)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(18)


if __name__ == "__main__":
    main()
