"""Delta algebra and the per-arm table the per-arm policies share."""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pitchrec.policies import (
    StatsDelta,
    add_deltas,
    deltas_close,
    flatten_delta,
    is_zero_delta,
    unflatten_delta,
)
from pitchrec.policies.arm_table import ArmTable

small = st.floats(min_value=-1e3, max_value=1e3, allow_nan=False, allow_infinity=False)
keys = st.sampled_from(["n_updates", "s:1", "s:-9", "f:1", "count:123456789012"])


@st.composite
def deltas(draw: st.DrawFn) -> StatsDelta:
    delta: StatsDelta = dict(draw(st.dictionaries(keys, small, max_size=5)))
    if draw(st.booleans()):
        delta["A"] = np.array(draw(st.lists(small, min_size=6, max_size=6))).reshape(2, 3)
    if draw(st.booleans()):
        delta["b"] = np.array(draw(st.lists(small, min_size=3, max_size=3)))
    return delta


@settings(max_examples=80, deadline=None)
@given(a=deltas(), b=deltas(), c=deltas())
def test_adding_deltas_is_commutative_and_associative(
    a: StatsDelta, b: StatsDelta, c: StatsDelta
) -> None:
    assert deltas_close(add_deltas(a, b), add_deltas(b, a), rtol=0.0, atol=0.0)
    assert deltas_close(
        add_deltas(add_deltas(a, b), c), add_deltas(a, add_deltas(b, c)), rtol=1e-12, atol=1e-9
    )
    assert deltas_close(add_deltas(a, {}), a, rtol=0.0, atol=0.0)


@settings(max_examples=80, deadline=None)
@given(delta=deltas())
def test_flatten_round_trip(delta: StatsDelta) -> None:
    fields = flatten_delta(delta)
    assert all(type(value) is float for value in fields.values())
    assert deltas_close(unflatten_delta(fields), delta, rtol=0.0, atol=0.0)


def test_add_deltas_does_not_alias_its_inputs() -> None:
    a: StatsDelta = {"b": np.ones(3)}
    total = add_deltas(a)
    total["b"] += 1.0
    np.testing.assert_array_equal(a["b"], np.ones(3))


def test_shape_mismatch_and_missing_elements_are_refused() -> None:
    with pytest.raises(ValueError):
        add_deltas({"b": np.ones(3)}, {"b": np.ones(4)})
    with pytest.raises(ValueError):
        unflatten_delta({"A[0,0]": 1.0, "A[1,1]": 1.0})
    assert is_zero_delta({"n_updates": 0.0, "A": np.zeros((2, 2))})
    assert not is_zero_delta({"s:3": 0.5})


@settings(max_examples=40, deadline=None)
@given(
    batches=st.lists(
        st.lists(st.tuples(st.integers(-(2**63), 2**63 - 1), small), max_size=12), max_size=5
    ),
    queries=st.lists(st.integers(-(2**63), 2**63 - 1), max_size=10),
)
def test_arm_table_matches_a_dict(
    batches: list[list[tuple[int, float]]], queries: list[int]
) -> None:
    table = ArmTable(["value"])
    reference: defaultdict[int, float] = defaultdict(float)
    for batch in batches:
        ids = np.array([arm for arm, _ in batch], dtype=np.int64)
        values = np.array([value for _, value in batch], dtype=np.float64)
        table.add(ids, {"value": values})
        for arm, value in batch:
            reference[arm] += value
    asked = np.array(queries + list(reference), dtype=np.int64)
    expected = np.array([reference.get(arm, 0.0) for arm in asked.tolist()])
    np.testing.assert_allclose(table.gather("value", asked), expected, rtol=1e-12, atol=1e-9)
    assert (table.ids[1:] > table.ids[:-1]).all()
    rebuilt = ArmTable(["value"])
    rebuilt.add_delta(table.to_delta({"value": "v"}), {"value": "v"})
    np.testing.assert_array_equal(rebuilt.ids, table.ids)
    np.testing.assert_array_equal(rebuilt.columns["value"], table.columns["value"])
    loaded = ArmTable(["value"])
    loaded.load(table.export())
    np.testing.assert_array_equal(loaded.ids, table.ids)


def test_arm_table_load_refuses_unsorted_ids() -> None:
    table = ArmTable(["value"])
    with pytest.raises(ValueError, match="sorted"):
        table.load({"arm_ids": np.array([3, 3]), "value": np.zeros(2)})


@pytest.mark.parametrize(
    ("delta", "message"),
    [
        ({"x:1": 1.0}, "unexpected delta key"),
        ({"v1": 1.0}, "unexpected delta key"),
        ({"v:1": 1.0, "v:one": 2.0}, "arm id is not an integer"),
        ({"v:1": 1.0, "v:2": float("nan")}, "expected a finite scalar"),
        ({"v:1": np.zeros(2), "v:2": 1.0}, "expected a finite scalar"),
    ],
)
def test_arm_table_refuses_malformed_deltas_whole(delta: StatsDelta, message: str) -> None:
    table = ArmTable(["value"])
    with pytest.raises(ValueError, match=message):
        table.add_delta(delta, {"value": "v"})
    assert len(table) == 0  # nothing of a refused delta is applied
