"""What each variant of an experiment serves: its ranking options and pool policies.

A variant is the deployment's configuration with some ranking options overridden
(:meth:`RankingOptions.overridden`, the lab's ``@<option>=<value>`` syntax, with ``true``
and ``false`` accepted for switches) and, optionally, another LinUCB reward scale. The
control is the deployment's configuration itself, untouched.

:class:`VariantTable` holds the non-control variants' (options, policies) for the
recommender; the policies are swapped per variant as each variant's learner syncs.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, fields

from pitchrec.domain.experiment import ExperimentSpec, VariantSpec
from pitchrec.domain.feed import Pool
from pitchrec.policies.base import Policy
from pitchrec.ranking.options import RankingOptions
from pitchrec.ranking.pool_policies import legacy_pool_policies

_SWITCHES = {"true": "1", "false": "0", "on": "1", "off": "0", "yes": "1", "no": "0"}


@dataclass(frozen=True)
class VariantSetup:
    """The resolved configuration of one variant."""

    name: str
    options: RankingOptions
    reward_scale: float


def variant_options(base: RankingOptions, variant: VariantSpec) -> RankingOptions:
    """``base`` with ``variant``'s overrides; raises ValueError naming the override."""
    known = [f.name for f in fields(RankingOptions)]
    options = base
    for override in variant.ranking:
        key, _, value = (part.strip() for part in override.partition("="))
        where = f"variants.{variant.name}.ranking: {override!r}"
        if key not in known or not value:
            raise ValueError(
                f"{where} is not <option>=<value> with an option of ({', '.join(known)})"
            )
        try:
            options = options.overridden([f"{key}={_SWITCHES.get(value.lower(), value)}"])
        except ValueError as exc:
            raise ValueError(f"{where}: {exc}") from None
    return options


def variant_setups(
    spec: ExperimentSpec, base: RankingOptions, reward_scale: float
) -> dict[str, VariantSetup]:
    """Every variant's setup, the control first (``base`` and ``reward_scale`` as given).
    Raises ValueError for overrides the options refuse, or a learned blend without a
    positive reward scale (the pool policies would refuse it at start)."""
    setups: dict[str, VariantSetup] = {}
    for variant in spec.variants:
        options = variant_options(base, variant)
        scale = reward_scale if variant.reward_scale is None else variant.reward_scale
        if options.learned_blend and scale <= 0.0:
            raise ValueError(
                f"variants.{variant.name}: a learned blend needs reward_scale > 0 "
                "(set learned_blend=false or a positive reward_scale)"
            )
        setups[variant.name] = VariantSetup(variant.name, options, scale)
    control = setups.pop(spec.control)
    return {spec.control: control, **setups}


class VariantTable:
    """The non-control variants' ranking options and serving policies (swapped whole,
    one reference assignment per variant: feeds in flight keep what they read)."""

    def __init__(self, setups: Mapping[str, VariantSetup]) -> None:
        self.setups = dict(setups)
        self._policies: dict[str, dict[Pool, Policy]] = {
            name: legacy_pool_policies(setup.reward_scale, setup.options.blend_prior())
            for name, setup in self.setups.items()
        }
        self._lock = threading.Lock()

    def __contains__(self, name: object) -> bool:
        return name in self.setups

    def arm(self, name: str) -> tuple[RankingOptions, dict[Pool, Policy]]:
        """(options, policies) of variant ``name``; KeyError when it is not in the table."""
        return self.setups[name].options, self._policies[name]

    def set_policies(self, name: str, policies: Mapping[Pool, Policy]) -> None:
        if name in self.setups:
            with self._lock:
                self._policies[name] = dict(policies)
