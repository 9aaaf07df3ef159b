"""The shadow log: what a shadowed feed leaves for off-policy evaluation of a candidate.

A *shadowed* feed is a served feed for which the service also computed, off the request
path, how often each item lands at each position when the request is drawn again, under
the served configuration (the *logging* policy) and under a candidate configuration that
is never served (the *target* policy). :mod:`pitchrec.ranking.shadow` computes it;
``pitchrec evaluate shadow`` (:mod:`pitchrec.lab.offpolicy.shadow_log`) joins it with the
feedback events that name the same request and estimates the candidate's value.

One record per shadowed feed, archived as one ``activity_log`` row (one entry of the
event stream): ``log_name`` ``app``, ``description`` ``#feed #shadow #<endpoint>`` (which
the history loader's ``%video%view%`` does not match), ``causer_id`` the user,
``subject_id`` NULL, ``url`` ``/shadow``, and ``properties`` the JSON below. The rows of
the served feed itself (request, impressions) are written as without shadowing.

``properties`` (keys in this order)::

    {"event_type": "shadow", "request_id": "...", "user_id": 42, "endpoint": "v1/discover",
     "served_config": "service", "candidate_config": "@collaborative=10",
     "draws": 16, "seed": 123, "timestamp": "2026-11-30T10:00:00.000000",
     "explore": 0.0, "explored": false,
     "items": ["r:12", "r:40", ...],                 # the served feed, position 1 first
     "logging": {"r:12": [1, 15, 3, 1], ...},        # item -> [position, count, ...]
     "target": {"r:7": [1, 9, 2, 7], ...}}           # the same for the candidate

``logging`` counts positions over ``draws`` re-draws of the request under the served
configuration, ``target`` over ``draws`` draws under the candidate (other seeds); the
served feed itself is ``items``. Items are ``r:<resume id>`` or ``c:<challenge id>``;
positions are 1-based. ``explore``: the probability with which a shadowed request was
served the candidate's feed instead (shadow exploration, 0 by default); ``explored``:
whether this one was, so the served feed was drawn from the mixture
(1 - explore) served + explore candidate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from pitchrec.domain.activity import ArchiveRow

#: ``activity_log.description`` of a shadow row is this prefix and the endpoint.
SHADOW_DESCRIPTION = "#feed #shadow #"
SHADOW_URL = "/shadow"
SHADOW_EVENT = "shadow"
LOG_NAME = "app"  # the legacy log name of every pitchrec row (spec 4.4)
#: ``activity_log.properties`` is a TEXT column (64 KiB on MySQL): larger records are not
#: written (counted by the sampler). A 24-item feed with 16 draws takes 2-6 KB.
MAX_PROPERTIES_BYTES = 60_000

#: item key -> flattened (position, count) pairs.
Counts = dict[str, list[int]]


def item_key(kind: str, item_id: int) -> str:
    """``r:<id>`` for a resume, ``c:<id>`` for a challenge (``kind``: ItemKind value)."""
    return f"{'c' if kind == 'challenge' else 'r'}:{item_id}"


@dataclass(frozen=True)
class ShadowLog:
    """One shadowed feed (see the module docstring for the meaning of each field)."""

    request_id: str
    user_id: int | None
    endpoint: str
    served_config: str
    candidate_config: str
    draws: int
    seed: int
    timestamp: str
    items: tuple[str, ...]
    logging: Counts
    target: Counts
    explore: float = 0.0
    explored: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "event_type": SHADOW_EVENT,
            "request_id": self.request_id,
            "user_id": self.user_id,
            "endpoint": self.endpoint,
            "served_config": self.served_config,
            "candidate_config": self.candidate_config,
            "draws": self.draws,
            "seed": self.seed,
            "timestamp": self.timestamp,
            "explore": self.explore,
            "explored": self.explored,
            "items": list(self.items),
            "logging": self.logging,
            "target": self.target,
        }

    def to_json(self) -> str:
        return orjson.dumps(self.as_json()).decode()

    @classmethod
    def from_json(cls, raw: str | bytes) -> ShadowLog:
        """Decode ``properties``; raises ValueError (or KeyError, TypeError) when it is
        not a shadow record."""
        data = orjson.loads(raw)
        if not isinstance(data, dict) or data.get("event_type") != SHADOW_EVENT:
            raise ValueError("not a shadow record")
        user = data.get("user_id")
        return cls(
            request_id=str(data["request_id"]),
            user_id=user if isinstance(user, int) and not isinstance(user, bool) else None,
            endpoint=str(data.get("endpoint", "")),
            served_config=str(data.get("served_config", "")),
            candidate_config=str(data.get("candidate_config", "")),
            draws=int(data["draws"]),
            seed=int(data.get("seed", 0)),
            timestamp=str(data.get("timestamp", "")),
            items=tuple(str(i) for i in data["items"]),
            logging=_counts(data["logging"]),
            target=_counts(data["target"]),
            explore=float(data.get("explore", 0.0)),
            explored=bool(data.get("explored", False)),
        )

    def archive_row(self, event_id: str, causer_type: str) -> ArchiveRow:
        """The ``activity_log`` row of this record (one stream entry); ``causer_type``:
        the user model type of the database (``sources.schema.USER_MODEL_TYPE``)."""
        causer = self.user_id if self.user_id is not None and self.user_id >= 0 else 0
        return ArchiveRow(
            event_id=event_id,
            log_name=LOG_NAME,
            description=f"{SHADOW_DESCRIPTION}{self.endpoint}",
            subject_id=None,
            subject_type=None,
            causer_id=causer,
            causer_type=causer_type,
            properties=self.to_json(),
            url=SHADOW_URL,
            created_at=self.timestamp,
        )


def _counts(data: object) -> Counts:
    if not isinstance(data, dict):
        raise ValueError("counts must be an object")
    out: Counts = {}
    for key, pairs in data.items():
        if not isinstance(pairs, list) or len(pairs) % 2:
            raise ValueError(f"counts of {key!r} are not (position, count) pairs")
        out[str(key)] = [int(x) for x in pairs]
    return out
