"""Taste profiles: what each user rewarded, summed per resume, shared by every replica.

Key ``pitchrec:profile:{user_id}`` (:func:`pitchrec.tracking.store.profile_key`): a HASH
``{resume_id} -> summed reward``, grown by
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

from pitchrec.domain.events import FeedbackEvent, Impression
from pitchrec.domain.feed import ItemKind
from pitchrec.tracking.store import profile_key

#: Seconds a profile lives after its last reward. Spec 2.2's history window for views is
#: 30 days, so a profile fades when the snapshot history would have dropped it anyway.
PROFILE_TTL = 30 * 86_400


def credit(
    increments: dict[str, dict[str, float]],
    event: FeedbackEvent,
    impression: Impression,
    amount: float,
) -> bool:
    """Credit a matched event's reward to the profile of the user the impression was
    served to (module docstring: resumes, positive rewards, the same user only)."""
    served_to = impression.user_id
    if (
        amount > 0.0
        and event.item_type == ItemKind.RESUME.value
        and served_to is not None
        and served_to == event.user_id
    ):
        add_reward(increments, served_to, event.item_id, amount)
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
