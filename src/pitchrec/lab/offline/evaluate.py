"""Configurations side by side on one temporal split.

Engine configurations go through the real feed path (pools, slot pattern, creator
window), built by :func:`pitchrec.service.build_service` exactly as served, with the
request clock at the cut; the baselines (:mod:`.baselines`) rank plain top-k lists. Each
configuration produces, per seed and evaluated user, a list of ``max(ks)`` items; the
metrics at a smaller k read its first k items (what a user scrolls past first).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pitchrec.domain.feed import FeedKind, FeedRequest, ItemKind, Pool
from pitchrec.errors import EvaluationInputError
from pitchrec.index.scores import NEW_CONTENT_DAYS, SECONDS_PER_DAY
from pitchrec.lab.offline.baselines import BASELINES, TrainMatrix, make_baseline, top_k
from pitchrec.lab.offline.metrics import (
    RANKING_METRICS,
    bootstrap,
    gini,
    ranking_metrics,
    resample_indices,
)
from pitchrec.lab.offline.split import Split
from pitchrec.progress import SILENT, Reporter
from pitchrec.service import ServiceConfig, build_service
from pitchrec.tracking.memory_store import MemoryStore

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]

#: Engine configurations by name: what ``pitchrec serve`` runs (``service``) and the
#: original service (``legacy``).
ENGINE_CONFIGS: dict[str, Callable[[], ServiceConfig]] = {
    "service": ServiceConfig,
    "legacy": ServiceConfig.legacy,
}
DEFAULT_CONFIGS = ("random", "popularity", "item-knn", "als", "legacy", "service")
#: ``<engine config>@<option>=<value>@...`` overrides RankingOptions fields by name, e.g.
#: ``service@collaborative=10@ranked_fill=1`` (booleans as 0/1).
OVERRIDE_SEPARATOR = "@"


def engine_config(name: str) -> ServiceConfig | None:
    """The ServiceConfig a configuration name asks for, or None for a baseline.
    Raises EvaluationInputError for an unknown engine option."""
    base, *overrides = name.split(OVERRIDE_SEPARATOR)
    if base not in ENGINE_CONFIGS:
        return None
    config = ENGINE_CONFIGS[base]()
    try:
        ranking = config.ranking.overridden(overrides)
    except ValueError as exc:
        raise EvaluationInputError(f"{name!r}: {exc}") from exc
    return replace(config, ranking=ranking)


LIST_METRICS = ("new_content", "creator_diversity", "skills_shown", "explore_share")
#: Fixed so that two runs on the same data print the same intervals.
BOOTSTRAP_SEED = 12_345


@dataclass(frozen=True)
class OfflineOptions:
    """``kind``: the feed evaluated (discover: resumes only; total adds challenges, which
    count as misses); ``k``: the headline cut-off; ``ks``: every cut-off reported;
    ``seeds``: repetitions of the stochastic configurations (feeds sample, random
    ranks at random), averaged per user; ``baseline``: the configuration differences are
    paired against; ``max_users``: evaluate a seeded sample of at most this many users
    (None: all)."""

    configs: tuple[str, ...] = DEFAULT_CONFIGS
    kind: FeedKind = FeedKind.DISCOVER
    k: int = 24
    ks: tuple[int, ...] = (5, 10, 24, 48)
    seeds: int = 3
    baseline: str = "popularity"
    max_users: int | None = None

    def __post_init__(self) -> None:
        unknown = [c for c in self.configs if engine_config(c) is None and c not in BASELINES]
        if unknown:
            known = ", ".join((*BASELINES, *ENGINE_CONFIGS))
            raise EvaluationInputError(f"unknown configuration {unknown[0]!r}; known: {known}")
        if self.baseline not in self.configs:
            raise EvaluationInputError(f"the baseline {self.baseline!r} is not among --configs")
        if self.kind is FeedKind.FLOW:
            raise EvaluationInputError("--kind must be discover or total (flows hold no resumes)")
        if self.k < 1 or self.seeds < 1:
            raise EvaluationInputError("--k and --seeds must be at least 1")

    #: The seeds this run computes (a worker's share); None: 0 .. seeds - 1.
    only_seed: int | None = None

    @property
    def cutoffs(self) -> tuple[int, ...]:
        return tuple(sorted({*self.ks, self.k}))

    @property
    def seed_range(self) -> range:
        if self.only_seed is not None:
            return range(self.only_seed, self.only_seed + 1)
        return range(self.seeds)


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


def per_user_metrics(lists: ConfigLists, users: Ints, split: Split, k: int) -> dict[str, Floats]:
    """(n,) per-user means over seeds of each ranking metric at ``k``."""
    out = {metric: np.zeros(users.shape[0]) for metric in RANKING_METRICS}
    for seed_lists in lists.items:
        for i, (user, ranked) in enumerate(zip(users.tolist(), seed_lists, strict=True)):
            for metric, value in ranking_metrics(ranked, split.truth[user], k).items():
                out[metric][i] += value
    return {metric: values / len(lists.items) for metric, values in out.items()}


def list_metrics(lists: ConfigLists, split: Split, k: int) -> dict[str, Floats]:
    """(n,) per-user means over seeds of the list-shape metrics at ``k``: share of new
    content, creators per item, distinct skills among the resumes (the diversity the
    feed's skill-novelty rule buys), share of EXPLORE fallback (feeds only, else 0)."""
    resumes = split.snapshot.resumes
    ids = np.asarray(resumes.id)
    order = np.argsort(ids)
    created = np.asarray(resumes.created_at)
    creators = np.asarray(resumes.creator)
    now = split.source.loaded_at
    n = len(lists.items[0])
    out = {metric: np.zeros(n) for metric in LIST_METRICS}
    for s, seed_lists in enumerate(lists.items):
        for i, ranked in enumerate(seed_lists):
            top = ranked[:k]
            rows = order[np.minimum(np.searchsorted(ids[order], top), ids.shape[0] - 1)]
            is_resume = ids[rows] == top
            rows = rows[is_resume]
            if top.shape[0]:
                age = (now - created[rows]) / SECONDS_PER_DAY
                out["new_content"][i] += float((age <= NEW_CONTENT_DAYS).sum()) / top.shape[0]
                out["creator_diversity"][i] += len(set(creators[rows].tolist())) / top.shape[0]
                out["skills_shown"][i] += float(np.unique(resumes.skills.take(rows)[0]).shape[0])
            if lists.is_feed and top.shape[0]:
                pools = lists.pools[s][i][:k]
                out["explore_share"][i] += pools.count(Pool.EXPLORE.value) / len(pools)
    return {metric: values / len(lists.items) for metric, values in out.items()}


def catalogue_metrics(lists: ConfigLists, split: Split, k: int) -> dict[str, Any]:
    """Coverage and exposure Gini of the resumes shown (seed means), and the share of
    each pool among the items (feeds)."""
    ids = np.asarray(split.snapshot.resumes.id)
    order = np.argsort(ids)
    coverage, ginis = [], []
    pool_counts: dict[str, int] = {}
    for s, seed_lists in enumerate(lists.items):
        counts = np.zeros(ids.shape[0])
        for i, ranked in enumerate(seed_lists):
            top = ranked[:k]
            rows = order[np.minimum(np.searchsorted(ids[order], top), ids.shape[0] - 1)]
            np.add.at(counts, rows[ids[rows] == top], 1.0)
            if lists.is_feed:
                for pool in lists.pools[s][i][:k]:
                    pool_counts[pool] = pool_counts.get(pool, 0) + 1
        coverage.append(float((counts > 0).mean()) if ids.shape[0] else 0.0)
        ginis.append(gini(counts))
    total = sum(pool_counts.values())
    return {
        "coverage": float(np.mean(coverage)),
        "exposure_gini": float(np.mean(ginis)),
        "pool_share": {p: c / total for p, c in sorted(pool_counts.items())} if total else {},
    }


def summarise(
    split: Split, options: OfflineOptions, users: Ints, collected: list[ConfigLists]
) -> dict[str, Any]:
    """The JSON result: per configuration and cut-off, per user group (all, warm: with
    training history, cold), each metric's mean and 95 % interval, and the paired
    difference to the baseline (``vs_baseline[group]``); catalogue-level metrics."""
    warm_mask = np.isin(users, np.asarray(split.snapshot.users.history_users))
    groups = {"all": np.arange(users.shape[0])}
    groups["warm"], groups["cold"] = np.flatnonzero(warm_mask), np.flatnonzero(~warm_mask)
    group_indices = {
        name: (rows, resample_indices(rows.shape[0], seed=BOOTSTRAP_SEED))
        for name, rows in groups.items()
    }
    by_name = {lists.name: lists for lists in collected}
    baseline_values = {
        k: per_user_metrics(by_name[options.baseline], users, split, k) for k in options.cutoffs
    }
    configs: dict[str, Any] = {}
    for lists in collected:
        entry: dict[str, Any] = {"feed": lists.is_feed, "by_k": {}}
        for k in options.cutoffs:
            values = per_user_metrics(lists, users, split, k) | list_metrics(lists, split, k)
            at_k: dict[str, Any] = {"vs_baseline": {}}
            for group, (rows, resampled) in group_indices.items():
                at_k[group] = {
                    m: bootstrap(v[rows], resampled).as_dict() for m, v in values.items()
                }
                at_k["vs_baseline"][group] = {
                    m: bootstrap((values[m] - baseline_values[k][m])[rows], resampled).as_dict()
                    for m in RANKING_METRICS
                }
            at_k["catalogue"] = catalogue_metrics(lists, split, k)
            entry["by_k"][str(k)] = at_k
        configs[lists.name] = entry
    return {
        "split": _split_summary(split, users, warm_mask),
        "options": {
            "kind": options.kind.value,
            "k": options.k,
            "ks": list(options.cutoffs),
            "seeds": options.seeds,
            "baseline": options.baseline,
        },
        "configs": configs,
    }


def _split_summary(split: Split, users: Ints, warm: NDArray[np.bool_]) -> dict[str, Any]:
    positives = sum(int(split.truth[u].shape[0]) for u in users.tolist())
    return {
        "cut": split.cut.isoformat(),
        "end": split.end.isoformat(),
        "users": int(users.shape[0]),
        "users_with_positives_after_cut": len(split.truth),
        "warm_users": int(warm.sum()),
        "cold_users": int((~warm).sum()),
        "positives_after_cut": positives,
        "catalogue_resumes": len(split.snapshot.resumes),
        "train_interactions": len(split.source.interactions),
    }


def evaluate_offline(
    split: Split, options: OfflineOptions, reporter: Reporter = SILENT, workers: int = 1
) -> dict[str, Any]:
    """Run every configuration on ``split`` (in ``workers`` processes) and summarise
    (see :func:`summarise`)."""
    users, collected = collect_lists(split, options, reporter, workers)
    return summarise(split, options, users, collected)
