"""The policy behind each scored pool, with the legacy parameters (spec 2.5).

The code values are authoritative (the legacy documents quote others): VMP alpha 1.5 /
beta 0.8, AU 1.3 / 0.7, NU 1.8 / 0.9, prior A = I, b = 0, and the constant 0.7 bonus
until 10 rewards have been seen. Before any feedback the scores are therefore exactly
the legacy ones, alpha * ||x|| + 0.7.
"""

from __future__ import annotations

from collections.abc import Callable

from pitchrec.domain.feed import Pool
from pitchrec.policies.base import Policy
from pitchrec.policies.linucb import LinUCB, LinUCBConfig
from pitchrec.ranking.features import N_FEATURES

#: The service's default LinUCB ``reward_scale`` (settings: PITCHREC_REWARD_SCALE): heuristic
#: points per unit of learned reward. 1 is the legacy bandit, whose learned term cannot
#: reorder a pool (bench/quality/ANALYSIS.md); the value is chosen on the simulator.
DEFAULT_REWARD_SCALE = 30.0
#: The legacy bandit's scale: the learned estimate counts one heuristic point per like.
LEGACY_REWARD_SCALE = 1.0
#: Spec 2.5, per-pool (alpha, beta).
LEGACY_ALPHA_BETA = {Pool.VMP: (1.5, 0.8), Pool.AU: (1.3, 0.7), Pool.NU: (1.8, 0.9)}


def legacy_pool_policies(reward_scale: float) -> dict[Pool, Policy]:
    """A fresh LinUCB per scored pool, at the legacy prior (``reward_scale``: see
    :class:`~pitchrec.policies.linucb.LinUCB`; 1 is the legacy bandit)."""
    return {
        pool: LinUCB(
            LinUCBConfig.legacy(alpha, beta, dimension=N_FEATURES, reward_scale=reward_scale)
        )
        for pool, (alpha, beta) in LEGACY_ALPHA_BETA.items()
    }


def pool_policy_factory(reward_scale: float) -> Callable[[], dict[Pool, Policy]]:
    """A factory of fresh legacy-prior policies (what the learner rebuilds from)."""

    def build() -> dict[Pool, Policy]:
        return legacy_pool_policies(reward_scale)

    return build
