"""What travels between serving, tracking and learning: feedback events and impressions.

Frozen records with an explicit JSON form, so what is archived and what is stored in
Redis is defined here once instead of by whichever dict a caller happened to build.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from pitchrec.domain.experiment import Assignment

#: The feedback a client reports (v1 ``POST /v1/events``).
FEEDBACK_TYPES = ("view", "like", "save", "match", "skip", "share")


@dataclass(frozen=True, slots=True)
class FeedbackEvent:
    """One piece of feedback on a served item.

    ``item_type`` is ``"resume"`` or ``"challenge"``; ``request_id`` names the feed the
    item was served in (its impression), ``value`` is a view's watch fraction in [0, 1]
    and ``timestamp`` naive UTC ISO-8601 (None: the time it was received).
    """

    event_id: str
    type: str
    user_id: int
    item_id: int
    item_type: str
    request_id: str | None = None
    position: int | None = None
    value: float | None = None
    timestamp: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The event as JSON values, in field order (what ``activity_log`` archives)."""
        return {
            "event_id": self.event_id,
            "type": self.type,
            "user_id": self.user_id,
            "item_id": self.item_id,
            "item_type": self.item_type,
            "request_id": self.request_id,
            "position": self.position,
            "value": self.value,
            "timestamp": self.timestamp,
        }


@dataclass(frozen=True, slots=True)
class Impression:
    """One served item as learning needs it later: where it came from (pool, slot,
    position), how it was scored (``score``, the ``context`` features, the
    ``policy_version``), the sampling ``propensity`` (None for top-k pools) and the user
    it was served to (None: anonymous); with an experiment, the ``assignment`` (which
    variant served it; absent from the JSON without one); with blend search, the
    ``blend_arm`` that set the feed's points (:mod:`pitchrec.ranking.blend_search`;
    absent from the JSON without it)."""

    pool: str
    slot: str
    position: int
    score: float
    propensity: float | None
    policy_version: int
    context: tuple[float, ...]
    user_id: int | None
    ts: str
    assignment: Assignment | None = None
    blend_arm: int | None = None

    def to_json(self) -> str:
        data: dict[str, Any] = {
            "pool": self.pool,
            "slot": self.slot,
            "position": self.position,
            "score": self.score,
            "propensity": self.propensity,
            "policy_version": self.policy_version,
            "context": list(self.context),
            "user_id": self.user_id,
            "ts": self.ts,
        }
        if self.assignment is not None:
            data.update(self.assignment.tags())
        if self.blend_arm is not None:
            data["blend_arm"] = self.blend_arm
        return orjson.dumps(data).decode()

    @classmethod
    def from_json(cls, raw: str | bytes) -> Impression:
        """Decode a stored impression; raises ValueError (or KeyError, TypeError) when it
        is not one."""
        data = orjson.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("impression is not a JSON object")
        user = data.get("user_id")
        propensity = data.get("propensity")
        variant, experiment = data.get("variant"), data.get("experiment")
        assigned = data.get("assigned")
        arm = data.get("blend_arm")
        assignment = None
        if isinstance(variant, str) and isinstance(experiment, str):
            assignment = Assignment(
                experiment, variant, assigned if isinstance(assigned, str) else None
            )
        return cls(
            pool=str(data["pool"]),
            slot=str(data.get("slot", data["pool"])),
            position=int(data.get("position", 0)),
            score=float(data.get("score", 0.0)),
            propensity=None if propensity is None else float(propensity),
            policy_version=int(data.get("policy_version", 0)),
            context=tuple(float(x) for x in data.get("context") or ()),
            user_id=user if isinstance(user, int) and not isinstance(user, bool) else None,
            ts=str(data.get("ts", "")),
            assignment=assignment,
            blend_arm=arm if isinstance(arm, int) and not isinstance(arm, bool) else None,
        )
