"""``pitchrec evaluate offline``: the metrics against hand-computed cases, the temporal
split without leakage, the baselines, the report, and clear errors on bad input."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import insert
from typer.testing import CliRunner

from pitchrec.cli import app
from pitchrec.domain.feed import FeedKind
from pitchrec.errors import EvaluationInputError
from pitchrec.lab.offline.baselines import BASELINES, make_baseline, top_k, train_matrix
from pitchrec.lab.offline.evaluate import (
    ConfigLists,
    OfflineOptions,
    evaluate_offline,
    list_metrics,
)
from pitchrec.lab.offline.metrics import bootstrap, gini, ranking_metrics, resample_indices
from pitchrec.lab.offline.split import PositiveRule, Split, read_positives, temporal_split
from pitchrec.lab.world import generate_world
from pitchrec.sources.database import create_schema, make_engine
from pitchrec.sources.schema import (
    RESUME_MODEL_TYPE,
    activity_log,
    likes,
    resumes,
    team_feedbacks,
    user_connections,
)

WORLD_NOW = datetime(2026, 6, 1, 12, 0, 0)


@pytest.fixture(scope="module")
def world_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('offline') / 'w.db'}"
    engine = make_engine(url)
    generate_world(engine, scale=0.04, seed=3, truth_path=None, now=WORLD_NOW)
    engine.dispose()
    yield url


@pytest.fixture(scope="module")
def split(world_url: str) -> Split:
    return temporal_split(world_url)


# ---------------------------------------------------------------- metrics by hand


def test_ranking_metrics_by_hand() -> None:
    ranked = np.asarray([5, 3, 9, 1], dtype=np.int64)
    truth = np.asarray([1, 3], dtype=np.int64)
    at3 = ranking_metrics(ranked, truth, 3)  # one hit, at rank 2
    assert at3["hit"] == 1.0 and at3["recall"] == 0.5 and at3["mrr"] == 0.5
    ideal = 1.0 + 1.0 / math.log2(3.0)
    assert at3["ndcg"] == pytest.approx((1.0 / math.log2(3.0)) / ideal)
    at4 = ranking_metrics(ranked, truth, 4)  # hits at ranks 2 and 4
    assert at4["recall"] == 1.0
    assert at4["ndcg"] == pytest.approx((1 / math.log2(3) + 1 / math.log2(5)) / ideal)
    assert ranking_metrics(ranked, truth, 1) == {"hit": 0.0, "recall": 0.0, "ndcg": 0.0, "mrr": 0.0}
    perfect = ranking_metrics(np.asarray([3, 1, 7]), truth, 3)
    assert perfect["ndcg"] == pytest.approx(1.0) and perfect["mrr"] == 1.0


def test_gini_and_bootstrap_by_hand() -> None:
    assert gini(np.asarray([1.0, 1.0, 1.0, 1.0])) == pytest.approx(0.0)
    assert gini(np.asarray([0.0, 0.0, 0.0, 4.0])) == pytest.approx(0.75)
    assert gini(np.zeros(3)) == 0.0
    constant = bootstrap(np.full(50, 0.3), resample_indices(50, seed=1))
    assert constant.mean == pytest.approx(0.3)
    assert constant.low == pytest.approx(0.3) and constant.high == pytest.approx(0.3)
    values = np.r_[np.zeros(50), np.ones(50)]
    interval = bootstrap(values, resample_indices(100, seed=1))
    assert interval.mean == 0.5 and 0.38 < interval.low < 0.5 < interval.high < 0.62


def test_top_k_skips_excluded_rows_and_orders_by_score() -> None:
    scores = np.asarray([0.1, 0.9, 0.5, 0.7])
    excluded = np.asarray([False, True, False, False])
    assert top_k(scores, excluded, 2).tolist() == [3, 2]
    assert top_k(scores, np.ones(4, dtype=np.bool_), 2).tolist() == []


# ---------------------------------------------------------------- the split


def test_split_truth_is_after_the_cut_and_never_seen_before(split: Split) -> None:
    assert split.cut < split.end
    assert split.truth and split.users.shape[0] == len(split.truth)
    catalogue = set(np.asarray(split.snapshot.resumes.id).tolist())
    for user, items in split.truth.items():
        assert set(items.tolist()) <= catalogue
        assert not set(items.tolist()) & split.seen.get(user, frozenset())
    assert split.snapshot.built_at == pytest.approx(
        (split.cut - datetime(1970, 1, 1)).total_seconds()
    )


def test_nothing_after_the_cut_reaches_the_snapshot(world_url: str, tmp_path: Path) -> None:
    """Plant one post-cut row of every kind the loaders read: the snapshot as of the cut
    is array-for-array identical, and the planted like becomes truth."""
    before = temporal_split(world_url)
    cut = before.cut
    engine = make_engine(world_url)
    user = int(before.snapshot.users.history_users[0])
    resume = int(
        next(
            r
            for r in np.asarray(before.snapshot.resumes.id).tolist()
            if r not in before.seen.get(user, frozenset())
        )
    )
    later = cut + timedelta(seconds=30)
    with engine.begin() as conn:
        conn.execute(
            insert(likes).values(
                user_id=user,
                model_id=resume,
                model_type=RESUME_MODEL_TYPE,
                type="save",
                created_at=later,
            )
        )
        conn.execute(
            insert(team_feedbacks).values(
                user_id=user,
                model_id=resume,
                model_type=RESUME_MODEL_TYPE,
                type="ranking_resume",
                value=5,
                created_at=later,
            )
        )
        conn.execute(
            insert(activity_log).values(
                causer_id=user,
                subject_id=resume,
                subject_type=RESUME_MODEL_TYPE,
                description="#video #view #VMP",
                log_name="app",
                created_at=later,
            )
        )
        conn.execute(
            insert(user_connections).values(
                from_id=user, to_id=user + 1, status="accepted", created_at=later
            )
        )
        conn.execute(
            insert(resumes).values(
                id=99_999_001,
                user_id=user,
                status="send",
                video="https://media.example/r/late.mp4",
                description="Llegó tarde",
                skills='["Python"]',
                created_at=later,
            )
        )
    engine.dispose()
    after = temporal_split(world_url, cut=cut)
    for name in ("id", "views", "like_count", "avg_rating", "rating_count"):
        np.testing.assert_array_equal(
            getattr(before.snapshot.resumes, name), getattr(after.snapshot.resumes, name)
        )
    np.testing.assert_array_equal(
        before.snapshot.users.history_users, after.snapshot.users.history_users
    )
    np.testing.assert_array_equal(
        before.snapshot.users.history.indices, after.snapshot.users.history.indices
    )
    np.testing.assert_array_equal(
        before.snapshot.users.social.indices, after.snapshot.users.social.indices
    )
    assert len(after.source.interactions) == len(before.source.interactions)
    assert resume in after.truth[user].tolist()


def test_holdout_fraction_sets_the_cut(world_url: str) -> None:
    engine = make_engine(world_url)
    positives = read_positives(engine, PositiveRule())
    engine.dispose()
    split = temporal_split(world_url, holdout_fraction=0.3)
    after = (positives.at > (split.cut - datetime(1970, 1, 1)).total_seconds()).mean()
    assert 0.25 < after <= 0.3 + 1e-9


# ---------------------------------------------------------------- configurations


def test_every_baseline_ranks_unseen_catalogue_items(split: Split) -> None:
    train = train_matrix(split)
    assert train.counts.shape == (train.users.shape[0], len(split.snapshot.resumes))
    assert train.popularity.sum() == train.counts.sum()
    for name in BASELINES:
        baseline = make_baseline(name, train)
        scores = baseline.scores(int(split.users[0]), np.random.default_rng(0))
        assert scores.shape == (len(split.snapshot.resumes),) and np.isfinite(scores).all()


def test_workers_give_the_same_result_as_one_process(split: Split) -> None:
    options = OfflineOptions(configs=("random", "popularity", "service"), k=5, ks=(5,), seeds=2)
    assert evaluate_offline(split, options, workers=2) == evaluate_offline(split, options)


def test_evaluate_offline_reports_every_config_with_intervals(split: Split) -> None:
    options = OfflineOptions(
        configs=("random", "popularity", "item-knn", "legacy", "service"),
        k=10,
        ks=(5, 10),
        seeds=2,
    )
    result = evaluate_offline(split, options)
    assert set(result["configs"]) == set(options.configs)
    assert result["split"]["users"] == len(split.truth)
    for name, entry in result["configs"].items():
        at10 = entry["by_k"]["10"]
        assert entry["feed"] == (name in ("legacy", "service"))
        for metric in ("hit", "recall", "ndcg", "mrr"):
            cell = at10["all"][metric]
            assert 0.0 <= cell["ci_low"] <= cell["mean"] <= cell["ci_high"] <= 1.0
        assert 0.0 < at10["catalogue"]["coverage"] <= 1.0
        assert entry["by_k"]["5"]["all"]["hit"]["mean"] <= at10["all"]["hit"]["mean"]
    pops = result["configs"]["popularity"]["by_k"]["10"]["vs_baseline"]["all"]["ndcg"]
    assert pops == {"mean": 0.0, "ci_low": 0.0, "ci_high": 0.0}
    shares = result["configs"]["service"]["by_k"]["10"]["catalogue"]["pool_share"]
    assert shares and sum(shares.values()) == pytest.approx(1.0)


def test_unknown_configuration_is_refused() -> None:
    with pytest.raises(EvaluationInputError, match="unknown configuration 'magic'"):
        OfflineOptions(configs=("popularity", "magic"))
    with pytest.raises(EvaluationInputError, match="discover or total"):
        OfflineOptions(kind=FeedKind.FLOW)


# ---------------------------------------------------------------- the command


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["evaluate", "offline", "--no-progress", *args])
    return result.exit_code, result.output


def test_command_prints_json_and_writes_a_report(world_url: str, tmp_path: Path) -> None:
    code, output = _run(
        "--database-url",
        world_url,
        "--configs",
        "popularity,service",
        "--seeds",
        "1",
        "--k",
        "10",
        "--json",
        "--report-dir",
        str(tmp_path),
    )
    assert code == 0, output
    result = json.loads(output.splitlines()[0])
    assert set(result["configs"]) == {"popularity", "service"}
    report = (tmp_path / "REPORT.md").read_text()
    assert "NDCG@10" in report and "--database-url" in report
    assert (tmp_path / "offline_metrics.png").stat().st_size > 1000
    assert (tmp_path / "offline_ndcg_vs_k.png").stat().st_size > 1000


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--configs", "popularity,nope"), "unknown configuration 'nope'"),
        (("--cut", "1999-01-01T00:00:00"), "outside the data"),
        (("--cut", "2999-01-01T00:00:00"), "outside the data"),
        (("--cut", "yesterday"), "not an ISO-8601"),
        (("--holdout-fraction", "1.5"), "between 0 and 1"),
    ],
)
def test_bad_input_is_one_line_and_status_2(
    world_url: str, args: tuple[str, ...], message: str
) -> None:
    code, output = _run("--database-url", world_url, "--seeds", "1", *args)
    assert code == 2, output
    assert message in output and "Traceback" not in output
    assert len(output.strip().splitlines()) <= 2


def test_an_empty_database_is_one_line_and_status_2(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    engine = make_engine(url)
    create_schema(engine)
    engine.dispose()
    code, output = _run("--database-url", url)
    assert code == 2 and "no positive interaction" in output and "Traceback" not in output


def test_skills_shown_counts_the_distinct_skills_of_the_top_k(split: Split) -> None:
    resumes = split.snapshot.resumes
    rows = np.flatnonzero(resumes.skills.lengths() > 0)[:6]
    ids = np.asarray(resumes.id)[rows]
    lists = ConfigLists("by-hand", is_feed=False, items=[[ids, ids[:1]]])
    expected = [
        len({s for r in rows[:4].tolist() for s in resumes.skills.row(r).tolist()}),
        len(resumes.skills.row(int(rows[0])).tolist()),
    ]
    shown = list_metrics(lists, split, k=4)["skills_shown"]
    assert shown.tolist() == expected
