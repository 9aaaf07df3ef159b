"""Bandit policies in pure numpy: LinUCB, Thompson sampling, epsilon-greedy, uniform.

Generic by design: candidates are (context, arm id) rows that come in per call, rewards
are floats in [0, 1], randomness is an injected ``np.random.Generator``. Every policy
implements ``Policy`` (``base``) and publishes what it learns as additive deltas
(``deltas``) that replicas can exchange in any order.
"""

from pitchrec.policies.base import Policy, PolicyBase, PolicyState
from pitchrec.policies.deltas import (
    N_UPDATES,
    DeltaValue,
    StatsDelta,
    add_deltas,
    deltas_close,
    flatten_delta,
    is_zero_delta,
    unflatten_delta,
)
from pitchrec.policies.epsilon_greedy import EpsilonGreedy, EpsilonGreedyConfig
from pitchrec.policies.linucb import LinUCB, LinUCBConfig
from pitchrec.policies.registry import make_policy, policy_names, register_policy
from pitchrec.policies.thompson import ThompsonConfig, ThompsonSampling
from pitchrec.policies.uniform import UniformConfig, UniformRandom

__all__ = [
    "N_UPDATES",
    "DeltaValue",
    "EpsilonGreedy",
    "EpsilonGreedyConfig",
    "LinUCB",
    "LinUCBConfig",
    "Policy",
    "PolicyBase",
    "PolicyState",
    "StatsDelta",
    "ThompsonConfig",
    "ThompsonSampling",
    "UniformConfig",
    "UniformRandom",
    "add_deltas",
    "deltas_close",
    "flatten_delta",
    "is_zero_delta",
    "make_policy",
    "policy_names",
    "register_policy",
    "unflatten_delta",
]
