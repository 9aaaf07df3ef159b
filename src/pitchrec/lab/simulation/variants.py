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
* ``linear-engine``: the pools scored by the best fixed linear model of the 18 features
  (theta fitted on the truth, :func:`~pitchrec.lab.simulation.diagnostics.fit_linear_ceiling`): the
  ceiling of any linear policy on the current features;
* ``taste-engine``: the same with a 19th feature, the user's TRUE taste affinity to the
  resume's skills: the ceiling of a linear policy given a perfect personal-taste feature.

Two arms bypass the engine: ``oracle`` (top items by true expected reward) and ``random``
(uniformly random unseen resumes); see :mod:`pitchrec.lab.simulation.oracle`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pitchrec.domain.activity import ArchiveRow
from pitchrec.domain.feed import Pool
from pitchrec.index.snapshot import Snapshot
from pitchrec.lab.simulation.scorers import FixedLinear, ScaledPolicy, TruthScorer
from pitchrec.learning.feedback import FeedbackLoop, LearningConfig
from pitchrec.learning.learner import PolicyFactory
from pitchrec.policies.base import Float64Array, Policy
from pitchrec.policies.registry import make_policy
from pitchrec.ranking.engine import POLICY_POOLS
from pitchrec.ranking.options import DEFAULT_TEMPERATURE, RankingOptions
from pitchrec.ranking.pool_policies import (
    DEFAULT_REWARD_SCALE,
    pool_policy_factory,
)
from pitchrec.ranking.shadow import ShadowConfig
from pitchrec.recommender import Recommender
from pitchrec.service import ServiceConfig, build_service
from pitchrec.tracking.memory_store import MemoryStore
from pitchrec.tracking.tracker import TrackingConfig

BYPASS_ARMS = ("oracle", "random")
CEILING_ARMS = ("oracle-engine", "linear-engine", "taste-engine")
ENGINE_ARMS = ("legacy", "linucb", "thompson", "uniform", "epsilon", *CEILING_ARMS)
LEARNING_BASES = ("legacy", "linucb", "thompson", "uniform", "epsilon")
SCALED_BASES = ("linucb", "thompson", "epsilon")
_FLAGS = ("profile", "declared", "learn")
#: Separates a learning arm from its ranking-option overrides (as in the offline lab).
OVERRIDE_SEPARATOR = "@"


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
    #: ``<option>=<value>`` overrides of the arm's ranking options.
    overrides: tuple[str, ...] = ()

    def ranking(self) -> RankingOptions:
        """The arm's ranking options: the legacy's for ``legacy`` and the ceiling arms
        (their scorer alone ranks the pools), the service's for the other bases, with the
        temperature, declared skills and overrides applied."""
        plain = self.base in ("legacy", "ceiling")
        base = RankingOptions.legacy() if plain else RankingOptions.service()
        options = replace(base, temperature=self.temperature, declared_skills=self.declared)
        return options.overridden(list(self.overrides))


def parse_arm(name: str) -> ArmSpec | None:
    """The spec of a learning arm name (the ceiling and bypass arms give None); raises
    ``ValueError`` for an unknown name."""
    if name in BYPASS_ARMS or name in CEILING_ARMS:
        return None
    name, *overrides = name.split(OVERRIDE_SEPARATOR)
    if overrides:
        spec = parse_arm(name)
        if spec is None:
            raise _unknown(name)
        spec = replace(spec, overrides=tuple(overrides))
        spec.ranking()  # raises ValueError for an unknown option
        return spec
    parts = _tokenize(name)
    if parts is None:
        raise _unknown(name)
    base, tokens = parts
    if len(tokens) == 1 and tokens[0].startswith("-x") and base in SCALED_BASES:
        weight = _number(tokens[0][2:])
        if weight is None:
            raise _unknown(name)
        return ArmSpec(base, 1.0, weight, profiles=False, declared=False)
    suffixes = _suffixes(tokens)
    if suffixes is None:
        raise _unknown(name)
    return _variant_spec(base, suffixes)


@dataclass(frozen=True)
class _Suffixes:
    """The suffixes of a variant name: ``-s<scale>``, ``-t<temp>`` and the switches."""

    scale: float | None
    temperature: float | None
    switches: dict[str, bool]


def _tokenize(name: str) -> tuple[str, list[str]] | None:
    """(base, suffix tokens) of ``name``: each token starts with ``+`` or ``-``
    (``"linucb-s1+profile"`` -> ``("linucb", ["-s1", "+profile"])``); None without a
    known base."""
    for base in LEARNING_BASES:
        rest = name.removeprefix(base)
        if rest != name and (not rest or rest[0] in "+-"):
            tokens: list[str] = []
            for char in rest:
                if char in "+-":
                    tokens.append(char)
                else:
                    tokens[-1] += char
            return base, tokens
    return None


def _number(text: str) -> float | None:
    """``text`` as a float when it is digits with an optional decimal part, else None."""
    whole, dot, fraction = text.partition(".")
    if not _digits(whole) or (dot and not _digits(fraction)):
        return None
    return float(text)


def _digits(text: str) -> bool:
    return bool(text) and all(c in "0123456789" for c in text)


def _suffixes(tokens: list[str]) -> _Suffixes | None:
    """The suffixes in their fixed order (``-s``, then ``-t``, then any switches; a later
    switch of the same name wins); None for anything else."""
    scale = temperature = None
    at = 0
    if at < len(tokens) and tokens[at].startswith("-s"):
        scale = _number(tokens[at][2:])
        if scale is None:
            return None
        at += 1
    if at < len(tokens) and tokens[at].startswith("-t"):
        temperature = _number(tokens[at][2:])
        if temperature is None:
            return None
        at += 1
    switches: dict[str, bool] = {}
    for token in tokens[at:]:
        if token[1:] not in _FLAGS:
            return None
        switches[token[1:]] = token[0] == "+"
    return _Suffixes(scale, temperature, switches)


def _variant_spec(base: str, suffixes: _Suffixes) -> ArmSpec:
    legacy = base == "legacy"
    reward_scale = suffixes.scale
    if reward_scale is None:
        reward_scale = 1.0 if legacy else DEFAULT_REWARD_SCALE
    profiles = suffixes.switches.get("profile", not legacy)
    declared = suffixes.switches.get("declared", not legacy)
    temperature = suffixes.temperature
    if temperature is None:
        temperature = None if legacy else DEFAULT_TEMPERATURE
    if temperature == 0.0:
        temperature = None  # -t0: the legacy draws
    learning = suffixes.switches.get("learn", not legacy)
    return ArmSpec(base, reward_scale, 1.0, profiles, declared, learning, temperature)


def _unknown(name: str) -> ValueError:
    known = ", ".join(
        (
            *ENGINE_ARMS,
            "<base>[-s<scale>][-t<temp>][+|-profile][+|-declared][+|-learn][@<option>=<v>]",
            "<linucb|thompson|epsilon>-x<weight>",
            *BYPASS_ARMS,
        )
    )
    return ValueError(f"unknown policy {name!r}; known: {known}")


def arm_names_valid(names: tuple[str, ...]) -> None:
    """Raise ``ValueError`` for an unknown arm name."""
    for name in names:
        parse_arm(name)


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
    if name == "oracle-engine":
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
        learning=LearningConfig(taste_profiles=spec.profiles),
        learn_online=spec.learning,
        shadow=shadow,
    )
    store = MemoryStore(clock=clock)
    service = build_service(config, store, snapshot=snapshot, policy_factory=factory)
    assert service.recommender is not None
    return EngineArm(name, service.recommender, service.feedback, store, spec.learning, truth)
