"""The offline evaluation's JSON result, from every configuration's lists.

Per-user ranking metrics against the positives after the cut, list-shape metrics (new
content, creators, skills, EXPLORE share), catalogue metrics (coverage, exposure Gini,
pool shares), each summarised with bootstrap intervals per user group and paired against
the baseline. The metrics at a cut-off k read a list's first k items.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from pitchrec.domain.feed import Pool
from pitchrec.index.scores import NEW_CONTENT_DAYS, SECONDS_PER_DAY
from pitchrec.lab.offline.evaluate_lists import ConfigLists
from pitchrec.lab.offline.evaluate_options import OfflineOptions
from pitchrec.lab.offline.metrics import (
    RANKING_METRICS,
    bootstrap,
    gini,
    ranking_metrics,
    resample_indices,
)
from pitchrec.lab.offline.split import Split

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]

LIST_METRICS = ("new_content", "creator_diversity", "skills_shown", "explore_share")
#: Fixed so that two runs on the same data print the same intervals.
BOOTSTRAP_SEED = 12_345


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
