"""From feedback events to rewards in [0, 1] (configurable; the defaults are documented
here and in the README).

* ``view``: the watch fraction ``value`` (clipped to [0, 1]); a view without a value is
  worth :data:`VIEW_WITHOUT_VALUE`;
* ``like``, ``save``, ``share``: 1.0; ``match``: 1.0 (an accepted connection);
* ``skip``: 0.0.

Several events for one impression each update the policy (a watched-and-liked item is
rewarded twice): the policies learn an expected engagement per impression, not a
probability.
"""

from __future__ import annotations

from collections.abc import Mapping

DEFAULT_REWARDS: Mapping[str, float] = {
    "like": 1.0,
    "save": 1.0,
    "share": 1.0,
    "match": 1.0,
    "skip": 0.0,
}
VIEW_WITHOUT_VALUE = 0.3


def reward(
    kind: str, value: float | None, table: Mapping[str, float] = DEFAULT_REWARDS
) -> float | None:
    """The reward of one event, or None for an event type that carries none."""
    if kind == "view":
        if value is None:
            return VIEW_WITHOUT_VALUE
        return min(max(float(value), 0.0), 1.0)
    amount = table.get(kind)
    return None if amount is None else min(max(float(amount), 0.0), 1.0)
