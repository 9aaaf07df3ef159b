"""Taste profiles: what each user rewarded, summed per resume, shared by every replica.

Key ``pitchrec:profile:{user_id}``: a HASH ``{resume_id} -> summed reward``, grown by
HINCRBYFLOAT when an event is matched to its impression with a positive reward (like,
save, share, match, a watched view), its TTL refreshed on each write. Increments are
commutative, so replicas never race; a profile is read with the request's session set,
in the same round trip.

Only the impression's own user is credited (an event naming another user than the one
the impression was served to is ignored), only resumes, and only positive rewards: the
profile is evidence of taste, not of indifference (skips reach the bandit instead).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from pitchrec.domain.feed import ItemKind
from pitchrec.domain.profile import EMPTY_PROFILE, TasteProfile

#: Seconds a profile lives after its last reward. Spec 2.2's history window for views is
#: 30 days, so a profile fades when the snapshot history would have dropped it anyway.
PROFILE_TTL = 30 * 86_400
#: Rewarded resumes read per request, heaviest first: the size of spec 2.2's preference
#: sample, so a profile never outweighs the history by its length alone.
PROFILE_SAMPLE = 80


def profile_key(user_id: int) -> str:
    return f"pitchrec:profile:{user_id}"


def parse_profile(fields: Mapping[str, str]) -> TasteProfile:
    """The profile stored in ``fields`` (resume id -> summed reward); entries that are
    not a positive id with a positive finite weight are ignored (the hash is shared, a
    bad writer must not break feeds)."""
    ids: list[int] = []
    weights: list[float] = []
    for name, value in fields.items():
        if not (name.isascii() and name.isdigit()):
            continue
        try:
            weight = float(value)
        except ValueError:
            continue
        if math.isfinite(weight) and weight > 0.0 and int(name) < 2**63:
            ids.append(int(name))
            weights.append(weight)
    if not ids:
        return EMPTY_PROFILE
    id_array = np.asarray(ids, dtype=np.int64)
    weight_array = np.asarray(weights, dtype=np.float64)
    order = np.lexsort((id_array, -weight_array))[:PROFILE_SAMPLE]
    return TasteProfile(id_array[order], weight_array[order])


def credit(
    increments: dict[str, dict[str, float]],
    event: Mapping[str, Any],
    impression: Mapping[str, Any],
    amount: float,
) -> bool:
    """Credit a matched event's reward to the profile of the user the impression was
    served to (module docstring: resumes, positive rewards, the same user only)."""
    served_to = impression.get("user_id")
    if (
        amount > 0.0
        and event.get("item_type") == ItemKind.RESUME.value
        and isinstance(served_to, int)
        and served_to == event.get("user_id")
    ):
        add_reward(increments, served_to, int(event["item_id"]), amount)
        return True
    return False


def add_reward(
    increments: dict[str, dict[str, float]], user_id: int, resume_id: int, amount: float
) -> None:
    """Accumulate one positive reward into ``increments`` (key -> field -> amount)."""
    if amount <= 0.0 or not math.isfinite(amount):
        return
    fields = increments.setdefault(profile_key(user_id), {})
    fields[str(resume_id)] = fields.get(str(resume_id), 0.0) + amount
