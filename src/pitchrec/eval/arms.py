"""The compared policies ("arms" of the experiment), each wired like the service.

Every engine-backed arm is a :class:`~pitchrec.service.Recommender` with a
:class:`~pitchrec.tracking.tracker.Tracker` on a :class:`MemoryStore`: feeds are recorded
(impressions, session sets), events go through ``record_events`` and the learner, and the
serving policies are swapped at every sync, exactly as in the server. They differ only by
the pool-policy factory and by whether the swap is wired:

* ``legacy``: the legacy prior (``legacy_pool_policies``); the tracker records but the
  recommender never receives new policies (``on_policies`` unset): legacy-static;
* ``linucb``: the default learning path, ``pool_policy_factory`` (LinUCB at the legacy prior);
* ``thompson``, ``uniform``, ``epsilon``: ``make_policy(name)`` per pool;
* ``<linucb|thompson|epsilon>-x<w>``: experimental, that policy with its scores multiplied
  by ``w`` (a stand-in for a ``learned_weight`` in the pool score); nothing in ``ranking``
  changes;
* ``oracle-engine``: the pools scored by the TRUE engagement of the current user
  (:class:`~pitchrec.eval.scorers.TruthScorer`): the ceiling of any policy inside the
  engine's pools, sampling and slot pattern;
* ``linear-engine``: the pools scored by the best fixed linear model of the 18 features
  (theta fitted on the truth, :func:`~pitchrec.eval.diagnostics.fit_linear_ceiling`): the
  ceiling of any linear policy on the current features;
* ``taste-engine``: the same with a 19th feature, the user's TRUE taste affinity to the
  resume's skills: the ceiling of a linear policy given a perfect personal-taste feature.

Two arms bypass the engine: ``oracle`` (top items by true expected reward) and ``random``
(uniformly random unseen resumes); see :mod:`pitchrec.eval.oracle`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from pitchrec.domain.feed import Pool
from pitchrec.eval.scorers import FixedLinear, ScaledPolicy, TruthScorer
from pitchrec.index.snapshot import Snapshot
from pitchrec.policies.base import Float64Array, Policy
from pitchrec.policies.registry import make_policy
from pitchrec.ranking.engine import POLICY_POOLS
from pitchrec.ranking.pool_policies import pool_policy_factory
from pitchrec.service import Recommender
from pitchrec.tracking.learner import PolicyLearner
from pitchrec.tracking.memory_store import MemoryStore
from pitchrec.tracking.tracker import Tracker, TrackingConfig

BYPASS_ARMS = ("oracle", "random")
CEILING_ARMS = ("oracle-engine", "linear-engine", "taste-engine")
ENGINE_ARMS = ("legacy", "linucb", "thompson", "uniform", "epsilon", *CEILING_ARMS)
_SCALED = re.compile(r"^(?P<base>linucb|thompson|epsilon)-x(?P<weight>[0-9]+(?:\.[0-9]+)?)$")
_POOL_NAMES = tuple(pool.value for pool in POLICY_POOLS)


def arm_names_valid(names: tuple[str, ...]) -> None:
    """Raise ``ValueError`` for an unknown arm name."""
    for name in names:
        if name not in BYPASS_ARMS + ENGINE_ARMS and not _SCALED.match(name):
            known = ", ".join((*ENGINE_ARMS, "<linucb|thompson|epsilon>-x<weight>", *BYPASS_ARMS))
            raise ValueError(f"unknown policy {name!r}; known: {known}")


def policy_factory(name: str) -> Callable[[], dict[str, Policy]]:
    """The per-pool policy factory of learning arm ``name`` (keyed by pool name)."""
    scaled = _SCALED.match(name)
    if name in ("legacy", "linucb"):
        return pool_policy_factory
    if scaled is not None:
        weight = float(scaled.group("weight"))
        inner = policy_factory(scaled.group("base"))

        def build_scaled() -> dict[str, Policy]:
            return {k: ScaledPolicy(p, weight) for k, p in inner().items()}

        return build_scaled
    registry_name = {"epsilon": "epsilon_greedy"}.get(name, name)

    def build() -> dict[str, Policy]:
        return {pool: make_policy(registry_name) for pool in _POOL_NAMES}

    return build


@dataclass
class EngineArm:
    """One engine-backed arm: the service objects a run drives."""

    name: str
    recommender: Recommender
    tracker: Tracker
    store: MemoryStore
    learning: bool
    truth: TruthScorer | None = None

    def sync(self) -> None:
        """Emulate the tracker's 1 s sync (publish, pull, swap when learning)."""
        self.tracker.sync_now()

    def drain(self) -> None:
        """Drop the archive rows (the archiver's job; nothing here reads them)."""
        self.store.archive.clear()

    def describe(self) -> dict[str, Any]:
        return self.tracker.learner.describe()


def build_engine_arm(
    name: str,
    snapshot: Snapshot,
    clock: Callable[[], float],
    *,
    linear_theta: Float64Array | None = None,
) -> EngineArm:
    """A fresh recommender + tracker for arm ``name`` on ``snapshot``; ``clock`` drives the
    store's TTLs (simulated seconds); ``linear_theta`` (18,) is required by linear-engine,
    (19,) by taste-engine."""
    ids = np.asarray(snapshot.resumes.id)
    truth = None
    if name == "oracle-engine":
        truth = TruthScorer(ids)
    elif name == "taste-engine":
        if linear_theta is None:
            raise ValueError("the taste-engine arm needs linear_theta")
        truth = TruthScorer(ids, linear_theta)
    scorer: Policy | None = truth
    if name == "linear-engine":
        if linear_theta is None:
            raise ValueError("the linear-engine arm needs linear_theta")
        scorer = FixedLinear(linear_theta)
    if scorer is not None:

        def factory() -> dict[str, Policy]:
            return dict.fromkeys(_POOL_NAMES, scorer)

    else:
        factory = policy_factory(name)
    store = MemoryStore(clock=clock)
    learner = PolicyLearner(store, factory)
    tracker = Tracker(store, learner, TrackingConfig())
    initial = {Pool(pool): policy for pool, policy in learner.serving.items()}
    recommender = Recommender(snapshot, initial, tracker)
    learning = name not in ("legacy", *CEILING_ARMS)
    if learning:
        tracker.on_policies = recommender.set_policies
    return EngineArm(name, recommender, tracker, store, learning, truth)
