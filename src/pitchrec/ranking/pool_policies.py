"""The policy behind each scored pool, with the legacy parameters (spec 2.5).

The code values are authoritative (the legacy documents quote others): VMP alpha 1.5 /
beta 0.8, AU 1.3 / 0.7, NU 1.8 / 0.9, prior A = I, b = 0, and the constant 0.7 bonus
until 10 rewards have been seen. Before any feedback the scores are therefore exactly
the legacy ones, alpha * ||x|| + 0.7.
"""

from __future__ import annotations

from pitchrec.domain.feed import Pool
from pitchrec.policies.base import Policy
from pitchrec.policies.linucb import LinUCB, LinUCBConfig
from pitchrec.ranking.features import N_FEATURES

#: Spec 2.5, per-pool (alpha, beta).
LEGACY_ALPHA_BETA = {Pool.VMP: (1.5, 0.8), Pool.AU: (1.3, 0.7), Pool.NU: (1.8, 0.9)}


def legacy_pool_policies() -> dict[Pool, Policy]:
    """A fresh LinUCB per scored pool, at the legacy prior."""
    return {
        pool: LinUCB(LinUCBConfig.legacy(alpha, beta, dimension=N_FEATURES))
        for pool, (alpha, beta) in LEGACY_ALPHA_BETA.items()
    }


def pool_policy_factory() -> dict[str, Policy]:
    """Fresh legacy-prior policies keyed by pool name (what the learner rebuilds from)."""
    return {pool.value: policy for pool, policy in legacy_pool_policies().items()}
