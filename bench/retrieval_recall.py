"""Recall of candidate retrieval on a saved snapshot: how much of what exact scoring puts
in each pool (and in the feed) the retrieved universe holds.

For each request (70 % warm users drawn from the snapshot's histories, 30 % anonymous,
total feeds, the service's options) the exact feed is computed with its VMP, NU and AU
pools, then the universe :func:`pitchrec.ranking.retrieval.retrieve` builds for the same
user; printed per budget: the universe's mean size, the share of each exact pool's
candidates in it (NU without its fresh tail), of the exact fresh tail, of the exact
feed's ranked items (not EXPLORE, not guaranteed-fresh), and the mean time of
``retrieve``. ``--blend a,p`` scores with policies whose learned blend has turned to
(a, p) points (the options keep 30 / 60); ``--trained`` after 400 rewards on random
contexts that pay for skill similarity (column 5: the learned term in play); ``--drop
source`` zeroes the share of each named source (an ablation).

    .venv/bin/python bench/retrieval_recall.py /tmp/snap20 --budgets 2000,3000
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

import pitchrec.ranking.engine as engine  # noqa: E402
from pitchrec.domain.feed import FeedKind, FeedRequest, ItemKind, Pool  # noqa: E402
from pitchrec.index.snapshot import load  # noqa: E402
from pitchrec.ranking import retrieval  # noqa: E402
from pitchrec.ranking.assemble import FeedAssembler  # noqa: E402
from pitchrec.ranking.options import RankingOptions  # noqa: E402
from pitchrec.ranking.pool_policies import DEFAULT_REWARD_SCALE, legacy_pool_policies  # noqa: E402
from pitchrec.ranking.user_context import user_context  # noqa: E402

_captured: dict[str, Any] = {}


class _Capture(FeedAssembler):
    """The engine's assembler, keeping the pools it is given."""

    def __init__(self, resumes: Any, challenges: Any, pools: Any, size: int, fresh: Any = None):
        _captured["pools"], _captured["fresh"] = pools, fresh
        super().__init__(resumes, challenges, pools, size, fresh=fresh)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("snapshot", type=Path)
    parser.add_argument("--budgets", default="1000,2000,3000")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--blend", default="", help="learned blend points a,p of the policies")
    parser.add_argument("--drop", default="", help="comma-separated sources to zero")
    parser.add_argument("--trained", action="store_true", help="policies after feedback")
    args = parser.parse_args()
    for source in filter(None, args.drop.split(",")):
        retrieval.SHARES[source] = 0.0
    setattr(engine, "FeedAssembler", _Capture)  # noqa: B010 - the engine looks it up by name
    snapshot = load(args.snapshot)
    options = RankingOptions.service()
    blend: tuple[float, float] | None = None
    if args.blend:
        points, prior = (float(x) for x in args.blend.split(","))
        blend = (points, prior)
    policies = legacy_pool_policies(DEFAULT_REWARD_SCALE, blend or options.blend_prior())
    if args.trained:
        contexts = np.random.default_rng(2).random((400, 20))
        for policy in policies.values():
            policy.update(contexts, np.arange(400), (contexts[:, 5] > 0.6).astype(np.float64))
    users = np.asarray(snapshot.users.history_users)
    rng = np.random.default_rng(1)
    requests = [
        FeedRequest(FeedKind.TOTAL, int(user) if i % 10 < 7 else None, seed=i)
        for i, user in enumerate(rng.choice(users, args.requests))
    ]
    exact = replace(options, retrieval_candidates=0)
    runs = []
    for request in requests:
        now = time.time()
        request = replace(request, now=now)
        feed = engine.recommend(snapshot, request, policies, options=exact)
        pools, fresh = _captured["pools"], _captured["fresh"]
        user = user_context(snapshot, request.user_id, declared=options.declared_skills)
        available = engine._mask_out(np.asarray(snapshot.resumes.id), user.seen_resumes)
        runs.append((request, feed, pools, fresh, user, available, now))
    print(f"{len(snapshot.resumes)} resumes, {len(requests)} requests, blend {blend}", end="")
    print(", trained policies" if args.trained else "")
    print("budget  size   vmp    nu     tail   au     feed   retrieve ms")
    for budget in (int(b) for b in args.budgets.split(",")):
        sizes, recall, times = [], {k: [0, 0] for k in ("vmp", "nu", "tail", "au", "feed")}, []
        budgeted = replace(options, retrieval_candidates=budget)
        for _request, feed, pools, fresh, user, available, now in runs:
            started = time.perf_counter()
            universe = retrieval.retrieve(
                snapshot, user, available, now, budgeted, policies, np.random.default_rng(0)
            )
            times.append(time.perf_counter() - started)
            inside = np.zeros(len(snapshot.resumes), dtype=np.bool_)
            inside[available if universe is None else universe.rows] = True
            sizes.append(int(inside.sum()))
            tail = fresh.nu_tail if fresh is not None else len(pools[Pool.NU])
            parts = {
                "vmp": pools[Pool.VMP].rows,
                "nu": pools[Pool.NU].rows[:tail],
                "tail": pools[Pool.NU].rows[tail:],
                "au": pools[Pool.AU].rows,
                "feed": np.asarray(
                    [
                        snapshot.resumes.row_of(item.item_id)
                        for item in feed.items
                        if item.kind is ItemKind.RESUME
                        and item.pool is not Pool.EXPLORE
                        and not item.fresh_guaranteed
                    ],
                    dtype=np.int64,
                ),
            }
            for key, rows in parts.items():
                recall[key][0] += int(inside[rows].sum())
                recall[key][1] += int(rows.shape[0])
        shares = "  ".join(f"{hit / max(total, 1):.3f}" for hit, total in recall.values())
        print(f"{budget:6d}  {np.mean(sizes):5.0f}  {shares}  {1000 * np.mean(times):.2f}")


if __name__ == "__main__":
    main()
