"""One arm on one stream: simulated users request feeds through the real service path.

Per request ``i`` of the stream (engine arms):

1. ``Recommender.serve(FeedRequest(discover, user, seed, now), RequestInfo(request_id,
   session_id))``: the tracker excludes what the session already got and queues the feed;
2. ``feedback.process_once()``: spooled writes are replayed (none without an outage);
3. the user reacts (:mod:`pitchrec.lab.world.user_model`) and its events go to
   ``feedback.record_events`` with the request's ``request_id``, exactly the records
   ``POST /v1/events`` passes, then ``process_once()`` matches them to the impressions and
   feeds the rewards to the learner;
4. every ``sync_every`` requests ``feedback.sync_now()`` (the server does it every second):
   publish, pull the totals, swap the serving policies.

The oracle and random arms build the feed themselves and skip the service. What a run
records (its result, trace, served feeds, sessions, events) is :mod:`.records`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pitchrec.domain.feed import FeedKind, FeedRequest, ItemKind
from pitchrec.index.scores import NEW_CONTENT_DAYS, SECONDS_PER_DAY
from pitchrec.lab.simulation.diagnostics import (
    fit_linear_ceiling,
    score_decomposition,
    shared_engagement,
    taste_affinity,
)
from pitchrec.lab.simulation.oracle import oracle_feed, random_feed
from pitchrec.lab.simulation.records import (
    FRESH_IMPRESSIONS,
    Probe,
    RunResult,
    Served,
    Session,
    ShadowHooks,
    Trace,
    feed_events,
)
from pitchrec.lab.simulation.stream import Stream
from pitchrec.lab.simulation.variants import BYPASS_ARMS, EngineArm, build_engine_arm
from pitchrec.lab.world.sim_world import SimWorld
from pitchrec.lab.world.user_model import UserModel, UserModelConfig, UserState, drifted
from pitchrec.ranking.shadow import ShadowConfig
from pitchrec.recommender import RequestInfo

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]
PROGRESS_EVERY = 50  # requests between progress callbacks
LINEAR_FIT_USERS = 200  # users whose whole catalogue fits the linear-engine theta


@dataclass
class _Run:
    """The state of one (arm, stream) run, shared by the steps of the request loop."""

    world: SimWorld
    stream: Stream
    arm: str
    model: UserModel
    engine: EngineArm | None
    clock: dict[str, float]
    sync_every: int
    trace: Trace
    rng: np.random.Generator
    users: dict[int, UserState] = field(default_factory=dict)
    session: Session = field(default_factory=Session)
    probe: Probe | None = None
    #: (n,) the shared-engine arm's score: the mean true engagement of the requests.
    shared_q: Floats = field(default_factory=lambda: np.zeros(0))
    #: The request at which users change their minds (-1: never).
    drift_request: int = -1


def _build_engine(
    world: SimWorld,
    stream: Stream,
    arm: str,
    model: UserModel,
    clock: dict[str, float],
    shadow: ShadowConfig | None = None,
) -> tuple[EngineArm | None, dict[str, Any]]:
    """The service of an engine arm (None for bypass arms) and its start diagnostics."""
    diagnostics: dict[str, Any] = {}
    if arm in BYPASS_ARMS:
        return None, diagnostics
    theta = None
    if arm in ("linear-engine", "taste-engine"):
        # Fitted on users of the stream's first requests (the truth, not the feedback).
        fit_rows = np.unique(stream.user_row[: 4 * LINEAR_FIT_USERS])[:LINEAR_FIT_USERS]
        theta, r2 = fit_linear_ceiling(
            model, fit_rows.tolist(), world.now, with_taste=arm == "taste-engine"
        )
        diagnostics["linear_fit"] = {"theta": theta.tolist(), "r2": r2}
    engine = build_engine_arm(
        arm, world.snapshot, lambda: clock["now"], linear_theta=theta, shadow=shadow
    )
    return engine, diagnostics


def run_arm(
    world: SimWorld,
    stream: Stream,
    arm: str,
    *,
    model_config: UserModelConfig | None = None,
    sync_every: int = 20,
    progress: Callable[[int], None] | None = None,
    shadow: ShadowHooks | None = None,
) -> RunResult:
    """Run arm ``arm`` over ``stream``; see the module docstring for the request loop.
    ``shadow``: the service shadows a candidate (:class:`ShadowHooks`)."""
    started = time.perf_counter()
    model = UserModel(world, model_config)
    clock = {"now": world.now}
    engine, diagnostics = _build_engine(
        world, stream, arm, model, clock, None if shadow is None else shadow.config
    )
    if engine is not None and shadow is not None:
        engine.archive_sink = shadow.archive_sink
    rng = np.random.default_rng([0xA4B, stream.seed])
    trace = Trace.empty(len(stream), world.n_resumes)
    probe = None if shadow is None else shadow.probe
    run = _Run(world, stream, arm, model, engine, clock, sync_every, trace, rng, probe=probe)
    if arm == "shared-engine":
        run.shared_q = shared_engagement(model, stream.user_row, world.now)
    if model.config.drift_at > 0.0:
        if world.resume_factors is None:
            raise ValueError("drift_at needs a world with latent factors")
        run.drift_request = int(model.config.drift_at * len(stream))
    _request_loop(run, progress)
    matched = 0
    if engine is not None:
        matched = _finish_engine(run, engine, diagnostics)
    return RunResult(
        arm=arm,
        seed=stream.seed,
        expected=trace.expected,
        realised=trace.realised,
        items=trace.items,
        new_items=trace.new_items,
        skill_diversity=trace.skill_diversity,
        pool_coverage=trace.pool_coverage,
        counts=trace.counts,
        counts_late=trace.counts_late,
        seconds=time.perf_counter() - started,
        fresh_items=trace.fresh_items,
        events_matched=matched,
        diagnostics=diagnostics,
        warm=trace.warm,
        page=trace.page,
    )


def _request_loop(run: _Run, progress: Callable[[int], None] | None) -> None:
    r = len(run.stream)
    pending = 0
    for i in range(r):
        served = _request(run, i)
        pending += served.rows.shape[0]
        if progress is not None and ((i + 1) % PROGRESS_EVERY == 0 or i == r - 1):
            progress(pending)
            pending = 0


def _request(run: _Run, i: int) -> Served:
    """Request ``i`` of the stream: serve, react, feed the events back, measure."""
    stream, world = run.stream, run.world
    now = stream.now(world.now, i)
    run.clock["now"] = now
    row = int(stream.user_row[i])
    if i == run.drift_request:
        _drift(run, now)
    if stream.new_session(i):
        run.session = Session()
    run.session.pages += 1
    user = run.users.get(row)
    if user is None:
        user = run.users[row] = run.model.new_user(row, now)
    run.trace.warm[i] = user.seen_rows.shape[0] > 0
    run.trace.page[i] = run.session.pages
    request_id = f"sim-{stream.seed}-{i}"
    if run.engine is not None:
        rows, ids = _serve_engine(run, run.engine, i, user, request_id)
    else:
        rows = _bypass_feed(run, user)
        ids = np.asarray(world.snapshot.resumes.id)[rows].tolist()
    if run.probe is not None:
        run.probe(run.engine, i, user, run.session.rows, run.session.creators)
    exp, examined, liked = run.model.react(user, rows, run.session.creators, stream.uniforms(i))
    served = Served(rows, ids, exp, examined, liked)
    run.session.rows.update(rows.tolist())
    if run.engine is not None:
        _feed_back(run, run.engine, i, user, served)
    _measure(run, i, now, served)
    return served


def _drift(run: _Run, now: float) -> None:
    """Users change their minds (``UserModelConfig.drift_at``): the model moves to the
    drifted world and every user met so far keeps their exposures, not their tastes."""
    run.model = UserModel(drifted(run.model.world, run.stream.seed), run.model.config)
    for row, state in run.users.items():
        state.base_q = run.model.new_user(row, now).base_q


def _serve_engine(
    run: _Run, engine: EngineArm, i: int, user: UserState, request_id: str
) -> tuple[Ints, list[int]]:
    """The feed of request ``i`` through the real service; returns (rows, resume ids)."""
    stream, world, size = run.stream, run.world, run.stream.config.feed_size
    if engine.truth is not None:
        if run.arm == "oracle-engine":
            engine.truth.current = user.base_q
        elif run.arm == "shared-engine":
            engine.truth.current = run.shared_q
        else:
            engine.truth.current = taste_affinity(world, int(stream.user_row[i]))
    feed = engine.recommender.serve(
        FeedRequest(
            FeedKind.DISCOVER,
            user.user_id,
            size=size,
            seed=int(stream.feed_seed[i]),
            now=run.clock["now"],
        ),
        RequestInfo(
            request_id=request_id,
            endpoint="v1/discover",
            raw_user=user.user_id,
            params={"size": size, "excluded_count": 0},
            session_id=f"sim-{stream.seed}-{int(stream.session[i])}",
        ),
    )
    engine.feedback.process_once()
    ids = [it.item_id for it in feed.items if it.kind is ItemKind.RESUME]
    rows = world.rows_of(np.asarray(ids, dtype=np.int64))
    coverage = getattr(feed.metrics, "catalog_coverage", None)  # FlowMetrics has none
    run.trace.pool_coverage[i] = float(coverage) if isinstance(coverage, int | float) else np.nan
    return rows, ids


def _bypass_feed(run: _Run, user: UserState) -> Ints:
    """The oracle's or the random arm's feed, built without the service."""
    size = run.stream.config.feed_size
    if run.arm == "oracle":
        return oracle_feed(run.model, user, run.session.rows, run.session.creators, size)
    return random_feed(run.world.n_resumes, user, run.session.rows, size, run.rng)


def _feed_back(run: _Run, engine: EngineArm, i: int, user: UserState, served: Served) -> None:
    """The user's events through ``record_events``, then the periodic sync."""
    now = run.clock["now"]
    stamp = datetime.fromtimestamp(now, UTC).replace(tzinfo=None).isoformat()
    request_id = f"sim-{run.stream.seed}-{i}"
    engine.feedback.record_events(
        feed_events(user.user_id, served.ids, (served.examined, served.liked), request_id, stamp)
    )
    engine.feedback.process_once()
    engine.drain()
    if (i + 1) % run.sync_every == 0:
        engine.sync()


def _measure(run: _Run, i: int, now: float, served: Served) -> None:
    trace, rows = run.trace, served.rows
    trace.expected[i] = served.expected.sum()
    trace.realised[i] = served.liked.sum()
    trace.items[i] = rows.shape[0]
    days = np.floor(np.maximum(now - run.world.resume_created_at[rows], 0.0) / SECONDS_PER_DAY)
    trace.new_items[i] = int((days <= NEW_CONTENT_DAYS).sum())
    before = np.asarray(run.world.snapshot.resumes.exhibited_count)[rows] + trace.counts[rows]
    trace.fresh_items[i] = int((before <= FRESH_IMPRESSIONS).sum())
    flat = run.world.snapshot.resumes.skills.take(rows)[0]
    trace.skill_diversity[i] = 100.0 * np.unique(flat).shape[0] / max(2 * rows.shape[0], 1)
    np.add.at(trace.counts, rows, 1)
    if i >= len(run.stream) // 2:
        np.add.at(trace.counts_late, rows, 1)


def _finish_engine(run: _Run, engine: EngineArm, diagnostics: dict[str, Any]) -> int:
    """Final sync and end-of-run diagnostics; returns the matched event count."""
    world, stream = run.world, run.stream
    engine.sync()
    matched = engine.feedback.stats.events_matched
    diagnostics["policies"] = engine.describe()
    sample = [int(u) for u in stream.user_row[-50:].tolist()]
    diagnostics["scores"] = score_decomposition(
        world, engine.recommender.policies, sample, stream.now(world.now, len(stream))
    )
    return int(matched)
