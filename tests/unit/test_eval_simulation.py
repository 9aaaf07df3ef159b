"""The simulator on a small generated world: determinism, the real learning path, the
oracle bound, the behaviour model, the experiment summary and the report."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from pitchrec.lab.report import write_report
from pitchrec.lab.simulation.diagnostics import shared_engagement
from pitchrec.lab.simulation.experiment import ExperimentConfig, run_experiment
from pitchrec.lab.simulation.oracle import oracle_feed
from pitchrec.lab.simulation.records import RunResult
from pitchrec.lab.simulation.segments import segment_shares
from pitchrec.lab.simulation.simulator import run_arm
from pitchrec.lab.simulation.stream import StreamConfig, make_stream
from pitchrec.lab.simulation.summary import compact, summarise
from pitchrec.lab.simulation.variants import ArmSpec, parse_arm
from pitchrec.lab.world import generate_world, write_blacklist
from pitchrec.lab.world.sim_world import SimWorld, load_truth, load_world, world_from_truth
from pitchrec.lab.world.user_model import UserModel, UserModelConfig, drifted
from pitchrec.ranking.options import DEFAULT_TEMPERATURE, RankingOptions
from pitchrec.ranking.pool_policies import DEFAULT_REWARD_SCALE
from pitchrec.sources.database import make_engine

SCALE = 0.05


@pytest.fixture(scope="module")
def world_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, Path]:
    directory = tmp_path_factory.mktemp("simworld")
    url = f"sqlite:///{directory / 'w.db'}"
    engine = make_engine(url)
    summary = generate_world(engine, scale=SCALE, seed=5, truth_path=directory / "w.truth.npz")
    engine.dispose()
    write_blacklist(directory / "w.blacklist.csv", summary.blacklist)
    return url, directory / "w.truth.npz", directory / "w.blacklist.csv"


@pytest.fixture(scope="module")
def world(world_files: tuple[str, Path, Path]) -> SimWorld:
    return load_world(*world_files)


def test_world_joins_snapshot_and_truth(world: SimWorld) -> None:
    n = world.n_resumes
    assert n > 20
    assert world.resume_skills.shape[0] == n
    norms = np.linalg.norm(world.resume_skills, axis=1)
    np.testing.assert_allclose(norms[norms > 0], 1.0)  # indicator / sqrt(count)
    assert np.isclose(world.taste(0).sum(), 1.0)
    assert set(world.coefficients) == {"taste", "city", "social", "quality", "recency"}
    # a skills-world truth has no latent factors: the user model's utility is unchanged
    assert world.user_factors is None and world.resume_factors is None
    assert world.resume_popularity is None


def test_world_refuses_a_foreign_truth(
    world: SimWorld, world_files: tuple[str, Path, Path]
) -> None:
    truth = load_truth(world_files[1])
    truth["resume_id"] = truth["resume_id"] + 10_000_000
    with pytest.raises(ValueError, match="does not know"):
        world_from_truth(world.snapshot, truth)


def test_user_model_examination_fatigue_and_reactions(world: SimWorld) -> None:
    model = UserModel(
        world, UserModelConfig(position_continue=0.5, creator_fatigue=0.5, repeat_fatigue=0.25)
    )
    np.testing.assert_allclose(model.examination(3), [1.0, 0.5, 0.25])
    user = model.new_user(0, world.now)
    assert np.all((user.base_q > 0) & (user.base_q < 1))
    rows = np.array([0, 0], dtype=np.int64)  # the same resume twice in one feed
    fatigue = model.fatigue(user, rows, {})
    assert fatigue[0] == 1.0 and fatigue[1] == pytest.approx(0.25 * 0.5)
    uniforms = np.zeros((2, 4))  # always continue, always engage
    expected, examined, liked = model.react(user, rows, {}, uniforms)
    assert examined.all() and liked.tolist() == [1.0, 1.0]
    assert expected[1] == pytest.approx(0.5 * user.base_q[0] * 0.125)
    assert user.exposures[0] == 2


def test_stream_is_deterministic_and_policy_free(world: SimWorld) -> None:
    config = StreamConfig(impressions=24 * 30, pages_per_session=2.0)
    a, b = make_stream(world, 3, config), make_stream(world, 3, config)
    assert len(a) == 30
    np.testing.assert_array_equal(a.user_row, b.user_row)
    np.testing.assert_array_equal(a.uniforms(7), b.uniforms(7))
    assert not np.array_equal(make_stream(world, 4, config).user_row, a.user_row)
    assert np.all(np.diff(a.session) >= 0)


def test_runs_are_reproducible(world: SimWorld) -> None:
    stream = make_stream(world, 1, StreamConfig(impressions=24 * 25))
    first = run_arm(world, stream, "linucb", sync_every=5)
    second = run_arm(world, stream, "linucb", sync_every=5)
    np.testing.assert_array_equal(first.expected, second.expected)
    np.testing.assert_array_equal(first.counts, second.counts)


def test_learning_goes_through_the_tracker(world: SimWorld) -> None:
    stream = make_stream(world, 2, StreamConfig(impressions=24 * 40))
    learned = run_arm(world, stream, "linucb", sync_every=5)
    assert learned.events_matched > 0  # events matched their impressions by request_id
    pools = learned.diagnostics["policies"]["pools"]
    assert sum(p["n_updates"] for p in pools.values()) == learned.events_matched
    static = run_arm(world, stream, "legacy", sync_every=5)
    assert static.diagnostics["scores"]["VMP"]["learned"] == 0.0  # never swapped in


def test_oracle_is_an_upper_bound_and_feeds_are_valid(world: SimWorld) -> None:
    stream = make_stream(world, 0, StreamConfig(impressions=24 * 30))
    results = {arm: run_arm(world, stream, arm) for arm in ("oracle", "random", "legacy")}
    oracle = results["oracle"].expected.sum() / results["oracle"].items.sum()
    for arm in ("random", "legacy"):
        assert oracle > results[arm].expected.sum() / results[arm].items.sum()
    model = UserModel(world)
    user = model.new_user(int(stream.user_row[0]), world.now)
    rows = oracle_feed(model, user, set(), {}, 10)
    assert len(set(rows.tolist())) == rows.shape[0] <= 10
    assert not set(rows.tolist()) & set(user.seen_rows.tolist())


def test_the_shared_engine_ranks_every_user_by_the_mean_truth(world: SimWorld) -> None:
    stream = make_stream(world, 3, StreamConfig(impressions=24 * 30))
    model = UserModel(world)
    shared = shared_engagement(model, stream.user_row, world.now)
    rows = np.unique(stream.user_row)
    by_hand = np.mean([model.new_user(int(r), world.now).base_q for r in stream.user_row], axis=0)
    assert rows.shape[0] < stream.user_row.shape[0]  # repeat users: weighted by requests
    np.testing.assert_allclose(shared, by_hand)
    results = {arm: run_arm(world, stream, arm) for arm in ("shared-engine", "oracle-engine")}
    per_item = {arm: r.expected.sum() / r.items.sum() for arm, r in results.items()}
    assert per_item["oracle-engine"] > per_item["shared-engine"] > 0.0


def test_every_arm_sees_the_same_requests_by_history_and_page(world: SimWorld) -> None:
    stream = make_stream(world, 3, StreamConfig(impressions=24 * 40, pages_per_session=2.0))
    oracle, legacy = (run_arm(world, stream, arm) for arm in ("oracle", "legacy"))
    assert np.array_equal(oracle.warm, legacy.warm) and np.array_equal(oracle.page, legacy.page)
    for i in range(len(stream)):
        assert (oracle.page[i] == 1) == stream.new_session(i)
        if i > 0 and not stream.new_session(i):
            assert oracle.page[i] == oracle.page[i - 1] + 1
    model = UserModel(world)
    history = [model.new_user(int(u), world.now).seen_rows.shape[0] > 0 for u in stream.user_row]
    assert oracle.warm.tolist() == history
    assert oracle.warm.any() and not oracle.warm.all()  # both kinds of users in this stream


def _run(seed: int, expected: list[float], warm: list[bool], page: list[int]) -> RunResult:
    n = len(expected)
    zeros = np.zeros(n)
    counts = np.zeros(3, dtype=np.int64)
    return RunResult(
        "arm", seed, np.asarray(expected), zeros, np.ones(n, dtype=np.int64),
        np.zeros(n, dtype=np.int64), zeros, zeros, counts, counts, 0.0,
        warm=np.asarray(warm), page=np.asarray(page, dtype=np.int64),
    )  # fmt: skip


def test_segment_shares_compare_the_same_requests_over_the_last_half() -> None:
    """Requests 0-3 are the first half (ignored); of the last four, the arm gets half the
    oracle's expected likes on the cold first page and all of it elsewhere."""
    warm = [False] * 4 + [False, False, True, True]
    page = [1] * 4 + [1, 2, 1, 3]
    oracle = {s: _run(s, [9.0] * 4 + [2.0, 1.0, 1.0, 1.0], warm, page) for s in (0, 1)}
    arm = [_run(s, [0.0] * 4 + [1.0, 1.0, 1.0, 1.0], warm, page) for s in (0, 1)]
    shares = segment_shares(arm, oracle)
    assert shares["cold, page 1"]["vs_oracle"]["mean"] == pytest.approx(0.5)
    for name in ("cold, later pages", "warm, page 1", "warm, later pages"):
        assert shares[name]["vs_oracle"]["mean"] == pytest.approx(1.0)
        assert shares[name]["requests"] == pytest.approx(0.25)
    older = [replace(run, page=np.zeros(0, dtype=np.int64)) for run in arm]
    assert segment_shares(older, oracle) == {}  # runs without segments: nothing to split


def test_experiment_summary_and_report(world: SimWorld, tmp_path: Path) -> None:
    config = ExperimentConfig(
        arms=("legacy", "linucb", "oracle"),
        seeds=(0, 1),
        stream=StreamConfig(impressions=24 * 20),
        sync_every=5,
        workers=1,
    )
    runs, seconds = run_experiment(world, config)
    summary = summarise(world, runs, seconds)
    small = compact(summary)
    json.dumps(small)  # one JSON object
    lin = small["policies"]["linucb"]
    assert lin["reward"]["ci_low"] <= lin["reward"]["mean"] <= lin["reward"]["ci_high"]
    assert "vs_legacy" in lin and "vs_oracle" in lin and "final_regret" in lin
    assert sum(segment["requests"] for segment in lin["segments"].values()) == pytest.approx(1.0)
    assert 0.0 <= lin["coverage"]["mean"] <= 1.0
    assert set(summary["targets"]) == {"linucb_vs_legacy", "linucb_vs_oracle"}
    report = write_report(summary, {"impressions": 480}, tmp_path, analysis="## Notes\n\nok")
    text = report.read_text()
    assert "## Results" in text and "## Notes" in text and "### By kind of request" in text
    for png in ("reward_per_impression.png", "cumulative_regret.png", "feed_quality.png"):
        assert (tmp_path / png).stat().st_size > 1000


def test_unknown_arms_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown policy"):
        ExperimentConfig(arms=("linucb", "nope"))
    for bad in ("legacy+nothing", "linucb-s", "linucb-tx", "oracle+profile"):
        with pytest.raises(ValueError, match="unknown policy"):
            parse_arm(bad)


def test_arm_names_take_the_learning_apart() -> None:
    """legacy is the static legacy; linucb the service's defaults; suffixes switch one
    part at a time."""
    legacy = parse_arm("legacy")
    assert legacy == ArmSpec(
        "legacy", 1.0, 1.0, profiles=False, declared=False, learning=False, temperature=None
    )
    service = parse_arm("linucb")
    assert service == ArmSpec(
        "linucb", DEFAULT_REWARD_SCALE, 1.0, True, True, True, DEFAULT_TEMPERATURE
    )
    old = parse_arm("linucb-s1-t0-profile-declared")
    assert old is not None and (old.reward_scale, old.temperature) == (1.0, None)
    assert not old.profiles and not old.declared and old.learning
    fixed = parse_arm("legacy-t0.3+declared")
    assert fixed is not None and fixed.declared and not fixed.profiles and not fixed.learning
    assert fixed.temperature == 0.3
    assert parse_arm("oracle") is None and parse_arm("taste-engine") is None


def test_a_w_suffix_gives_the_arm_a_learning_window() -> None:
    windowed = parse_arm("linucb-t0.3-w600+profile")
    assert windowed is not None and windowed.window_seconds == 600.0
    assert windowed.temperature == 0.3 and windowed.profiles
    assert parse_arm("linucb") == replace(windowed, window_seconds=0.0)
    with_override = parse_arm("linucb-w60@live_prior=1")
    assert with_override is not None and with_override.window_seconds == 60.0
    for bad in ("linucb-w", "linucb-w0", "linucb-wx", "linucb-w60-t0.3"):
        with pytest.raises(ValueError, match="unknown policy"):
            parse_arm(bad)


def _with_factors(world: SimWorld) -> SimWorld:
    """``world`` given latent factors that dominate its utility (as a collaborative
    world's do)."""
    rng = np.random.default_rng(4)
    return replace(
        world,
        user_factors=rng.normal(size=(world.user_id.shape[0], 4)),
        resume_factors=rng.normal(size=(world.n_resumes, 4)),
        coefficients={**world.coefficients, "collab": 3.0},
    )


def test_users_change_their_minds_at_the_drift(world: SimWorld) -> None:
    factors = _with_factors(world)
    moved = drifted(factors, seed=1)
    assert moved.resume_factors is not None and factors.resume_factors is not None
    assert not np.array_equal(moved.resume_factors, factors.resume_factors)
    np.testing.assert_array_equal(
        np.sort(moved.resume_factors, axis=0), np.sort(factors.resume_factors, axis=0)
    )
    np.testing.assert_array_equal(drifted(factors, 1).resume_factors, moved.resume_factors)
    stream = make_stream(factors, 1, StreamConfig(impressions=24 * 40))
    steady = run_arm(factors, stream, "oracle")
    drifting = run_arm(factors, stream, "oracle", model_config=UserModelConfig(drift_at=0.5))
    half = len(stream) // 2
    np.testing.assert_array_equal(steady.expected[:half], drifting.expected[:half])
    assert not np.array_equal(steady.expected[half:], drifting.expected[half:])
    windowed = run_arm(
        factors, stream, "linucb-w60", model_config=UserModelConfig(drift_at=0.5), sync_every=5
    )
    assert windowed.events_matched > 0
    assert windowed.diagnostics["policies"]["window_seconds"] == 60.0
    with pytest.raises(ValueError, match="latent factors"):
        run_arm(world, stream, "oracle", model_config=UserModelConfig(drift_at=0.5))


def test_the_service_arm_ranks_with_the_service_options() -> None:
    """The ``linucb`` arm is what the service serves (it ranked with the legacy options
    before, collaborative affinity and prior off); ``-learn`` freezes the policies and
    ``@`` overrides one ranking option, as in the offline lab."""
    service = parse_arm("linucb")
    assert service is not None and service.ranking() == RankingOptions.service()
    legacy = parse_arm("legacy")
    assert legacy is not None and legacy.ranking() == RankingOptions.legacy()
    frozen = parse_arm("linucb-profile-learn")
    assert frozen is not None and not frozen.learning and not frozen.profiles
    varied = parse_arm("linucb-learn@collaborative=0@boost_new=0")
    assert varied is not None and not varied.learning
    assert varied.ranking() == replace(RankingOptions.service(), collaborative=0.0, boost_new=False)
    for bad in ("linucb@nope=1", "linucb@collaborative=x", "oracle@collaborative=1"):
        with pytest.raises(ValueError):
            parse_arm(bad)
