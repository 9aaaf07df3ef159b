"""Additive statistics deltas: what a policy learned, as commutative increments.

A ``StatsDelta`` is a plain ``dict`` from a key to a ``float`` or a float64 array. Two
deltas add key by key (a missing key counts as zero, arrays add elementwise), so adding is
commutative and associative: replicas can publish their deltas in any order, many times
over, and the sum is the same. A policy's global state is its prior plus the sum of every
delta ever published.

Key conventions used by the policies of this package:

- ``"n_updates"``: the number of feedback rows the delta holds (every policy);
- a bare name (``"A"``, ``"b"``) for a dense array of a fixed shape;
- ``"<column>:<arm id>"`` (``"s:17"``) for a per-arm scalar, arms being arbitrary int64 ids.

``flatten_delta`` / ``unflatten_delta`` turn a delta into ``str -> float`` fields and back,
the shape a store of scalar counters (e.g. a hash incremented field by field) can hold.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np
from numpy.typing import NDArray

DeltaValue = float | NDArray[np.float64]
StatsDelta = dict[str, DeltaValue]

N_UPDATES = "n_updates"

_ELEMENT_KEY = re.compile(r"^(?P<name>.+)\[(?P<index>\d+(?:,\d+)*)\]$")


def _copy_value(value: DeltaValue) -> DeltaValue:
    if isinstance(value, np.ndarray):
        return np.array(value, dtype=np.float64, copy=True)
    return float(value)


def add_deltas(*deltas: Mapping[str, DeltaValue]) -> StatsDelta:
    """Sum deltas key by key; a key missing from a delta counts as zero.

    Arrays under the same key must have the same shape. The inputs are not modified.
    """
    total: StatsDelta = {}
    for delta in deltas:
        for key, value in delta.items():
            if key not in total:
                total[key] = _copy_value(value)
                continue
            current = total[key]
            if isinstance(current, np.ndarray) or isinstance(value, np.ndarray):
                left = np.asarray(current, dtype=np.float64)
                right = np.asarray(value, dtype=np.float64)
                if left.shape != right.shape:
                    raise ValueError(f"delta key {key!r}: shapes {left.shape} != {right.shape}")
                total[key] = left + right
            else:
                total[key] = float(current) + float(value)
    return total


def is_zero_delta(delta: Mapping[str, DeltaValue]) -> bool:
    """True when every value of ``delta`` is zero (an empty delta is zero)."""
    return all(not np.any(np.asarray(value)) for value in delta.values())


def deltas_close(
    left: Mapping[str, DeltaValue],
    right: Mapping[str, DeltaValue],
    *,
    rtol: float = 1e-9,
    atol: float = 1e-9,
) -> bool:
    """True when the deltas agree within tolerance; a key missing on one side counts as zero."""
    for key in set(left) | set(right):
        a = np.asarray(left.get(key, 0.0), dtype=np.float64)
        b = np.asarray(right.get(key, 0.0), dtype=np.float64)
        if a.shape != b.shape and a.ndim > 0 and b.ndim > 0:
            return False
        if not np.allclose(a, b, rtol=rtol, atol=atol):
            return False
    return True


def flatten_delta(delta: Mapping[str, DeltaValue]) -> dict[str, float]:
    """Turn a delta into scalar fields: ``"A[i,j]"`` per array element, scalars as they are.

    Every array element is written, zeros included, so ``unflatten_delta`` can rebuild the
    shape from the largest index seen.
    """
    fields: dict[str, float] = {}
    for key, value in delta.items():
        if _ELEMENT_KEY.match(key):
            raise ValueError(f"delta key {key!r} looks like an array element key")
        if isinstance(value, np.ndarray) and value.ndim > 0:
            for index, element in np.ndenumerate(value):
                fields[f"{key}[{','.join(map(str, index))}]"] = float(element)
        else:
            fields[key] = float(value)
    return fields


def unflatten_delta(fields: Mapping[str, float]) -> StatsDelta:
    """Inverse of ``flatten_delta``: gather ``"name[i,j]"`` fields back into arrays.

    Raises ``ValueError`` when an array's elements are not all present.
    """
    delta: StatsDelta = {}
    elements: dict[str, list[tuple[tuple[int, ...], float]]] = {}
    for key, value in fields.items():
        if "[" not in key:  # a scalar: no pattern to match (per-arm tables hold thousands)
            delta[key] = float(value)
            continue
        match = _ELEMENT_KEY.match(key)
        if match is None:
            delta[key] = float(value)
            continue
        index = tuple(int(part) for part in match["index"].split(","))
        elements.setdefault(match["name"], []).append((index, float(value)))
    for name, items in elements.items():
        if name in delta:
            raise ValueError(f"delta key {name!r} is both a scalar and an array")
        ndims = {len(index) for index, _ in items}
        if len(ndims) != 1:
            raise ValueError(f"delta array {name!r}: indices of different lengths")
        shape = tuple(int(n) + 1 for n in np.max([index for index, _ in items], axis=0))
        if int(np.prod(shape)) != len(items):
            raise ValueError(f"delta array {name!r}: {len(items)} elements for shape {shape}")
        array = np.zeros(shape, dtype=np.float64)
        for index, value in items:
            array[index] = value
        delta[name] = array
    return delta
