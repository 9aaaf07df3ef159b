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

The oracle and random arms build the feed themselves and skip the service.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pitchrec.domain.events import FeedbackEvent
from pitchrec.domain.feed import FeedKind, FeedRequest, ItemKind
from pitchrec.index.scores import NEW_CONTENT_DAYS, SECONDS_PER_DAY
from pitchrec.lab.simulation.diagnostics import (
    fit_linear_ceiling,
    score_decomposition,
    taste_affinity,
)
from pitchrec.lab.simulation.oracle import oracle_feed, random_feed
from pitchrec.lab.simulation.stream import Stream
from pitchrec.lab.simulation.variants import BYPASS_ARMS, EngineArm, build_engine_arm
from pitchrec.lab.world.sim_world import SimWorld
from pitchrec.lab.world.user_model import UserModel, UserModelConfig, UserState
from pitchrec.service import RequestInfo

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]
PROGRESS_EVERY = 50  # requests between progress callbacks
LINEAR_FIT_USERS = 200  # users whose whole catalogue fits the linear-engine theta


@dataclass
class RunResult:
    """What one (arm, seed) run measured. R = requests, n = catalogue resumes.

    ``expected`` (R,): the feed's expected reward under the true model (sum over items of
    exam(p) * q); ``realised`` (R,): likes drawn; ``items`` (R,): resumes served;
    ``new_items`` (R,): of which at most 45 days old; ``skill_diversity`` (R,): legacy
    per-feed metric (%); ``pool_coverage`` (R,): the engine's per-feed ``catalog_coverage``
    (%, NaN for bypass arms); ``counts`` / ``counts_late`` (n,): impressions per resume row
    over the run / over its second half.
    """

    arm: str
    seed: int
    expected: Floats
    realised: Floats
    items: Ints
    new_items: Ints
    skill_diversity: Floats
    pool_coverage: Floats
    counts: Ints
    counts_late: Ints
    seconds: float
    events_matched: int = 0
    diagnostics: dict[str, Any] = field(default_factory=dict)


@dataclass
class _Session:
    rows: set[int] = field(default_factory=set)
    creators: dict[int, int] = field(default_factory=dict)


def _events(
    user_id: int,
    ids: list[int],
    reactions: tuple[NDArray[np.bool_], Floats],
    request_id: str,
    stamp: str,
) -> list[FeedbackEvent]:
    """The v1 events of one feed: like or skip for each examined item; ``reactions``:
    (examined (k,), liked (k,))."""
    examined, liked = reactions
    return [
        FeedbackEvent(
            event_id=f"{request_id}:{position}",
            type="like" if like > 0 else "skip",
            user_id=user_id,
            item_id=item_id,
            item_type=ItemKind.RESUME.value,
            request_id=request_id,
            position=position,
            timestamp=stamp,
        )
        for position, (item_id, seen, like) in enumerate(
            zip(ids, examined.tolist(), liked.tolist(), strict=True), start=1
        )
        if seen
    ]


def run_arm(
    world: SimWorld,
    stream: Stream,
    arm: str,
    *,
    model_config: UserModelConfig | None = None,
    sync_every: int = 20,
    progress: Callable[[int], None] | None = None,
) -> RunResult:
    """Run arm ``arm`` over ``stream``; see the module docstring for the request loop."""
    started = time.perf_counter()
    model = UserModel(world, model_config)
    snapshot = world.snapshot
    n, r = world.n_resumes, len(stream)
    clock = {"now": world.now}
    engine: EngineArm | None = None
    diagnostics: dict[str, Any] = {}
    if arm not in BYPASS_ARMS:
        theta = None
        if arm in ("linear-engine", "taste-engine"):
            # Fitted on users of the stream's first requests (the truth, not the feedback).
            fit_rows = np.unique(stream.user_row[: 4 * LINEAR_FIT_USERS])[:LINEAR_FIT_USERS]
            theta, r2 = fit_linear_ceiling(
                model, fit_rows.tolist(), world.now, with_taste=arm == "taste-engine"
            )
            diagnostics["linear_fit"] = {"theta": theta.tolist(), "r2": r2}
        engine = build_engine_arm(arm, snapshot, lambda: clock["now"], linear_theta=theta)
    rng = np.random.default_rng([0xA4B, stream.seed])
    users: dict[int, UserState] = {}
    session = _Session()
    size = stream.config.feed_size
    expected, realised = np.zeros(r), np.zeros(r)
    items, new_items = np.zeros(r, dtype=np.int64), np.zeros(r, dtype=np.int64)
    skill_div, pool_cov = np.zeros(r), np.full(r, np.nan)
    counts, counts_late = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    created = world.resume_created_at
    skills = snapshot.resumes.skills
    pending = 0
    for i in range(r):
        now = stream.now(world.now, i)
        clock["now"] = now
        row = int(stream.user_row[i])
        if stream.new_session(i):
            session = _Session()
        user = users.get(row)
        if user is None:
            user = users[row] = model.new_user(row, now)
        request_id = f"sim-{stream.seed}-{i}"
        if engine is not None:
            if arm == "oracle-engine" and engine.truth is not None:
                engine.truth.current = user.base_q
            elif engine.truth is not None:
                engine.truth.current = taste_affinity(world, row)
            feed = engine.recommender.serve(
                FeedRequest(FeedKind.DISCOVER, user.user_id, size=size,
                            seed=int(stream.feed_seed[i]), now=now),
                RequestInfo(request_id=request_id, endpoint="v1/discover", raw_user=user.user_id,
                            params={"size": size, "excluded_count": 0},
                            session_id=f"sim-{stream.seed}-{int(stream.session[i])}"),
            )  # fmt: skip
            engine.feedback.process_once()
            ids = [it.item_id for it in feed.items if it.kind is ItemKind.RESUME]
            rows = world.rows_of(np.asarray(ids, dtype=np.int64))
            coverage = feed.metrics.get("catalog_coverage")
            pool_cov[i] = float(coverage) if isinstance(coverage, int | float) else np.nan
        elif arm == "oracle":
            rows = oracle_feed(model, user, session.rows, session.creators, size)
        else:
            rows = random_feed(n, user, session.rows, size, rng)
        if engine is None:
            ids = np.asarray(snapshot.resumes.id)[rows].tolist()
        exp, examined, liked = model.react(user, rows, session.creators, stream.uniforms(i))
        session.rows.update(rows.tolist())
        if engine is not None:
            stamp = datetime.fromtimestamp(now, UTC).replace(tzinfo=None).isoformat()
            engine.feedback.record_events(
                _events(user.user_id, ids, (examined, liked), request_id, stamp)
            )
            engine.feedback.process_once()
            engine.drain()
            if (i + 1) % sync_every == 0:
                engine.sync()
        expected[i], realised[i], items[i] = exp.sum(), liked.sum(), rows.shape[0]
        days = np.floor(np.maximum(now - created[rows], 0.0) / SECONDS_PER_DAY)
        new_items[i] = int((days <= NEW_CONTENT_DAYS).sum())
        flat = skills.take(rows)[0]
        skill_div[i] = 100.0 * np.unique(flat).shape[0] / max(2 * rows.shape[0], 1)
        np.add.at(counts, rows, 1)
        if i >= r // 2:
            np.add.at(counts_late, rows, 1)
        pending += rows.shape[0]
        if progress is not None and ((i + 1) % PROGRESS_EVERY == 0 or i == r - 1):
            progress(pending)
            pending = 0
    matched = 0
    if engine is not None:
        engine.sync()
        matched = engine.feedback.stats.events_matched
        diagnostics["policies"] = engine.describe()
        sample = [int(u) for u in stream.user_row[-50:].tolist()]
        diagnostics["scores"] = score_decomposition(
            world, engine.recommender.policies, sample, stream.now(world.now, r)
        )
    return RunResult(
        arm=arm,
        seed=stream.seed,
        expected=expected,
        realised=realised,
        items=items,
        new_items=new_items,
        skill_diversity=skill_div,
        pool_coverage=pool_cov,
        counts=counts,
        counts_late=counts_late,
        seconds=time.perf_counter() - started,
        events_matched=matched,
        diagnostics=diagnostics,
    )
