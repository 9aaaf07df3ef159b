"""What ``pitchrec evaluate offline`` compares: the configuration names and the run's options.

A configuration is a baseline (:mod:`.baselines`) or an engine configuration, optionally
with RankingOptions overrides (``service@collaborative=10``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from pitchrec.domain.feed import FeedKind
from pitchrec.errors import EvaluationInputError
from pitchrec.lab.offline.baselines import BASELINES
from pitchrec.service import ServiceConfig

#: Engine configurations by name: what ``pitchrec serve`` runs (``service``) and the
#: original service (``legacy``).
ENGINE_CONFIGS: dict[str, Callable[[], ServiceConfig]] = {
    "service": ServiceConfig,
    "legacy": ServiceConfig.legacy,
}
DEFAULT_CONFIGS = ("random", "popularity", "item-knn", "als", "legacy", "service")
#: ``<engine config>@<option>=<value>@...`` overrides RankingOptions fields by name, e.g.
#: ``service@collaborative=10@ranked_fill=1`` (booleans as 0/1).
OVERRIDE_SEPARATOR = "@"


def engine_config(name: str) -> ServiceConfig | None:
    """The ServiceConfig a configuration name asks for, or None for a baseline.
    Raises EvaluationInputError for an unknown engine option."""
    base, *overrides = name.split(OVERRIDE_SEPARATOR)
    if base not in ENGINE_CONFIGS:
        return None
    config = ENGINE_CONFIGS[base]()
    try:
        ranking = config.ranking.overridden(overrides)
    except ValueError as exc:
        raise EvaluationInputError(f"{name!r}: {exc}") from exc
    return replace(config, ranking=ranking)


@dataclass(frozen=True)
class OfflineOptions:
    """``kind``: the feed evaluated (discover: resumes only; total adds challenges, which
    count as misses); ``k``: the headline cut-off; ``ks``: every cut-off reported;
    ``seeds``: repetitions of the stochastic configurations (feeds sample, random
    ranks at random), averaged per user; ``baseline``: the configuration differences are
    paired against; ``max_users``: evaluate a seeded sample of at most this many users
    (None: all)."""

    configs: tuple[str, ...] = DEFAULT_CONFIGS
    kind: FeedKind = FeedKind.DISCOVER
    k: int = 24
    ks: tuple[int, ...] = (5, 10, 24, 48)
    seeds: int = 3
    baseline: str = "popularity"
    max_users: int | None = None

    def __post_init__(self) -> None:
        unknown = [c for c in self.configs if engine_config(c) is None and c not in BASELINES]
        if unknown:
            known = ", ".join((*BASELINES, *ENGINE_CONFIGS))
            raise EvaluationInputError(f"unknown configuration {unknown[0]!r}; known: {known}")
        if self.baseline not in self.configs:
            raise EvaluationInputError(f"the baseline {self.baseline!r} is not among --configs")
        if self.kind is FeedKind.FLOW:
            raise EvaluationInputError("--kind must be discover or total (flows hold no resumes)")
        if self.k < 1 or self.seeds < 1:
            raise EvaluationInputError("--k and --seeds must be at least 1")

    #: The seeds this run computes (a worker's share); None: 0 .. seeds - 1.
    only_seed: int | None = None

    @property
    def cutoffs(self) -> tuple[int, ...]:
        return tuple(sorted({*self.ks, self.k}))

    @property
    def seed_range(self) -> range:
        if self.only_seed is not None:
            return range(self.only_seed, self.only_seed + 1)
        return range(self.seeds)
