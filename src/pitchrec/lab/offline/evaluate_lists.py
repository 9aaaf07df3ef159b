"""Every configuration's ranked lists on a split, in this process or in forked workers.

Engine configurations go through the real feed path, built by
:func:`pitchrec.service.build_service` exactly as served, with the request clock at the
cut; the baselines rank plain top-k lists. Each configuration produces, per seed and
evaluated user, a list of ``max(ks)`` items.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pitchrec.domain.feed import FeedRequest, ItemKind, Pool
from pitchrec.lab.offline.baselines import TrainMatrix, make_baseline, top_k
from pitchrec.lab.offline.evaluate_options import OfflineOptions, engine_config
from pitchrec.lab.offline.split import Split
from pitchrec.progress import SILENT, Reporter
from pitchrec.service import build_service
from pitchrec.tracking.memory_store import MemoryStore

Ints = NDArray[np.int64]


@dataclass
class ConfigLists:
    """What one configuration showed: per seed, per evaluated user, the item ids (m,)
    and, for feeds, each item's pool."""

    name: str
    is_feed: bool
    items: list[list[Ints]] = field(default_factory=list)
    pools: list[list[tuple[str, ...]]] = field(default_factory=list)


def _user_sample(split: Split, options: OfflineOptions, seed: int) -> Ints:
    users = split.users
    if options.max_users is None or users.shape[0] <= options.max_users:
        return users
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(users, size=options.max_users, replace=False))


def _baseline_lists(
    name: str, split: Split, train: TrainMatrix, users: Ints, options: OfflineOptions
) -> ConfigLists:
    """The baseline's lists for the seeds ``options.seed_range``."""
    out = ConfigLists(name, is_feed=False)
    items = train.items
    row_of = {int(item): row for row, item in enumerate(items.tolist())}
    size = max(options.cutoffs)
    for seed in options.seed_range:
        baseline = make_baseline(name, train, seed=seed)
        lists = []
        for user in users.tolist():
            rng = np.random.default_rng([seed, user])
            excluded = np.zeros(items.shape[0], dtype=np.bool_)
            seen = [row_of[i] for i in split.seen.get(user, frozenset()) if i in row_of]
            excluded[seen] = True
            lists.append(items[top_k(baseline.scores(user, rng), excluded, size)])
        out.items.append(lists)
    return out


def _engine_lists(name: str, split: Split, users: Ints, options: OfflineOptions) -> ConfigLists:
    out = ConfigLists(name, is_feed=True)
    config = engine_config(name)
    assert config is not None
    service = build_service(config, MemoryStore(), snapshot=split.snapshot)
    recommender = service.recommender
    assert recommender is not None
    size = max(options.cutoffs)
    now = split.source.loaded_at
    for seed in options.seed_range:
        lists, pools = [], []
        for user in users.tolist():
            request = FeedRequest(
                kind=options.kind,
                user_id=user,
                exclude=split.seen.get(user, frozenset()),
                size=size,
                seed=seed,
                now=now,
            )
            feed = recommender.feed(request)
            lists.append(np.asarray([item.item_id for item in feed.items], dtype=np.int64))
            pools.append(tuple(_pool_label(item.pool, item.kind) for item in feed.items))
        out.items.append(lists)
        out.pools.append(pools)
    return out


def _pool_label(pool: Pool, kind: ItemKind) -> str:
    return "FW" if kind is ItemKind.CHALLENGE else pool.value


#: What forked workers read (set before the pool starts, so the split is shared by
#: copy-on-write instead of pickled per task).
_SHARED: dict[str, Any] = {}


def _one_config(name: str, seed: int | None = None) -> ConfigLists:
    split, options, users, train = (
        _SHARED["split"],
        _SHARED["options"],
        _SHARED["users"],
        _SHARED["train"],
    )
    options = replace(options, only_seed=seed)
    if engine_config(name) is not None:
        return _engine_lists(name, split, users, options)
    return _baseline_lists(name, split, train, users, options)


def collect_lists(
    split: Split, options: OfflineOptions, reporter: Reporter = SILENT, workers: int = 1
) -> tuple[Ints, list[ConfigLists]]:
    """Every configuration's lists for the evaluated users (sorted ids, (n,)); with
    ``workers`` > 1 the configurations run in that many forked processes."""
    from pitchrec.lab.offline.baselines import train_matrix

    users = _user_sample(split, options, seed=0)
    _SHARED.update(split=split, options=options, users=users, train=train_matrix(split))
    by_name: dict[str, ConfigLists] = {}
    try:
        with reporter.stage("configurations", len(options.configs)) as advance:
            if workers <= 1:
                for name in options.configs:
                    by_name[name] = _one_config(name)
                    advance(1)
            else:
                by_name = _in_workers(options, workers, advance)
    finally:
        _SHARED.clear()
    return users, [by_name[name] for name in options.configs]


def _in_workers(
    options: OfflineOptions, workers: int, advance: Callable[[int], None]
) -> dict[str, ConfigLists]:
    """One task per (configuration, seed), so the slow engine feeds spread over every
    worker; the seeds' lists are put back in seed order."""
    context = multiprocessing.get_context("fork")
    parts: dict[tuple[str, int], ConfigLists] = {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {
            pool.submit(_one_config, name, seed): (name, seed)
            for seed in range(options.seeds)
            for name in options.configs
        }
        done_per_config: dict[str, int] = {}
        for future in as_completed(futures):
            name, seed = futures[future]
            parts[(name, seed)] = future.result()
            done_per_config[name] = done_per_config.get(name, 0) + 1
            if done_per_config[name] == options.seeds:
                advance(1)
    merged: dict[str, ConfigLists] = {}
    for name in options.configs:
        first = parts[(name, 0)]
        merged[name] = ConfigLists(name, first.is_feed)
        for seed in range(options.seeds):
            merged[name].items += parts[(name, seed)].items
            merged[name].pools += parts[(name, seed)].pools
    return merged
