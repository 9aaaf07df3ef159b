"""The one contract every registered policy passes (architecture habit 7).

A new policy is covered by registering it in ``pitchrec.policies.registry``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from numpy.typing import NDArray

from pitchrec.policies import (
    N_UPDATES,
    Policy,
    PolicyState,
    add_deltas,
    deltas_close,
    flatten_delta,
    is_zero_delta,
    make_policy,
    policy_names,
    unflatten_delta,
)

# Arbitrary int64 ids on purpose: negative, huge, sparse.
ARM_IDS = np.array([-7, 0, 3, 42, 10**12, 2**62], dtype=np.int64)
DEFAULT_WIDTH = 6  # context width for policies that ignore contexts


@pytest.fixture(params=policy_names())
def name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def width(policy: Policy) -> int:
    return policy.dimension if policy.dimension is not None else DEFAULT_WIDTH


def candidates(policy: Policy, n: int, seed: int) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    rng = np.random.default_rng(seed)
    contexts = rng.normal(size=(n, width(policy)))
    return contexts, rng.choice(ARM_IDS, size=n)


def feedback(
    policy: Policy, m: int, seed: int
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]]:
    rng = np.random.default_rng(seed)
    contexts = rng.normal(size=(m, width(policy))) / np.sqrt(width(policy))
    arms = rng.choice(ARM_IDS, size=m)
    rewards = np.where(rng.random(m) < 0.3, rng.random(m), (rng.random(m) < 0.5) * 1.0)
    return contexts, arms, rewards


def scores(policy: Policy, seed: int = 99, n: int = 40) -> NDArray[np.float64]:
    contexts, arms = candidates(policy, n, seed=1234)
    return policy.score(contexts, arms, np.random.default_rng(seed))


def trained(name: str, *seeds: int, m: int = 30) -> Policy:
    policy = make_policy(name)
    for seed in seeds:
        policy.update(*feedback(policy, m, seed))
    return policy


def assert_states_close(left: PolicyState, right: PolicyState, *, local: bool = False) -> None:
    """Learned arrays agree; replica-local ones too when ``local``."""
    assert left.policy == right.policy
    assert left.n_updates == right.n_updates
    groups = [(left.arrays, right.arrays)]
    if local:
        groups.append((left.local, right.local))
    for mine, theirs in groups:
        assert set(mine) == set(theirs)
        for key, value in mine.items():
            np.testing.assert_allclose(value, theirs[key], rtol=1e-9, atol=1e-9, err_msg=key)


def learning_names() -> list[str]:
    return [name for name in policy_names() if make_policy(name).learns]


def static_names() -> list[str]:
    return [name for name in policy_names() if not make_policy(name).learns]


def test_registry_builds_the_named_policy(name: str) -> None:
    policy = make_policy(name)
    assert isinstance(policy, Policy)
    assert policy.name == name
    assert policy.version == 0
    assert policy.n_updates == 0


def test_scores_have_one_finite_value_per_candidate(name: str) -> None:
    policy = trained(name, 1)
    for n in (1, 7, 300):
        contexts, arms = candidates(policy, n, seed=n)
        out = policy.score(contexts, arms, np.random.default_rng(0))
        assert out.shape == (n,)
        assert out.dtype == np.float64
        assert np.isfinite(out).all()


def test_unseen_arms_and_plain_lists_are_accepted(name: str) -> None:
    policy = trained(name, 1)
    contexts, _ = candidates(policy, 3, seed=5)
    out = policy.score(contexts, np.array([987654321, -1, 5]), np.random.default_rng(0))
    assert out.shape == (3,)
    assert np.isfinite(out).all()


def test_no_candidates_and_empty_feedback_work(name: str) -> None:
    policy = trained(name, 1)
    before = policy.export_state()
    empty_contexts = np.empty((0, width(policy)))
    empty_arms = np.empty(0, dtype=np.int64)
    out = policy.score(empty_contexts, empty_arms, np.random.default_rng(0))
    assert out.shape == (0,)
    policy.update(empty_contexts, empty_arms, np.empty(0))
    assert policy.n_updates == before.n_updates
    assert policy.version == before.version


def test_scores_are_deterministic_given_the_rng_seed(name: str) -> None:
    first, second = trained(name, 1, 2), trained(name, 1, 2)
    np.testing.assert_array_equal(scores(first, seed=5), scores(second, seed=5))
    np.testing.assert_array_equal(scores(first, seed=5), scores(first, seed=5))


def test_update_accepts_batches_and_counts_rows(name: str) -> None:
    policy = make_policy(name)
    policy.update(*feedback(policy, 1, seed=1))
    assert policy.n_updates == 1
    version = policy.version
    policy.update(*feedback(policy, 250, seed=2))
    assert policy.n_updates == 251
    assert policy.version > version


def test_bad_feedback_is_refused(name: str) -> None:
    policy = make_policy(name)
    contexts, arms, rewards = feedback(policy, 4, seed=1)
    with pytest.raises(ValueError):
        policy.update(contexts, arms, rewards + 2.0)
    with pytest.raises(ValueError):
        policy.update(contexts, arms, np.full(4, np.nan))
    with pytest.raises(ValueError):
        policy.update(contexts, arms[:3], rewards)
    with pytest.raises(ValueError):
        policy.score(contexts[0], arms[:1], np.random.default_rng(0))
    assert policy.n_updates == 0


def test_pending_delta_transfers_the_state(name: str) -> None:
    source = trained(name, 1, 2)
    delta = source.pending_delta()
    assert delta[N_UPDATES] == 60
    target = make_policy(name)
    target.apply_delta(delta)
    assert target.n_updates == source.n_updates
    np.testing.assert_allclose(scores(target), scores(source), rtol=1e-9, atol=1e-12)
    # Taking the delta resets it; an applied delta is never echoed back.
    assert is_zero_delta(source.pending_delta())
    assert is_zero_delta(target.pending_delta())


def test_deltas_are_commutative(name: str) -> None:
    d1 = trained(name, 1).pending_delta()
    d2 = trained(name, 2, 3).pending_delta()
    one_two, two_one = make_policy(name), make_policy(name)
    one_two.apply_delta(d1)
    one_two.apply_delta(d2)
    two_one.apply_delta(d2)
    two_one.apply_delta(d1)
    assert_states_close(one_two.export_state(), two_one.export_state())
    np.testing.assert_allclose(scores(one_two), scores(two_one), rtol=1e-9, atol=1e-12)


def test_replica_deltas_add_up_to_one_policy_that_saw_everything(name: str) -> None:
    replica_a, replica_b = trained(name, 1), trained(name, 2, 3)
    single = trained(name, 1, 2, 3)
    d_a, d_b = replica_a.pending_delta(), replica_b.pending_delta()
    third = make_policy(name)
    third.apply_delta(d_a)
    third.apply_delta(d_b)
    summed = make_policy(name)
    summed.apply_delta(add_deltas(d_a, d_b))
    for rebuilt in (third, summed):
        assert_states_close(rebuilt.export_state(), single.export_state())
        np.testing.assert_allclose(scores(rebuilt), scores(single), rtol=1e-9, atol=1e-12)


def test_deltas_survive_flattening_to_scalar_fields(name: str) -> None:
    delta = trained(name, 1).pending_delta()
    fields = flatten_delta(delta)
    assert all(isinstance(value, float) for value in fields.values())
    assert deltas_close(unflatten_delta(fields), delta, rtol=0.0, atol=0.0)
    direct, flattened = make_policy(name), make_policy(name)
    direct.apply_delta(delta)
    flattened.apply_delta(unflatten_delta(fields))
    np.testing.assert_array_equal(scores(direct), scores(flattened))


def test_a_delta_of_another_shape_is_refused(name: str) -> None:
    policy = make_policy(name)
    with pytest.raises(ValueError):
        policy.apply_delta({"no such key": 1.0})
    with pytest.raises(ValueError):
        policy.apply_delta({N_UPDATES: -1.0})


def test_export_import_round_trip(name: str) -> None:
    source = trained(name, 1)
    source.pending_delta()
    source.update(*feedback(source, 20, seed=2))  # some learning still pending
    state = source.export_state()
    target = make_policy(name)
    target.import_state(state)
    assert target.version == source.version
    assert target.n_updates == source.n_updates
    np.testing.assert_array_equal(scores(target), scores(source))
    assert_states_close(target.export_state(), state, local=True)
    assert deltas_close(target.pending_delta(), source.pending_delta(), rtol=0.0, atol=0.0)
    # The exported state is a copy: learning afterwards does not change it.
    source.update(*feedback(source, 5, seed=3))
    assert_states_close(target.export_state(), state, local=True)


def test_state_of_another_policy_is_refused(name: str) -> None:
    policy = make_policy(name)
    state = PolicyState(policy="not-" + name, version=1, n_updates=1)
    with pytest.raises(ValueError):
        policy.import_state(state)


def test_describe_is_json_ready(name: str) -> None:
    policy = trained(name, 1)
    info = policy.describe()
    assert info["policy"] == name
    assert info["n_updates"] == policy.n_updates
    assert info["version"] == policy.version
    json.dumps(info)


@pytest.mark.parametrize("static_name", static_names())
def test_policies_that_do_not_learn_ignore_feedback(static_name: str) -> None:
    policy = make_policy(static_name)
    before = scores(policy)
    policy.update(*feedback(policy, 50, seed=1))
    np.testing.assert_array_equal(scores(policy), before)


@pytest.mark.parametrize("learning_name", learning_names())
def test_learning_policies_find_the_best_arm(learning_name: str) -> None:
    """Five arms with fixed one-hot contexts and Bernoulli rewards of known means."""
    policy = make_policy(learning_name)
    means = np.array([0.1, 0.3, 0.5, 0.4, 0.75])
    best = int(np.argmax(means))
    arms = np.array([11, 22, 33, 44, 55], dtype=np.int64)
    contexts = np.zeros((5, width(policy)))
    contexts[np.arange(5), np.arange(5)] = 1.0
    rng = np.random.default_rng(2024)
    rounds, tail = 2000, 500
    picks = np.empty(rounds, dtype=np.int64)
    for t in range(rounds):
        choice = int(np.argmax(policy.score(contexts, arms, rng)))
        reward = float(rng.random() < means[choice])
        policy.update(contexts[choice : choice + 1], arms[choice : choice + 1], np.array([reward]))
        picks[t] = choice
    assert np.mean(picks[-tail:] == best) > 0.8
