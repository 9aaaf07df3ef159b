"""The compared policies ("arms" of the experiment), each wired like the service.

Every engine-backed arm is a :class:`~pitchrec.recommender.Recommender` with a
:class:`~pitchrec.tracking.tracker.Tracker` on a :class:`MemoryStore`: feeds are recorded
(impressions, session sets), events go through ``record_events`` and the learner, and the
serving policies are swapped at every sync, exactly as in the server. They differ only by
the pool-policy factory and by whether the swap is wired:

* ``legacy``: the legacy prior (``legacy_pool_policies``), no taste profiles, no declared
  skills (D-C20 kept); the tracker records but the recommender never receives new
  policies (``on_policies`` unset): legacy-static, what the seed describes;
* ``linucb``: the service's default path: LinUCB at the legacy prior with the default
  ``reward_scale`` (``pool_policy_factory``), learning online, online taste profiles,
  and the service's ranking options (:meth:`RankingOptions.service`: declared skills,
  tempered draws, the collaborative affinity and popularity prior, shared AU candidates,
  ranked fill);
* ``thompson``, ``uniform``, ``epsilon``: ``make_policy(name)`` per pool, with profiles
  and declared skills;
* suffixes, to take the gain apart: ``-s<scale>`` sets LinUCB's ``reward_scale``
  (``linucb-s1`` is the legacy bandit updated online); ``+profile`` / ``-profile`` turn
  the online taste profiles on or off, ``+declared`` / ``-declared`` the declared skills
  (``legacy+declared`` is the static legacy with the D-C20 fix alone); ``-learn`` keeps the
  policies at their prior (events still reach the taste profiles unless ``-profile``:
  ``linucb-profile-learn`` is the service without any feedback);
* ``@<option>=<value>`` after any learning arm overrides a ranking option by name, as
  ``pitchrec evaluate offline`` does (``linucb@collaborative=0@boost_new=0``);
* ``<linucb|thompson|epsilon>-x<w>``: experimental, that policy with its scores multiplied
  by ``w`` (a stand-in for a ``learned_weight`` in the pool score); nothing in ``ranking``
  changes;
* ``oracle-engine``: the pools scored by the TRUE engagement of the current user
  (:class:`~pitchrec.lab.simulation.scorers.TruthScorer`): the ceiling of any policy inside the
  engine's pools, sampling and slot pattern;
* ``shared-engine``: the same with the mean of the TRUE engagement over the stream's
  requests instead of the current user's: the ceiling of any score that is the same for
  every user (a perfectly learned popularity) inside the engine;
* ``linear-engine``: the pools scored by the best fixed linear model of the 18 features
  (theta fitted on the truth, :func:`~pitchrec.lab.simulation.diagnostics.fit_linear_ceiling`): the
  ceiling of any linear policy on the current features;
* ``taste-engine``: the same with a 19th feature, the user's TRUE taste affinity to the
  resume's skills: the ceiling of a linear policy given a perfect personal-taste feature.

Two arms bypass the engine: ``oracle`` (top items by true expected reward) and ``random``
(uniformly random unseen resumes); see :mod:`pitchrec.lab.simulation.oracle`.

The names are parsed into an :class:`ArmSpec` in :mod:`pitchrec.lab.simulation.arm_names`
(re-exported here); this module builds the arms.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pitchrec.domain.activity import ArchiveRow
from pitchrec.domain.feed import Pool
from pitchrec.index.snapshot import Snapshot
from pitchrec.lab.simulation.arm_names import (
    BYPASS_ARMS,
    CEILING_ARMS,
    ENGINE_ARMS,
    LEARNING_BASES,
    OVERRIDE_SEPARATOR,
    SCALED_BASES,
    ArmSpec,
    arm_names_valid,
    parse_arm,
)
from pitchrec.lab.simulation.scorers import FixedLinear, ScaledPolicy, TruthScorer
from pitchrec.learning.feedback import FeedbackLoop, LearningConfig
from pitchrec.learning.learner import PolicyFactory
from pitchrec.policies.base import Float64Array, Policy
from pitchrec.policies.registry import make_policy
from pitchrec.ranking.engine import POLICY_POOLS
from pitchrec.ranking.pool_policies import pool_policy_factory
from pitchrec.ranking.shadow import ShadowConfig
from pitchrec.recommender import Recommender
from pitchrec.service import ServiceConfig, build_service
from pitchrec.tracking.memory_store import MemoryStore
from pitchrec.tracking.tracker import TrackingConfig

__all__ = [
    "BYPASS_ARMS",
    "CEILING_ARMS",
    "ENGINE_ARMS",
    "LEARNING_BASES",
    "OVERRIDE_SEPARATOR",
    "SCALED_BASES",
    "ArmSpec",
    "EngineArm",
    "arm_names_valid",
    "build_engine_arm",
    "parse_arm",
    "policy_factory",
]


def policy_factory(spec: ArmSpec) -> PolicyFactory:
    """The per-pool policy factory of a learning arm."""
    if spec.base in ("legacy", "linucb"):
        inner = pool_policy_factory(spec.reward_scale, spec.ranking().blend_prior())
    else:
        registry_name = {"epsilon": "epsilon_greedy"}.get(spec.base, spec.base)

        def inner() -> dict[Pool, Policy]:
            return {pool: make_policy(registry_name) for pool in POLICY_POOLS}

    if spec.weight == 1.0:
        return inner
    weight = spec.weight

    def build_scaled() -> dict[Pool, Policy]:
        return {k: ScaledPolicy(p, weight) for k, p in inner().items()}

    return build_scaled


@dataclass
class EngineArm:
    """One engine-backed arm: the service objects a run drives."""

    name: str
    recommender: Recommender
    feedback: FeedbackLoop
    store: MemoryStore
    learning: bool
    truth: TruthScorer | None = None
    #: Receives the archive rows before :meth:`drain` drops them (shadow validation).
    archive_sink: Callable[[list[ArchiveRow]], None] | None = None

    def sync(self) -> None:
        """Emulate the feedback loop's 1 s sync (publish, pull, swap when learning)."""
        self.feedback.sync_now()

    def drain(self) -> None:
        """Drop the archive rows (the archiver's job; nothing here reads them, unless an
        ``archive_sink`` is set)."""
        if self.archive_sink is not None and self.store.archive:
            self.archive_sink(list(self.store.archive))
        self.store.drop_archive(len(self.store.archive))

    def describe(self) -> dict[str, Any]:
        return self.feedback.learner.describe()


def _ceiling_factory(
    name: str, ids: NDArray[np.int64], linear_theta: Float64Array | None
) -> tuple[PolicyFactory, TruthScorer | None]:
    """The fixed scorer of a ceiling arm (every pool scores with it) and its truth."""
    if name in ("linear-engine", "taste-engine") and linear_theta is None:
        raise ValueError(f"the {name} arm needs linear_theta")
    truth = None
    scorer: Policy
    if name in ("oracle-engine", "shared-engine"):
        scorer = truth = TruthScorer(ids)
    elif name == "taste-engine":
        scorer = truth = TruthScorer(ids, linear_theta)
    elif name == "linear-engine":
        assert linear_theta is not None
        scorer = FixedLinear(linear_theta)
    else:
        raise ValueError(f"{name!r} is not an engine arm")

    def factory() -> dict[Pool, Policy]:
        return dict.fromkeys(POLICY_POOLS, scorer)

    return factory, truth


def build_engine_arm(
    name: str,
    snapshot: Snapshot,
    clock: Callable[[], float],
    *,
    linear_theta: Float64Array | None = None,
    shadow: ShadowConfig | None = None,
) -> EngineArm:
    """A fresh service for arm ``name`` on ``snapshot``, built by the composition root
    the server uses; ``clock`` drives the store's TTLs (simulated seconds);
    ``linear_theta`` (18,) is required by linear-engine, (19,) by taste-engine;
    ``shadow``: a candidate the service shadows (:mod:`pitchrec.ranking.shadow`)."""
    spec = parse_arm(name)
    truth = None
    if spec is None:
        factory, truth = _ceiling_factory(name, np.asarray(snapshot.resumes.id), linear_theta)
        spec = ArmSpec("ceiling", profiles=False, declared=False, learning=False)
    else:
        factory = policy_factory(spec)
    config = ServiceConfig(
        ranking=spec.ranking(),
        reward_scale=spec.reward_scale,
        tracking=TrackingConfig(taste_profiles=spec.profiles),
        learning=LearningConfig(taste_profiles=spec.profiles, window_seconds=spec.window_seconds),
        learn_online=spec.learning,
        shadow=shadow,
    )
    store = MemoryStore(clock=clock)
    service = build_service(config, store, snapshot=snapshot, policy_factory=factory, clock=clock)
    assert service.recommender is not None
    return EngineArm(name, service.recommender, service.feedback, store, spec.learning, truth)
