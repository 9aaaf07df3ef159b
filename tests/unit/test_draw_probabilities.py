"""The logged propensity of a tempered draw is a probability (0 < p <= 1) however far
apart the weights are.

VMP and NU draw n of their top 2n with weights exp((score - best) / t), t = 0.3 points:
scores 10 points apart weigh e^-33 against 1. The Plackett-Luce probability of each draw
divided its weight by "total minus what was drawn before", and that difference of large
sums lost every digit once the heavy items were drawn: a golden feed logged 1.2533 for
one draw (and 0.8355 when the scores moved by a rounding error). Off-policy estimates
divide by these numbers.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pitchrec.ranking.pools import draw_probabilities, weighted_sample


def test_light_draws_after_heavy_ones_keep_their_probability() -> None:
    weights = np.asarray([1.0, 3e-17, 1e-17, 5e-18])
    probabilities = draw_probabilities(weights, np.asarray([0, 1, 2]))
    expected = [1.0 / (1.0 + 4.5e-17), 3e-17 / 4.5e-17, 1e-17 / 1.5e-17]
    assert np.allclose(probabilities, expected, rtol=1e-12, atol=0.0)


@settings(max_examples=200, deadline=None)
@given(
    scores=st.lists(st.floats(0.0, 100.0), min_size=2, max_size=48),
    temperature=st.sampled_from([0.05, 0.3, 1.0, 10.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_every_draw_probability_is_a_probability(
    scores: list[float], temperature: float, seed: int
) -> None:
    values = np.asarray(scores)
    weights = np.exp((values - values.max()) / temperature)
    rng = np.random.default_rng(seed)
    k = rng.integers(1, values.shape[0] + 1)
    order = rng.permutation(values.shape[0])[:k].astype(np.int64)
    probabilities = draw_probabilities(weights, order)
    assert np.all(probabilities >= 0.0) and np.all(probabilities <= 1.0 + 1e-12)
    # The last of all n draws is certain.
    full = draw_probabilities(weights, rng.permutation(values.shape[0]).astype(np.int64))
    assert full[-1] == 1.0 or weights[np.argmin(weights)] == 0.0


def test_a_certain_last_draw_is_certain_even_for_tiny_weights() -> None:
    """A weight near the smallest double (a score 200 points below the best at t = 0.3)
    was divided by max(remaining, 1e-300): the certain last draw logged 9.9e-5."""
    weights = np.asarray([1.0, 9.86e-305])
    assert draw_probabilities(weights, np.asarray([0, 1])).tolist() == [1.0, 1.0]


def test_a_draw_with_weights_near_the_smallest_double_does_not_overflow() -> None:
    """Scores 240 points apart (an affinity scaled by 8) temper to weights of 1e-310 and
    less: the draw's exponential key E / w overflowed (a RuntimeWarning, an error in the
    service's tests) where its logarithm does not."""
    weights = np.asarray([1.0, 2e-59, 1.2e-300, 1.9e-309, 8.9e-323, 0.0])
    order = weighted_sample(weights, 6, np.random.default_rng(0))
    assert sorted(order.tolist()) == list(range(6))
    assert order[-1] == 5  # a zero weight is drawn last


def test_log_keys_draw_what_the_plain_keys_drew() -> None:
    """The same random numbers give the same order as E / w whenever that did not
    overflow (the golden feeds depend on it)."""
    rng_weights = np.random.default_rng(3)
    for _ in range(50):
        weights = rng_weights.random(40) ** 4
        seed = int(rng_weights.integers(1 << 30))
        plain_keys = np.random.default_rng(seed).exponential(size=40) / weights
        expected = np.argsort(plain_keys, kind="stable")[:20]
        assert weighted_sample(weights, 20, np.random.default_rng(seed)).tolist() == (
            expected.tolist()
        )
