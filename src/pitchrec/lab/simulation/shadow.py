"""Shadow mode checked against the truth: does the off-policy estimate of a candidate,
from the shadow log of the served configuration, match the candidate's on-policy value?

On one stream (:mod:`.stream`: the same users, sessions and reaction random numbers for
every run):

1. the served arm runs through the real service with shadow mode on (every request, the
   candidate's overrides, R draws computed in line); the archive rows the service writes
   (shadow rows and v1 feedback) go through :class:`~pitchrec.lab.offpolicy.shadow_log.
   LogReader` and :func:`~pitchrec.lab.offpolicy.slate.estimate_slate`, exactly what
   ``pitchrec evaluate shadow`` does with ``activity_log``;
2. the candidate arm (the served arm's name with the overrides appended) runs on-policy:
   its mean realised likes per feed, and its mean expected likes under the true model;
3. the estimand itself: at every request of run 1, before the user reacts, the
   candidate's expected likes on the served run's state (its session, its fatigue),
   averaged over ``truth_draws`` candidate feeds. The estimator is unbiased for this;
   run 2 differs from it by what the candidate's own trajectory changes (which items
   earlier pages excluded, the fatigue they left).

Learning and taste profiles change the state with every reward, so the served arm
should not learn (``-learn``, ``-profile``) for a clean check: with learning the
candidate is scored with the served policies (or frozen ones at its own prior) while its
on-policy run learns from its own feedback.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from pitchrec.domain.activity import ArchiveRow
from pitchrec.domain.feed import FeedKind, FeedRequest
from pitchrec.lab.offpolicy.shadow_log import LogReader
from pitchrec.lab.offpolicy.slate import Action, ShadowFeed, estimate_slate
from pitchrec.lab.simulation.records import RunResult, ShadowHooks
from pitchrec.lab.simulation.simulator import run_arm
from pitchrec.lab.simulation.stream import StreamConfig, make_stream
from pitchrec.lab.simulation.variants import EngineArm
from pitchrec.lab.world.sim_world import SimWorld
from pitchrec.lab.world.user_model import UserModel, UserModelConfig, UserState
from pitchrec.ranking.engine import recommend
from pitchrec.ranking.shadow import ShadowConfig, parse_candidate

_TRUTH_TAG = 0x7207


@dataclass(frozen=True)
class ShadowCheck:
    """One check: ``served`` arm, ``candidate`` overrides (``@option=value...``), stream
    ``seed`` and traffic, R ``draws`` per configuration, candidate feeds per request for
    the estimand (``truth_draws``, 0: skip it), the shadow exploration, the estimator's
    action and examination."""

    served: str = "linucb-profile-learn"
    candidate: str = "@collaborative=10"
    seed: int = 0
    stream: StreamConfig = field(default_factory=lambda: StreamConfig(impressions=24 * 400))
    draws: int = 16
    truth_draws: int = 4
    explore: float = 0.0
    action: Action = "item"
    examination: str | float = "events"
    n_boot: int = 1000
    user_model: UserModelConfig = field(default_factory=UserModelConfig)

    @property
    def candidate_arm(self) -> str:
        overrides = parse_candidate(self.candidate).overrides
        return self.served + "".join(f"@{o}" for o in overrides)


def _truth_probe(world: SimWorld, model: UserModel, check: ShadowCheck, values: list[float]) -> Any:
    """A probe appending, per request, the candidate's expected likes on the served run's
    state (the mean over ``truth_draws`` candidate feeds)."""

    def probe(
        engine: EngineArm | None,
        i: int,
        user: UserState,
        session_rows: set[int],
        creators: dict[int, int],
    ) -> None:
        assert engine is not None and engine.recommender.shadow is not None
        sampler = engine.recommender.shadow
        policies = sampler.policies or engine.recommender.policies
        ids = np.asarray(world.snapshot.resumes.id)
        request = FeedRequest(
            FeedKind.DISCOVER,
            user.user_id,
            exclude=frozenset(int(x) for x in ids[sorted(session_rows)]),
            size=check.stream.feed_size,
            now=world.now + i * check.stream.seconds_per_request,
        )
        rng = np.random.default_rng([_TRUTH_TAG, check.seed, i])
        total = 0.0
        for seed in rng.integers(0, 2**62, size=check.truth_draws).tolist():
            feed = recommend(
                world.snapshot, replace(request, seed=seed), policies, options=sampler.options
            )
            rows = world.rows_of(np.asarray([it.item_id for it in feed.items], dtype=np.int64))
            total += float(model.expected(user, rows, creators).sum())
        values.append(total / check.truth_draws)

    return probe


@dataclass(frozen=True)
class ShadowRun:
    """Run 1: the shadowed feeds as ``pitchrec evaluate shadow`` reads them, the served
    run's measurements and, per request, the candidate's value on the served states."""

    feeds: list[ShadowFeed]
    served: RunResult
    truth: list[float]
    requests: int


def shadow_run(world: SimWorld, check: ShadowCheck) -> ShadowRun:
    """Run 1 (and 3) of the module docstring."""
    stream = make_stream(world, check.seed, check.stream)
    rows: list[ArchiveRow] = []
    truth: list[float] = []
    model = UserModel(world, check.user_model)
    probe = _truth_probe(world, model, check, truth) if check.truth_draws > 0 else None
    config = ShadowConfig(
        parse_candidate(check.candidate), rate=1.0, draws=check.draws, explore=check.explore
    )
    served = run_arm(
        world,
        stream,
        check.served,
        model_config=check.user_model,
        shadow=ShadowHooks(replace(config, inline=True), rows.extend, probe),
    )
    reader = LogReader()
    for row in rows:
        reader.add_row(row)
    return ShadowRun(reader.feeds(), served, truth, len(stream))


def on_policy(world: SimWorld, check: ShadowCheck) -> RunResult:
    """Run 2: the candidate served on the same stream."""
    stream = make_stream(world, check.seed, check.stream)
    return run_arm(world, stream, check.candidate_arm, model_config=check.user_model)


def run_check(world: SimWorld, check: ShadowCheck) -> dict[str, Any]:
    """Runs 1-3 of the module docstring; the estimate, the truths and what they cost."""
    run = shadow_run(world, check)
    result = estimate_slate(
        run.feeds, action=check.action, how=check.examination, n_boot=check.n_boot, seed=check.seed
    )
    candidate = on_policy(world, check)
    return {
        "served_arm": check.served,
        "candidate": check.candidate,
        "candidate_arm": check.candidate_arm,
        "seed": check.seed,
        "requests": run.requests,
        "draws": check.draws,
        "explore": check.explore,
        "pages_per_session": check.stream.pages_per_session,
        "estimate": result.as_dict(),
        "served_on_policy": {
            "realised": float(run.served.realised.mean()),
            "expected": float(run.served.expected.mean()),
        },
        "candidate_on_policy": {
            "realised": float(candidate.realised.mean()),
            "expected": float(candidate.expected.mean()),
        },
        "candidate_on_served_states": float(np.mean(run.truth)) if run.truth else None,
        "seconds": {"served_with_shadow": run.served.seconds, "candidate": candidate.seconds},
    }


def covers(result: dict[str, Any], estimator: str = "snips", truth: str = "expected") -> bool:
    """Whether ``estimator``'s interval holds the candidate's on-policy ``truth``."""
    estimate = result["estimate"]["estimates"][estimator]
    value = result["candidate_on_policy"][truth]
    return bool(estimate["ci_low"] <= value <= estimate["ci_high"])
