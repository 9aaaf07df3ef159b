"""The replay's intervals are over users: a user replayed under several seeds is one unit
of the bootstrap, not several (issue 13's "intervals that do not overlap")."""

from __future__ import annotations

import json

import numpy as np

from pitchrec.lab.offline.replay import ReplayResult
from pitchrec.lab.offline.replay_summary import (
    runs_from_record,
    runs_record,
    summarise_replay,
)


def _runs(
    seeds: int, users: np.ndarray, likes: dict[str, np.ndarray]
) -> dict[str, list[ReplayResult]]:
    return {v: [ReplayResult(v, users, likes[v]) for _ in range(seeds)] for v in likes}


def test_replaying_the_same_users_under_more_seeds_does_not_narrow_the_interval() -> None:
    """Ten seeds that happen to give every user the same likes are worth one seed: the
    rows of one user were resampled as independent users, and the interval shrank by
    about sqrt(10)."""
    rng = np.random.default_rng(4)
    users = rng.permutation(np.arange(100, 160))
    likes = {v: rng.poisson(0.5, (60, 5)).astype(np.float64) for v in ("learn", "frozen")}
    once = summarise_replay({"c": _runs(1, users, likes)})["c"]
    tenfold = summarise_replay({"c": _runs(10, users, likes)})["c"]
    assert tenfold["users"] == once["users"] == 60
    for key in ("variants", "differences"):
        assert tenfold[key] == once[key]


def test_users_in_another_order_per_seed_are_paired_by_id() -> None:
    users = np.arange(40)
    likes = np.arange(40 * 5, dtype=np.float64).reshape(40, 5) % 3
    reordered = users[::-1]
    runs = {
        "learn": [
            ReplayResult("learn", users, likes),
            ReplayResult("learn", reordered, likes[::-1]),
        ],
        "frozen": [
            ReplayResult("frozen", users, likes),
            ReplayResult("frozen", reordered, likes[::-1]),
        ],
    }
    difference = summarise_replay({"c": runs})["c"]["differences"]["learn - frozen"]
    assert difference == {"mean": 0.0, "ci_low": 0.0, "ci_high": 0.0}


def test_the_runs_record_gives_the_same_summary_back() -> None:
    rng = np.random.default_rng(9)
    users = rng.permutation(np.arange(30))
    likes = {v: rng.poisson(0.4, (30, 3)).astype(np.float64) for v in ("learn", "none")}
    results = {"c": _runs(2, users, likes)}
    again = runs_from_record(json.loads(json.dumps(runs_record(results))))
    assert summarise_replay(again) == summarise_replay(results)


def test_likes_found_sooner_show_in_the_first_pages_not_in_the_total() -> None:
    users = np.arange(20)
    sooner = np.tile([1.0, 0.0, 0.0], (20, 1))
    later = np.tile([0.0, 0.0, 1.0], (20, 1))
    runs = {
        "learn": [ReplayResult("learn", users, sooner)],
        "frozen": [ReplayResult("frozen", users, later)],
    }
    entry = summarise_replay({"c": runs})["c"]
    assert entry["differences"]["learn - frozen"]["mean"] == 0.0
    assert [cut["mean"] for cut in entry["by_pages"]["learn - frozen"]] == [1.0, 1.0, 0.0]
