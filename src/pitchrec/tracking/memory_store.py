"""The in-process adapter of :class:`~pitchrec.tracking.store.TrackingStore`: the
embedded default (``make run`` needs no Redis), with the Redis adapter's semantics:
lists pushed at the head, sets, hashes with TTLs, an append-only archive queue, and
float counters. Thread-safe; one process only.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from pitchrec.domain.activity import ArchiveRow
from pitchrec.tracking.store import FeedWrites

ACTIVITY_CAP = 100  # per user list (about 4 feeds); Redis has no cap, a process must stay bounded
#: Rows waiting for the in-process archiver (about 8,000 feeds). At the cap new rows are
#: refused (the tracker spools and counts them, as with the Redis stream's
#: :data:`~pitchrec.tracking.store.STREAM_MAXLEN`); a ``deque(maxlen=...)`` used to drop
#: the oldest, never archived, silently. Read when a store is made.
ARCHIVE_CAP = 200_000
#: Keys kept at most (lists, sets, impression hashes); past it the oldest are evicted, as
#: a Redis with maxmemory-policy allkeys-lru would. Measured: without a cap a loaded
#: server without Redis grew to 330 MB RSS in 20 s of impressions kept for their TTL;
#: 50,000 keys still held 236 MB (an impression hash is about 7 kB).
KEY_CAP = 10_000
#: Taste profiles kept at most, apart from the keys above (an impression burst must not
#: evict what users liked): a profile holds a few resume ids, about 1 kB at most.
PROFILE_CAP = 50_000
#: Feedback event ids remembered at most (each about 100 bytes with its expiry): as many
#: as a replica receives in minutes at full load; past it the oldest are forgotten.
CLAIM_CAP = 100_000


class MemoryStore:
    def __init__(
        self, clock: Callable[[], float] = time.monotonic, *, keep_archive: bool = True
    ) -> None:
        """``keep_archive=False`` when nothing will archive (no database): archive rows
        are then dropped at once instead of filling memory."""
        self._keep_archive = keep_archive
        self._clock = clock
        self._lock = threading.Lock()
        self._lists: dict[str, deque[str]] = {}
        self._sets: dict[str, set[str]] = {}
        self._hashes: dict[str, dict[str, str]] = {}
        self._profiles: dict[str, dict[str, float]] = {}  # HINCRBYFLOAT hashes
        self._profile_expiry: dict[str, float] = {}  # ordered by last write
        self._expiry: dict[str, float] = {}
        self._stats: dict[str, dict[str, float]] = {}
        self._version = 1
        self._applied: set[str] = set()
        self._claims: dict[str, float] = {}  # event key -> expiry, oldest first
        self.archive: deque[ArchiveRow] = deque()
        self.archive_cap = ARCHIVE_CAP

    def _alive(self, key: str) -> bool:
        deadline = self._expiry.get(key)
        if deadline is not None and deadline <= self._clock():
            self._lists.pop(key, None)
            self._sets.pop(key, None)
            self._hashes.pop(key, None)
            del self._expiry[key]
            return False
        return True

    def _expire(self, key: str, ttl: int) -> None:
        self._expiry.pop(key, None)  # re-insert: the dict stays ordered by last write
        self._expiry[key] = self._clock() + ttl
        while len(self._expiry) > KEY_CAP:
            oldest = next(iter(self._expiry))
            self._lists.pop(oldest, None)
            self._sets.pop(oldest, None)
            self._hashes.pop(oldest, None)
            del self._expiry[oldest]

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
            profile: dict[str, str] = {}
            deadline = self._profile_expiry.get(profile_key or "")
            if profile_key is not None and deadline is not None and deadline > self._clock():
                profile = {k: repr(v) for k, v in self._profiles.get(profile_key, {}).items()}
            return members, profile

    def add_profiles(self, increments: dict[str, dict[str, float]], ttl: int) -> None:
        with self._lock:
            now = self._clock()
            for key, fields in increments.items():
                deadline = self._profile_expiry.pop(key, None)
                if deadline is not None and deadline <= now:
                    self._profiles.pop(key, None)  # expired: start afresh, as Redis would
                target = self._profiles.setdefault(key, {})
                for name, amount in fields.items():
                    target[name] = target.get(name, 0.0) + float(amount)
                self._profile_expiry[key] = now + ttl
            while len(self._profile_expiry) > PROFILE_CAP:
                oldest = next(iter(self._profile_expiry))
                del self._profile_expiry[oldest]
                self._profiles.pop(oldest, None)

    def activity(self, key: str) -> list[str]:
        """The list at ``key``, newest first (LRANGE 0 -1)."""
        with self._lock:
            return list(self._lists.get(key, ())) if self._alive(key) else []

    def write_feed(self, writes: list[FeedWrites]) -> list[FeedWrites]:
        refused: list[FeedWrites] = []
        with self._lock:
            for w in writes:
                if w.activity_key is not None and w.activity_events:
                    self._alive(w.activity_key)
                    items = self._lists.setdefault(w.activity_key, deque(maxlen=ACTIVITY_CAP))
                    items.extendleft(w.activity_events)
                    self._expire(w.activity_key, w.activity_ttl)
                if w.session_members:
                    self._alive(w.session_key)
                    self._sets.setdefault(w.session_key, set()).update(w.session_members)
                    self._expire(w.session_key, w.session_ttl)
                if w.impressions:
                    self._alive(w.impressions_key)
                    self._hashes.setdefault(w.impressions_key, {}).update(w.impressions)
                    self._expire(w.impressions_key, w.impressions_ttl)
                if not (self._keep_archive and w.archive):
                    continue  # no database to archive into: rows are not kept
                if len(self.archive) + len(w.archive) > self.archive_cap:
                    refused.append(w)  # all or nothing, as the Redis stream's Lua call
                else:
                    self.archive.extend(w.archive)
        return refused

    def stream_backlog(self) -> int:
        """Rows queued for the in-process archiver."""
        return len(self.archive)

    def read_impressions(self, lookups: list[tuple[str, str]]) -> list[str | None]:
        with self._lock:
            return [
                self._hashes.get(key, {}).get(field) if self._alive(key) else None
                for key, field in lookups
            ]

    def peek_archive(self, limit: int) -> list[ArchiveRow]:
        """The oldest ``limit`` queued rows, left in the queue until :meth:`drop_archive`."""
        with self._lock:
            return [self.archive[i] for i in range(min(limit, len(self.archive)))]

    def drop_archive(self, count: int) -> None:
        """Remove the oldest ``count`` rows (after they were committed)."""
        with self._lock:
            for _ in range(min(count, len(self.archive))):
                self.archive.popleft()

    def add_stats(self, batch_id: str, increments: dict[str, dict[str, float]]) -> bool:
        with self._lock:
            if batch_id in self._applied:
                return False
            self._applied.add(batch_id)
            for key, fields in increments.items():
                target = self._stats.setdefault(key, {})
                for name, amount in fields.items():
                    target[name] = target.get(name, 0.0) + amount
            return True

    def read_stats(self, keys: list[str]) -> dict[str, dict[str, float]]:
        with self._lock:
            return {key: dict(self._stats.get(key, {})) for key in keys}

    def policy_version(self) -> int:
        return self._version

    def set_policy_version(self, version: int) -> None:
        self._version = version
