"""The policy behind each scored pool, with the legacy parameters (spec 2.5).

The code values are authoritative (the legacy documents quote others): VMP alpha 1.5 /
beta 0.8, AU 1.3 / 0.7, NU 1.8 / 0.9, prior A = I, b = 0, and the constant 0.7 bonus
until 10 rewards have been seen. Before any feedback the scores are therefore exactly
the legacy ones, alpha * ||x|| + 0.7.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from pitchrec.domain.feed import Pool
from pitchrec.policies.base import Policy
from pitchrec.policies.linucb import LinUCB, LinUCBConfig
from pitchrec.ranking.features import (
    BLEND_COLLABORATIVE,
    BLEND_PRIOR,
    N_BLEND_FEATURES,
    N_FEATURES,
)

#: The service's default LinUCB ``reward_scale`` (settings: PITCHREC_REWARD_SCALE): heuristic
#: points per unit of learned reward. 1 is the legacy bandit, whose learned term cannot
#: reorder a pool (bench/quality/ANALYSIS.md); the value is chosen on the simulator.
DEFAULT_REWARD_SCALE = 30.0
#: The legacy bandit's scale: the learned estimate counts one heuristic point per like.
LEGACY_REWARD_SCALE = 1.0
#: Spec 2.5, per-pool (alpha, beta).
LEGACY_ALPHA_BETA = {Pool.VMP: (1.5, 0.8), Pool.AU: (1.3, 0.7), Pool.NU: (1.8, 0.9)}


def legacy_pool_policies(
    reward_scale: float, blend_prior: tuple[float, float] | None = None
) -> dict[Pool, Policy]:
    """A fresh LinUCB per scored pool, at the legacy prior (``reward_scale``: see
    :class:`~pitchrec.policies.linucb.LinUCB`; 1 is the legacy bandit). ``blend_prior``
    (points of the affinity and the prior, :meth:`RankingOptions.blend_prior`): the
    policies score 20 columns, starting with those weights on columns 18-19."""
    dimension, prior_mean = N_FEATURES, None
    if blend_prior is not None:
        if reward_scale <= 0.0:
            raise ValueError("a learned blend needs reward_scale > 0")
        dimension = N_BLEND_FEATURES
        prior_mean = (0.0,) * N_FEATURES + tuple(w / reward_scale for w in blend_prior)
    return {
        pool: LinUCB(
            replace(
                LinUCBConfig.legacy(alpha, beta, dimension=dimension, reward_scale=reward_scale),
                prior_mean=prior_mean,
                pinned_norm=() if blend_prior is None else (BLEND_COLLABORATIVE, BLEND_PRIOR),
            )
        )
        for pool, (alpha, beta) in LEGACY_ALPHA_BETA.items()
    }


def pool_policy_factory(
    reward_scale: float, blend_prior: tuple[float, float] | None = None
) -> Callable[[], dict[Pool, Policy]]:
    """A factory of fresh legacy-prior policies (what the learner rebuilds from)."""

    def build() -> dict[Pool, Policy]:
        return legacy_pool_policies(reward_scale, blend_prior)

    return build
