"""Shadow mode's estimates against the truth (issue 14, item 2, "done when"): in the
simulator, the served configuration logs a candidate it never serves (except on its
exploration share); the estimate from that log must hold the candidate's on-policy value,
and the check must be able to fail: without overlap IPS misses, a wrong logging
probability misses, and a candidate that is better is found better.

The simulator's truth (the "expected" likes per feed) is the on-policy run's mean
expected reward over the same stream of users (bench/quality/SHADOW.md has more seeds and
larger samples). One page per session: with several, the candidate's own earlier pages
change what its later pages may show, which a per-request estimate cannot see (measured
in SHADOW.md)."""

from __future__ import annotations

import inspect
import json
from dataclasses import replace
from pathlib import Path
from typing import get_type_hints

import pytest
from sqlalchemy import insert
from typer.testing import CliRunner

from factories import NOW, random_snapshot
from pitchrec.archive.entries import decode_entry
from pitchrec.domain.events import FeedbackEvent
from pitchrec.domain.feed import FeedKind, FeedRequest
from pitchrec.domain.shadow import ShadowLog
from pitchrec.lab.cli import app as lab_app
from pitchrec.lab.offpolicy.shadow_cli import shadow_command
from pitchrec.lab.offpolicy.shadow_log import LogReader
from pitchrec.lab.offpolicy.slate import ShadowFeed, SlateResult, estimate_slate
from pitchrec.lab.simulation.shadow import ShadowCheck, ShadowRun, on_policy, shadow_run
from pitchrec.lab.simulation.stream import StreamConfig
from pitchrec.lab.world import generate_world, write_blacklist
from pitchrec.lab.world.sim_world import SimWorld, load_world
from pitchrec.ranking.shadow import ShadowConfig, parse_candidate
from pitchrec.service import RequestInfo, ServiceConfig, build_service
from pitchrec.sources.database import create_schema, make_engine
from pitchrec.sources.schema import activity_log
from pitchrec.tracking.memory_store import MemoryStore

#: Better than the served configuration on this world: on-policy 1.54 likes per feed
#: against 1.20 (bench/quality/SHADOW.md), and 42-54 % of its examination falls on items
#: the served configuration never shows.
CANDIDATE = "@collaborative=0@popularity_prior=0@fresh_share=0"
#: One page per session, 150 requests of 24 resumes (module docstring).
TRAFFIC = StreamConfig(impressions=24 * 150, pages_per_session=1.0)
#: The served arm as SHADOW.md measured it: the skill-novelty rule over the whole feed (a
#: window longer than any feed; the service's default is now off, which changes the data
#: this fixed-seed sample is drawn from, not what the estimator does).
SERVED = "linucb-profile-learn@skill_novelty_window=1000"
EXPLORED = ShadowCheck(
    served=SERVED,
    candidate=CANDIDATE,
    stream=TRAFFIC,
    draws=12,
    truth_draws=0,
    explore=0.25,
    n_boot=500,
)
PURE = replace(EXPLORED, draws=4, explore=0.0)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> SimWorld:
    directory = tmp_path_factory.mktemp("shadowworld")
    url = f"sqlite:///{directory / 'w.db'}"
    engine = make_engine(url)
    summary = generate_world(engine, scale=0.1, seed=5, truth_path=directory / "w.truth.npz")
    engine.dispose()
    write_blacklist(directory / "w.blacklist.csv", summary.blacklist)
    return load_world(url, directory / "w.truth.npz", directory / "w.blacklist.csv")


@pytest.fixture(scope="module")
def explored(world: SimWorld) -> ShadowRun:
    return shadow_run(world, EXPLORED)


@pytest.fixture(scope="module")
def pure(world: SimWorld) -> ShadowRun:
    return shadow_run(world, PURE)


@pytest.fixture(scope="module")
def truth(world: SimWorld, pure: ShadowRun) -> tuple[float, float]:
    """(candidate, served) on-policy expected likes per feed: the candidate served on the
    same stream, and the served arm's run without exploration."""
    return float(on_policy(world, PURE).expected.mean()), float(pure.served.expected.mean())


def _holds(result: SlateResult, estimator: str, value: float) -> bool:
    estimate = result.estimates[estimator]
    return estimate.ci_low <= value <= estimate.ci_high


def test_the_estimate_holds_the_on_policy_value(
    explored: ShadowRun, truth: tuple[float, float]
) -> None:
    candidate, served = truth
    assert candidate > served + 0.2  # a candidate worth finding
    result = estimate_slate(explored.feeds, n_boot=500)
    assert result.feeds == 150 and result.diagnostics["explored_feeds"] > 0
    for estimator in ("ips", "snips", "dr"):
        assert _holds(result, estimator, candidate), (estimator, result.estimates, candidate)
    # exploration bounds the weights by (R + 1) / (R e): 13 / 3
    assert result.diagnostics["max_weight"] <= 13 / (12 * 0.25) + 1e-9
    # ... and the better candidate is found better, by about the on-policy difference
    for estimator in ("snips", "dr"):
        difference = result.differences[f"{estimator}-served"]
        assert 0.0 < difference.ci_low <= candidate - served <= difference.ci_high


def test_without_overlap_ips_misses_and_says_so(
    pure: ShadowRun, truth: tuple[float, float]
) -> None:
    """The check can fail: without exploration the served configuration never shows half of
    what the candidate shows, and IPS, which counts that half as 0, misses low."""
    candidate, _ = truth
    result = estimate_slate(pure.feeds, n_boot=500)
    assert result.diagnostics["uncovered"] > 0.3
    assert result.estimates["ips"].ci_high < candidate
    assert result.served_value.ci_low <= truth[1] <= result.served_value.ci_high


def test_a_wrong_logging_probability_is_detected(
    explored: ShadowRun, truth: tuple[float, float]
) -> None:
    """Weights that ignore the exploration (the served feed taken for the served
    configuration's), or the position-wise action on a candidate that moves items, miss."""
    candidate, _ = truth
    forgetful = [
        ShadowFeed(replace(f.log, explore=0.0), f.rewards, f.examined) for f in explored.feeds
    ]
    assert estimate_slate(forgetful, n_boot=500).estimates["ips"].ci_low > candidate
    positional = estimate_slate(explored.feeds, action="position", n_boot=500)
    assert positional.estimates["ips"].ci_high < candidate


def _log(
    request: int, items: tuple[str, ...], counts: dict[str, list[int]], draws: int
) -> ShadowLog:
    return ShadowLog(
        f"q{request}",
        request % 7 + 1,
        "v1/discover",
        "deployment",
        "@x=1",
        draws,
        request,
        "2026-01-01T00:00:00",
        items,
        counts,
        counts,
    )


def test_a_candidate_equal_to_the_served_configuration_gets_weight_one() -> None:
    """Deterministic feeds, the same counts under both configurations: every weight is 1,
    so IPS, SNIPS and DR are the served value exactly."""
    feeds = []
    for request in range(60):
        counts = {"r:1": [1, 10], "r:2": [2, 10]}
        rewards = (float(request % 2), float(request % 3 == 0))
        feeds.append(ShadowFeed(_log(request, ("r:1", "r:2"), counts, 10), rewards, (True, True)))
    result = estimate_slate(feeds, n_boot=200)
    assert result.diagnostics["max_weight"] == pytest.approx(1.0)
    for estimator in ("ips", "snips", "dr"):
        assert result.estimates[estimator].value == pytest.approx(result.served_value.value)
    assert result.diagnostics["uncovered"] == 0.0


def test_every_flag_has_help_and_a_default() -> None:
    hints = get_type_hints(shadow_command, include_extras=True)
    for name, param in inspect.signature(shadow_command).parameters.items():
        assert param.default is not inspect.Parameter.empty, name
        assert hints[name].__metadata__[0].help, name


def test_evaluate_shadow_reads_activity_log(tmp_path: Path) -> None:
    """``pitchrec evaluate shadow`` on what the embedded service archived: the same numbers
    as the estimator on the rows themselves."""
    snapshot = random_snapshot(5, n_resumes=300, n_challenges=12, n_creators=200, n_users=40)
    config = ShadowConfig(parse_candidate("@temperature=2"), rate=1.0, draws=4, inline=True)
    store = MemoryStore()
    service = build_service(ServiceConfig(shadow=config), store, snapshot=snapshot)
    assert service.recommender is not None
    for i in range(40):
        user = i % 9 + 1
        request = FeedRequest(FeedKind.DISCOVER, user, seed=i, now=NOW, size=12)
        feed = service.recommender.serve(request, RequestInfo(f"req{i}", "v1/discover", user))
        events = [
            FeedbackEvent(
                f"e{i}-{k}",
                "like" if (i + k) % 4 == 0 else "skip",
                user,
                item.item_id,
                "resume",
                f"req{i}",
                position=item.position,
            )
            for k, item in enumerate(feed.items[:6])
        ]
        service.record_events(events)
    rows = list(store.archive)
    url = f"sqlite:///{tmp_path / 'log.db'}"
    engine = make_engine(url)
    create_schema(engine)
    with engine.begin() as connection:
        connection.execute(insert(activity_log), [decode_entry(r.fields()) for r in rows])
    engine.dispose()
    reader = LogReader()
    for row in rows:
        reader.add_row(row)
    expected = estimate_slate(reader.feeds(), n_boot=200, seed=3).as_dict()
    result = CliRunner().invoke(
        lab_app,
        [
            "evaluate",
            "shadow",
            "--database-url",
            url,
            "--json",
            "--no-progress",
            "--n-boot",
            "200",
            "--seed",
            "3",
        ],
    )
    assert result.exit_code == 0, result.output
    printed = json.loads(result.stdout)
    assert printed["feeds"] == 40 and printed["candidate"] == "@temperature=2"
    assert printed["estimates"] == expected["estimates"]
    assert printed["served_value"] == expected["served_value"]
    wrong = CliRunner().invoke(
        lab_app,
        ["evaluate", "shadow", "--database-url", url, "--candidate", "@x=1", "--no-progress"],
    )
    assert wrong.exit_code == 2 and "@temperature=2" in wrong.output
