"""The loaders on the real MariaDB: the hand-made world loads exactly as on SQLite, and a
synthetic world reads back the counts its generator reports."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime

import pytest
from sqlalchemy import Engine

import loader_world as world
from pitchrec.lab.world import WorldSummary, generate_world
from pitchrec.sources.database import make_engine
from pitchrec.sources.loaders import load_profiles, load_sources
from pitchrec.sources.tables import InteractionKind, ItemType, SourceData

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(mariadb_url: str) -> Iterator[Engine]:
    engine = make_engine(mariadb_url)
    world.build_world(engine)
    yield engine
    engine.dispose()


def test_world_loads_exactly_as_on_sqlite(engine: Engine) -> None:
    world.assert_world(load_sources(engine, now=world.NOW, blacklist=world.BLACKLIST))


def test_profiles_load_exactly_as_on_sqlite(engine: Engine) -> None:
    world.assert_profiles(load_profiles(engine, now=world.NOW))


def test_quoted_url_round_trips_without_blacklist(engine: Engine) -> None:
    data = load_sources(engine, now=world.NOW)
    assert world.QUOTED_URL in data.resumes.video


# --------------------------------------------------------------------------- synthetic world

SYNTHETIC_NOW = datetime(2025, 6, 30, 12, 0, 0)


def _seed(url: str, scale: float) -> tuple[Engine, WorldSummary]:
    engine = make_engine(url)
    summary = generate_world(engine, scale=scale, seed=7, truth_path=None, now=SYNTHETIC_NOW)
    return engine, summary


def _check_counts(data: SourceData, summary: WorldSummary, *, blacklisted: bool) -> None:
    extra_resumes = 0 if blacklisted else summary.blacklisted_resumes
    extra_challenges = 0 if blacklisted else summary.blacklisted_challenges
    # Resumes: the summary applies the same rules (spec 1.2.1 + the word-level test rule).
    assert len(data.resumes) == summary.eligible_resumes + extra_resumes
    # Challenges: the summary de-duplicates before the word rule and keeps deleted owners,
    # the loader filters first and drops deleted owners (D-C17), so allow a small gap.
    assert abs(len(data.challenges) - summary.eligible_challenges - extra_challenges) <= max(
        2, summary.eligible_challenges // 20
    )
    inter = data.interactions
    resume_rows = inter.item_type == ItemType.RESUME
    by_kind = {kind: int((resume_rows & (inter.kind == kind)).sum()) for kind in InteractionKind}
    assert by_kind == {
        InteractionKind.RATING: summary.ratings_in_window,
        InteractionKind.SAVE: summary.saves_in_window,
        InteractionKind.MATCH: summary.matches_in_window,
        InteractionKind.VIEW: summary.views_in_window,
        InteractionKind.FEEDBACK: 0,  # the generator posts no v1 events
    }
    assert int((~resume_rows).sum()) == summary.challenge_interactions_in_window
    assert len(data.connections) == summary.connections_in_window


def test_synthetic_world_reads_back_its_summary(mariadb_url: str) -> None:
    engine, summary = _seed(mariadb_url, 0.05)
    try:
        with_blacklist = load_sources(
            engine, now=SYNTHETIC_NOW, blacklist=frozenset(summary.blacklist)
        )
        _check_counts(with_blacklist, summary, blacklisted=True)
        _check_counts(load_sources(engine, now=SYNTHETIC_NOW), summary, blacklisted=False)
        assert len(load_profiles(engine, now=SYNTHETIC_NOW)) > 0
    finally:
        engine.dispose()


#: A guard against pathological slowness only (a lost index, a row-by-row loop): the 5 s
#: target of spec 1.1 is a benchmark's business (bench/RESULTS.md), not a unit test's on
#: a shared machine, where this load measured 2.3-5.2 s depending on the neighbours.
LOAD_GUARD_SECONDS = 30.0


@pytest.mark.slow
def test_scale_one_world_loads_and_reads_back_its_counts(
    mariadb_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    engine, summary = _seed(mariadb_url, 1.0)
    try:
        started = time.perf_counter()
        data = load_sources(engine, now=SYNTHETIC_NOW, blacklist=frozenset(summary.blacklist))
        elapsed = time.perf_counter() - started
        _check_counts(data, summary, blacklisted=True)
        with capsys.disabled():
            print(f"\n[loaders] scale 1 from MariaDB in {elapsed:.2f} s")
        assert elapsed <= LOAD_GUARD_SECONDS, f"load_sources took {elapsed:.2f} s at scale 1"
    finally:
        engine.dispose()


def test_v1_feedback_loads_exactly_as_on_sqlite(engine: Engine) -> None:
    world.add_v1_feedback(engine)
    world.assert_v1_feedback(load_sources(engine, now=world.NOW, blacklist=world.BLACKLIST))
