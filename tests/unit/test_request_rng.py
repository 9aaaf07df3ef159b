"""The request's generator is seeded from 32-bit words (engine._entropy) rather than a list
of ints: the same state as numpy makes of the list, for every seed and user id."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from pitchrec.ranking.engine import _entropy

_BELOW_2_63 = st.integers(0, (1 << 63) - 1)


@settings(max_examples=300, deadline=None)
@given(seed=_BELOW_2_63, user=st.one_of(st.none(), _BELOW_2_63))
def test_entropy_words_seed_as_the_list_of_ints(seed: int, user: int | None) -> None:
    key = [0] if user is None else [1, user]
    expected = np.random.default_rng([seed, *key]).bit_generator.state
    assert np.random.default_rng(_entropy(seed, *key)).bit_generator.state == expected


def test_entropy_words_at_the_edges() -> None:
    for value in (0, 1, (1 << 32) - 1, 1 << 32, (1 << 32) + 1, (1 << 63) - 1):
        expected = np.random.default_rng([value, 1, value]).bit_generator.state
        assert np.random.default_rng(_entropy(value, 1, value)).bit_generator.state == expected
