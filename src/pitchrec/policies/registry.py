"""Policies by name: ``make_policy("linucb", dimension=18, alpha=1.5)``.

Keyword arguments are the fields of the policy's config dataclass. The contract test suite
is parametrised over ``policy_names()``: registering a policy is how it gets tested.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pitchrec.policies.base import Policy
from pitchrec.policies.epsilon_greedy import EpsilonGreedy, EpsilonGreedyConfig
from pitchrec.policies.linucb import LinUCB, LinUCBConfig
from pitchrec.policies.thompson import ThompsonConfig, ThompsonSampling
from pitchrec.policies.uniform import UniformConfig, UniformRandom

PolicyFactory = Callable[..., Policy]


def _linucb(**params: Any) -> Policy:
    return LinUCB(LinUCBConfig(**params))


def _thompson(**params: Any) -> Policy:
    return ThompsonSampling(ThompsonConfig(**params))


def _epsilon_greedy(**params: Any) -> Policy:
    return EpsilonGreedy(EpsilonGreedyConfig(**params))


def _uniform(**params: Any) -> Policy:
    return UniformRandom(UniformConfig(**params))


_REGISTRY: dict[str, PolicyFactory] = {
    LinUCB.name: _linucb,
    ThompsonSampling.name: _thompson,
    EpsilonGreedy.name: _epsilon_greedy,
    UniformRandom.name: _uniform,
}


def register_policy(name: str, factory: PolicyFactory, *, replace: bool = False) -> None:
    """Add ``factory`` under ``name``; it must build a policy whose ``name`` is ``name``."""
    if name in _REGISTRY and not replace:
        raise ValueError(f"policy {name!r} is already registered")
    _REGISTRY[name] = factory


def policy_names() -> tuple[str, ...]:
    """The registered names, in registration order."""
    return tuple(_REGISTRY)


def make_policy(name: str, **params: Any) -> Policy:
    """A new policy with a prior state; ``params`` are its config fields.

    Raises ``ValueError`` for an unknown name, ``TypeError`` for an unknown parameter.
    """
    try:
        factory = _REGISTRY[name]
    except KeyError:
        known = ", ".join(_REGISTRY)
        raise ValueError(f"unknown policy {name!r}; known: {known}") from None
    return factory(**params)
