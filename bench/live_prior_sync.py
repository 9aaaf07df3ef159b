"""What the live prior's shared per-resume statistics cost a replica.

Fills the statistics of ``--resumes`` resumes (one reward each, 20 % of them likes), then
times, medians over ``--rounds``: one sync (publish one more event, read every resume's two
fields, rebuild the serving table; what the feedback loop does every
``ITEMS_SYNC_SECONDS``), one batch of 64 events learned locally (``observe_many``), and
the corrected prior's statistics over that many resumes (the rate-on-prior regression and
the shrinkage, computed once per sync by the first feed after it).

    .venv/bin/python bench/live_prior_sync.py --resumes 2000 --store redis
    .venv/bin/python bench/live_prior_sync.py --resumes 40000 --store memory

``--store redis`` uses database 15 of ``--redis-url`` and flushes it first and last.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from pitchrec.learning.learner import PolicyLearner
from pitchrec.ranking.live_prior import NAMESPACE, expected_rewards, item_policy, pseudo_rewards
from pitchrec.tracking.memory_store import MemoryStore
from pitchrec.tracking.store import TrackingStore


def _store(kind: str, url: str) -> tuple[TrackingStore, object]:
    if kind == "memory":
        return MemoryStore(), None
    import redis

    from pitchrec.tracking.redis_store import RedisStore

    client = redis.Redis.from_url(url, db=15, decode_responses=True)
    client.flushdb()
    return RedisStore(client), client


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resumes", type=int, default=2000)
    parser.add_argument("--store", choices=("memory", "redis"), default="memory")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379")
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    store, client = _store(args.store, args.redis_url)
    learner = PolicyLearner(store, item_policy, namespace=NAMESPACE)
    pool = learner.pools[0]
    rng = np.random.default_rng(0)
    ids = np.arange(1, args.resumes + 1, dtype=np.int64)
    learner.observe_many(pool, ids, (rng.random(ids.shape[0]) < 0.2).astype(np.float64))
    learner.sync()
    syncs, batches, corrections = [], [], []
    prior = rng.random(ids.shape[0])
    events = rng.integers(1, 200, size=ids.shape[0]).astype(np.float64)
    rewards = rng.binomial(events.astype(np.int64), 0.02 * np.exp(2.0 * prior)).astype(float)
    for _ in range(args.rounds):
        learner.observe_many(pool, ids[:1], np.ones(1))
        started = time.perf_counter()
        learner.sync()
        syncs.append(time.perf_counter() - started)
        batch = rng.choice(ids, 64)
        started = time.perf_counter()
        learner.observe_many(pool, batch, (rng.random(64) < 0.2).astype(np.float64))
        batches.append(time.perf_counter() - started)
        started = time.perf_counter()
        pseudo_rewards(rewards, expected_rewards(prior, rewards, events), events)
        corrections.append(time.perf_counter() - started)
    print(
        f"{args.store}, {args.resumes} resumes: sync {statistics.median(syncs) * 1e3:.1f} ms, "
        f"64 events {statistics.median(batches) * 1e3:.2f} ms, "
        f"corrected prior's statistics {statistics.median(corrections) * 1e3:.2f} ms "
        f"(medians of {args.rounds})"
    )
    if client is not None:
        client.flushdb()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
