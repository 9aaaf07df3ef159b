"""The compared policies ("arms" of the experiment), each wired like the service.

Every engine-backed arm is a :class:`~pitchrec.service.Recommender` with a
:class:`~pitchrec.tracking.tracker.Tracker` on a :class:`MemoryStore`: feeds are recorded
(impressions, session sets), events go through ``record_events`` and the learner, and the
serving policies are swapped at every sync, exactly as in the server. They differ only by
the pool-policy factory and by whether the swap is wired:

* ``legacy``: the legacy prior (``legacy_pool_policies``), no taste profiles, no declared
  skills (D-C20 kept); the tracker records but the recommender never receives new
  policies (``on_policies`` unset): legacy-static, what the seed describes;
* ``linucb``: the service's default path: LinUCB at the legacy prior with the default
  ``reward_scale`` (``pool_policy_factory``), learning online, online taste profiles and
  declared skills;
* ``thompson``, ``uniform``, ``epsilon``: ``make_policy(name)`` per pool, with profiles
  and declared skills;
* suffixes, to take the gain apart: ``-s<scale>`` sets LinUCB's ``reward_scale``
  (``linucb-s1`` is the legacy bandit updated online); ``+profile`` / ``-profile`` turn
  the online taste profiles on or off, ``+declared`` / ``-declared`` the declared skills
  (``legacy+declared`` is the static legacy with the D-C20 fix alone);
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
from pitchrec.ranking.options import DEFAULT_TEMPERATURE, RankingOptions
from pitchrec.ranking.pool_policies import (
    DEFAULT_REWARD_SCALE,
    pool_policy_factory,
)
from pitchrec.service import Recommender
from pitchrec.tracking.learner import PolicyLearner
from pitchrec.tracking.memory_store import MemoryStore
from pitchrec.tracking.tracker import Tracker, TrackingConfig

BYPASS_ARMS = ("oracle", "random")
CEILING_ARMS = ("oracle-engine", "linear-engine", "taste-engine")
ENGINE_ARMS = ("legacy", "linucb", "thompson", "uniform", "epsilon", *CEILING_ARMS)
_SCALED = re.compile(r"^(?P<base>linucb|thompson|epsilon)-x(?P<weight>[0-9]+(?:\.[0-9]+)?)$")
_VARIANT = re.compile(
    r"^(?P<base>legacy|linucb|thompson|uniform|epsilon)"
    r"(?:-s(?P<scale>[0-9]+(?:\.[0-9]+)?))?(?:-t(?P<temp>[0-9]+(?:\.[0-9]+)?))?(?P<flags>(?:[+-](?:profile|declared))*)$"
)
_POOL_NAMES = tuple(pool.value for pool in POLICY_POOLS)


@dataclass(frozen=True)
class ArmSpec:
    """What an engine arm name asks for: the policy ``base``, LinUCB's ``reward_scale``,
    the ``-x`` score multiplier (1: none), whether online profiles and declared skills
    are used and whether the policies learn."""

    base: str
    reward_scale: float = DEFAULT_REWARD_SCALE
    weight: float = 1.0
    profiles: bool = True
    declared: bool = True
    learning: bool = True
    temperature: float | None = None


def parse_arm(name: str) -> ArmSpec | None:
    """The spec of a learning arm name (the ceiling and bypass arms give None); raises
    ``ValueError`` for an unknown name."""
    if name in BYPASS_ARMS or name in CEILING_ARMS:
        return None
    scaled = _SCALED.match(name)
    if scaled is not None:
        weight = float(scaled.group("weight"))
        return ArmSpec(scaled.group("base"), 1.0, weight, profiles=False, declared=False)
    variant = _VARIANT.match(name)
    if variant is None:
        known = ", ".join(
            (*ENGINE_ARMS, "<base>[-s<scale>][+|-profile][+|-declared]",
             "<linucb|thompson|epsilon>-x<weight>", *BYPASS_ARMS)
        )  # fmt: skip
        raise ValueError(f"unknown policy {name!r}; known: {known}")
    base = variant.group("base")
    legacy = base == "legacy"
    scale = variant.group("scale")
    reward_scale = float(scale) if scale is not None else (1.0 if legacy else DEFAULT_REWARD_SCALE)
    flags = re.findall(r"([+-])(profile|declared)", variant.group("flags"))
    switches = {name: sign == "+" for sign, name in flags}
    profiles = switches.get("profile", not legacy)
    declared = switches.get("declared", not legacy)
    temp = variant.group("temp")
    temperature = float(temp) if temp is not None else (None if legacy else DEFAULT_TEMPERATURE)
    if temperature == 0.0:
        temperature = None  # -t0: the legacy draws
    return ArmSpec(base, reward_scale, 1.0, profiles, declared, not legacy, temperature)


def arm_names_valid(names: tuple[str, ...]) -> None:
    """Raise ``ValueError`` for an unknown arm name."""
    for name in names:
        parse_arm(name)


def policy_factory(spec: ArmSpec) -> Callable[[], dict[str, Policy]]:
    """The per-pool policy factory of a learning arm (keyed by pool name)."""
    if spec.base in ("legacy", "linucb"):
        inner = pool_policy_factory(spec.reward_scale)
    else:
        registry_name = {"epsilon": "epsilon_greedy"}.get(spec.base, spec.base)

        def inner() -> dict[str, Policy]:
            return {pool: make_policy(registry_name) for pool in _POOL_NAMES}

    if spec.weight == 1.0:
        return inner
    weight = spec.weight

    def build_scaled() -> dict[str, Policy]:
        return {k: ScaledPolicy(p, weight) for k, p in inner().items()}

    return build_scaled


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

    spec = parse_arm(name)
    if spec is not None:
        factory = policy_factory(spec)
    elif scorer is None:
        raise ValueError(f"{name!r} is not an engine arm")
    store = MemoryStore(clock=clock)
    learner = PolicyLearner(store, factory)
    profiles = spec.profiles if spec is not None else False
    tracker = Tracker(store, learner, TrackingConfig(taste_profiles=profiles))
    initial = {Pool(pool): policy for pool, policy in learner.serving.items()}
    options = RankingOptions(
        temperature=spec.temperature if spec is not None else None,
        declared_skills=spec.declared if spec is not None else False,
    )
    recommender = Recommender(snapshot, initial, tracker, options)
    learning = spec is not None and spec.learning
    if learning:
        tracker.on_policies = recommender.set_policies
    return EngineArm(name, recommender, tracker, store, learning, truth)
