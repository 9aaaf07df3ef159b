"""The in-process adapter of :class:`~pitchrec.tracking.store.TrackingStore`: the
embedded default (``make run`` needs no Redis), with the Redis adapter's semantics:
lists pushed at the head, sets, hashes with TTLs, an append-only archive queue, and
float counters. Thread-safe; one process only.

The taste profiles (:mod:`pitchrec.tracking.memory_profiles`) and the archive queue
(:mod:`pitchrec.tracking.memory_archive`) are mixins of :class:`MemoryStore`, under its
one lock; the per-object byte estimates are in :mod:`pitchrec.tracking.sizes`.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

from pitchrec.tracking.memory_archive import ARCHIVE_CAP, ARCHIVE_MAX_BYTES, ArchiveQueue
from pitchrec.tracking.memory_profiles import (
    PROFILE_CAP,
    PROFILE_FIELD_BYTES,
    PROFILE_MAX_BYTES,
    TasteProfiles,
)
from pitchrec.tracking.sizes import KEY_OVERHEAD, SLOT_OVERHEAD, STR_OVERHEAD
from pitchrec.tracking.store import FeedWrites

#: Public names. The caps of the profiles (:mod:`.memory_profiles`) and of the archive
#: queue (:mod:`.memory_archive`) are re-exported, but read (and patched) where defined.
__all__ = [
    "ACTIVITY_CAP",
    "ARCHIVE_CAP",
    "ARCHIVE_MAX_BYTES",
    "CLAIM_CAP",
    "KEY_OVERHEAD",
    "MAX_BYTES",
    "PROFILE_CAP",
    "PROFILE_FIELD_BYTES",
    "PROFILE_MAX_BYTES",
    "SLOT_OVERHEAD",
    "MemoryStore",
]

ACTIVITY_CAP = 100  # per user list (about 4 feeds); Redis has no cap, a process must stay bounded
#: Estimated bytes of the keys (legacy activity lists, session sets, impression hashes)
#: kept at most; past it the least recently written keys are evicted, as a Redis with
#: maxmemory-policy allkeys-lru would. A cap of 10,000 keys of any size let 12,000 users
#: grow a process by 149 MB (tests/unit/test_memory_store_bytes.py); with the taste
#: profiles, claims, spool and archive queue this keeps a replica without Redis well
#: under its 512 MiB pod limit.
MAX_BYTES = 64 * 1024 * 1024
#: Feedback event ids remembered at most (each about 100 bytes with its expiry): as many
#: as a replica receives in minutes at full load; past it the oldest are forgotten.
CLAIM_CAP = 100_000


class MemoryStore(TasteProfiles, ArchiveQueue):
    """Lists, sets and hashes with TTLs (bounded together by :attr:`max_bytes`), taste
    profiles (:class:`~pitchrec.tracking.memory_profiles.TasteProfiles`), counters,
    write-once flags, claimed event ids and the archive queue
    (:class:`~pitchrec.tracking.memory_archive.ArchiveQueue`): all under one lock."""

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        *,
        keep_archive: bool = True,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        """``keep_archive=False`` when nothing will archive (no database): archive rows
        are then dropped at once instead of filling memory. ``max_bytes``: the estimated
        bytes the keys may hold (:data:`MAX_BYTES`)."""
        self._keep_archive = keep_archive
        self._clock = clock
        self._lock = threading.Lock()
        self._lists: dict[str, deque[str]] = {}
        self._sets: dict[str, set[str]] = {}
        self._hashes: dict[str, dict[str, str]] = {}
        self._init_profiles()
        self._expiry: dict[str, float] = {}  # ordered by last write
        self._sizes: dict[str, int] = {}  # estimated bytes of each key
        self._held = 0  # their sum
        self.max_bytes = max_bytes
        self._stats: dict[str, dict[str, float]] = {}  # policy statistics and counters
        self._counter_expiry: dict[str, float] = {}  # counters' and windowed stats' deadlines
        self._flags: dict[str, dict[str, str]] = {}  # HSETNX hashes
        self._flag_expiry: dict[str, float] = {}
        self._version = 1
        self._applied: set[str] = set()
        self._claims: dict[str, float] = {}  # event key -> expiry, oldest first
        self._init_archive()

    def _alive(self, key: str) -> bool:
        deadline = self._expiry.get(key)
        if deadline is not None and deadline <= self._clock():
            self._drop(key)
            return False
        return True

    def _drop(self, key: str) -> None:
        self._lists.pop(key, None)
        self._sets.pop(key, None)
        self._hashes.pop(key, None)
        del self._expiry[key]
        self._held -= self._sizes.pop(key, 0)

    def _grow(self, key: str, size: int) -> None:
        """Count ``size`` more estimated bytes for ``key`` (negative: fewer)."""
        if key not in self._sizes:
            size += KEY_OVERHEAD + len(key)
        self._sizes[key] = self._sizes.get(key, 0) + size
        self._held += size

    def _expire(self, key: str, ttl: int) -> None:
        self._expiry.pop(key, None)  # re-insert: the dict stays ordered by last write
        self._expiry[key] = self._clock() + ttl
        while self._held > self.max_bytes and len(self._expiry) > 1:
            self._drop(next(iter(self._expiry)))  # the least recently written

    def bytes_held(self) -> int:
        """Estimated bytes the keys hold (at most :attr:`max_bytes`, the newest key aside)."""
        with self._lock:
            return self._held

    def ping(self) -> bool:
        return True

    def claim_events(self, keys: list[str], ttl: int) -> list[bool]:
        with self._lock:
            now = self._clock()
            claimed = []
            for key in keys:
                expiry = self._claims.get(key)
                fresh = expiry is None or expiry <= now
                if fresh:
                    self._claims.pop(key, None)
                    self._claims[key] = now + ttl
                claimed.append(fresh)
            while len(self._claims) > CLAIM_CAP:
                del self._claims[next(iter(self._claims))]
            return claimed

    def session_members(self, key: str) -> set[str]:
        with self._lock:
            return set(self._sets.get(key, ())) if self._alive(key) else set()

    def read_request_state(
        self, session_key: str | None, profile_key: str | None
    ) -> tuple[set[str], dict[str, str]]:
        with self._lock:
            members: set[str] = set()
            if session_key is not None and self._alive(session_key):
                members = set(self._sets.get(session_key, ()))
            return members, self._read_profile(profile_key)

    def activity(self, key: str) -> list[str]:
        """The list at ``key``, newest first (LRANGE 0 -1)."""
        with self._lock:
            return list(self._lists.get(key, ())) if self._alive(key) else []

    def write_feed(self, writes: list[FeedWrites]) -> list[FeedWrites]:
        refused: list[FeedWrites] = []
        with self._lock:
            for w in writes:
                if w.activity_key is not None and w.activity_events:
                    self._push(w.activity_key, w.activity_events)
                    self._expire(w.activity_key, w.activity_ttl)
                if w.session_members:
                    self._alive(w.session_key)
                    members = self._sets.setdefault(w.session_key, set())
                    new = [m for m in w.session_members if m not in members]
                    members.update(new)
                    self._grow(w.session_key, _strings_bytes(new, SLOT_OVERHEAD))
                    self._expire(w.session_key, w.session_ttl)
                if w.impressions:
                    self._set_fields(w.impressions_key, w.impressions)
                    self._expire(w.impressions_key, w.impressions_ttl)
                if w.counters:
                    self._count(w.counters, w.counter_ttls)
                if self._keep_archive and w.archive and not self._queue(w.archive):
                    refused.append(w)  # all or nothing, as the Redis stream's Lua call
        return refused

    def _set_fields(self, key: str, fields: dict[str, str]) -> None:
        """HSET ``fields`` into the hash at ``key``, counting the bytes they add."""
        self._alive(key)
        target = self._hashes.setdefault(key, {})
        for name, value in fields.items():
            old = target.get(name)
            size = len(value) if old is None else len(value) - len(old)
            if old is None:
                size += len(name) + 2 * STR_OVERHEAD + SLOT_OVERHEAD
            target[name] = value
            self._grow(key, size)

    def _push(self, key: str, events: list[str]) -> None:
        """LPUSH ``events`` onto the list at ``key``, trimmed to :data:`ACTIVITY_CAP`."""
        self._alive(key)
        items = self._lists.setdefault(key, deque())
        items.extendleft(events)
        size = _strings_bytes(events, 0)
        while len(items) > ACTIVITY_CAP:
            size -= len(items.pop()) + STR_OVERHEAD
        self._grow(key, size)

    def _count(self, counters: Mapping[str, Mapping[str, float]], ttls: dict[str, int]) -> None:
        """HINCRBY(FLOAT) and EXPIRE, under the lock; expired counters start afresh."""
        now = self._clock()
        for key, fields in counters.items():
            if not self._live_counter(key, now) or key not in self._stats:
                for old in [k for k, deadline in self._counter_expiry.items() if deadline <= now]:
                    self._live_counter(old, now)  # a new key (hourly): drop the expired
            target = self._stats.setdefault(key, {})
            for name, amount in fields.items():
                target[name] = target.get(name, 0.0) + amount
            if key in ttls:
                self._counter_expiry[key] = now + ttls[key]

    def _live_counter(self, key: str, now: float) -> bool:
        deadline = self._counter_expiry.get(key)
        if deadline is not None and deadline <= now:
            del self._counter_expiry[key]
            self._stats.pop(key, None)
            return False
        return True

    def read_hashes(self, keys: list[str]) -> list[dict[str, str]]:
        with self._lock:
            now = self._clock()
            out: list[dict[str, str]] = []
            for key in keys:
                deadline = self._flag_expiry.get(key)
                if deadline is not None and deadline <= now:
                    self._flags.pop(key, None)
                    del self._flag_expiry[key]
                if key in self._flags:
                    out.append(dict(self._flags[key]))
                elif self._live_counter(key, now) and key in self._stats:
                    out.append({k: _number_text(v) for k, v in self._stats[key].items()})
                elif key in self._hashes and self._alive(key):
                    out.append(dict(self._hashes[key]))
                else:
                    out.append({})
            return out

    def set_field_once(self, key: str, name: str, value: str, ttl: int) -> bool:
        with self._lock:
            now = self._clock()
            deadline = self._flag_expiry.get(key)
            if deadline is not None and deadline <= now:
                self._flags.pop(key, None)
            target = self._flags.setdefault(key, {})
            created = name not in target
            if created:
                target[name] = value
            self._flag_expiry[key] = now + ttl
            return created

    def read_impressions(self, lookups: list[tuple[str, str]]) -> list[str | None]:
        with self._lock:
            return [
                self._hashes.get(key, {}).get(field) if self._alive(key) else None
                for key, field in lookups
            ]

    def add_stats(
        self, batch_id: str, increments: dict[str, dict[str, float]], ttl: int | None = None
    ) -> bool:
        with self._lock:
            if batch_id in self._applied:
                return False
            self._applied.add(batch_id)
            ttls = {} if ttl is None else dict.fromkeys(increments, ttl)
            self._count(increments, ttls)
            return True

    def read_stats(self, keys: list[str]) -> dict[str, dict[str, float]]:
        with self._lock:
            now = self._clock()
            return {
                key: dict(self._stats.get(key, {})) if self._live_counter(key, now) else {}
                for key in keys
            }

    def policy_version(self) -> int:
        return self._version

    def set_policy_version(self, version: int) -> None:
        self._version = version


def _strings_bytes(strings: list[str], overhead: int) -> int:
    """Estimated bytes of ``strings`` held in a container, ``overhead`` each besides
    their own header (:data:`~pitchrec.tracking.sizes.STR_OVERHEAD`)."""
    return sum(map(len, strings)) + (STR_OVERHEAD + overhead) * len(strings)


def _number_text(value: float) -> str:
    """How Redis answers a counter: ``12`` for a whole number, else the float's repr."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))
