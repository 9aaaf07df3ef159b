"""The tracking port: a small Protocol with a Redis adapter and an in-process adapter of
identical semantics (the embedded default, not a test mock).

Every method is one round trip to Redis. Keys (spec 4.2, kept for other consumers):

* ``user_activity:{user_id}``: LIST of legacy event JSON, newest first, TTL 24 h;
* ``session:{user}:{session}:videos``: SET of served ids, TTL 1 h (namespaced, D-S10);

and pitchrec's own, under ``pitchrec:``:

* ``pitchrec:imp:{request_id}``: HASH ``{r|c}:{item_id}`` -> impression JSON, with TTL;
* ``pitchrec:profile:{user_id}``: HASH resume id -> summed reward, with TTL
  (:mod:`pitchrec.tracking.profiles`);
* ``pitchrec:events``: the archive STREAM (:mod:`pitchrec.tracking.archive_format`);
* ``pitchrec:policy:version`` and ``pitchrec:policy:v{version}:{pool}``: HASHes of summed
  policy statistics, grown only by HINCRBYFLOAT (commutative, no read-modify-write).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from pitchrec.tracking.archive_format import ArchiveRow

POLICY_VERSION_KEY = "pitchrec:policy:version"
APPLIED_BATCHES_KEY = "pitchrec:policy:applied"
APPLIED_BATCHES_TTL = 86_400  # seconds a batch id is remembered (retries come within seconds)


def policy_stats_key(version: int, pool: str) -> str:
    return f"pitchrec:policy:v{version}:{pool}"


def impression_key(request_id: str) -> str:
    return f"pitchrec:imp:{request_id}"


def impression_field(item_type: str, item_id: int) -> str:
    return f"{'c' if item_type == 'challenge' else 'r'}:{item_id}"


@dataclass
class FeedWrites:
    """Everything one served feed writes, sent in one pipeline."""

    activity_key: str | None  # None: nothing for the legacy list (no user key)
    activity_events: list[str]  # JSON, in push order (the last pushed ends up first)
    activity_ttl: int
    session_key: str
    session_members: list[str]
    session_ttl: int
    impressions_key: str
    impressions: dict[str, str]
    impressions_ttl: int
    archive: list[ArchiveRow] = field(default_factory=list)


class TrackingStore(Protocol):
    def ping(self) -> bool: ...

    def session_members(self, key: str) -> set[str]: ...

    def read_request_state(
        self, session_key: str | None, profile_key: str | None
    ) -> tuple[set[str], dict[str, str]]:
        """The session set and the taste-profile hash, in one round trip (a key given as
        None is not read and comes back empty)."""
        ...

    def add_profiles(self, increments: dict[str, dict[str, float]], ttl: int) -> None:
        """HINCRBYFLOAT every (key, field, amount) and refresh each key's TTL, in one
        round trip."""
        ...

    def write_feed(self, writes: list[FeedWrites]) -> None:
        """Apply the writes of one or more feeds in one round trip."""
        ...

    def read_impressions(self, lookups: list[tuple[str, str]]) -> list[str | None]:
        """HGET each (key, field) in one round trip."""
        ...

    def append_archive(self, rows: list[ArchiveRow]) -> None: ...

    def add_stats(self, batch_id: str, increments: dict[str, dict[str, float]]) -> bool:
        """Add every (key, field, amount) atomically and at most once per ``batch_id``
        (a retried batch is not applied twice); False when the batch was already applied."""
        ...

    def read_stats(self, keys: list[str]) -> dict[str, dict[str, float]]: ...

    def policy_version(self) -> int:
        """The current policy statistics version (1 when never set)."""
        ...

    def set_policy_version(self, version: int) -> None: ...
