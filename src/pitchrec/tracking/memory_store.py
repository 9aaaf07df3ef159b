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
from pitchrec.tracking.sizes import STR_OVERHEAD, row_bytes
from pitchrec.tracking.store import FeedWrites

ACTIVITY_CAP = 100  # per user list (about 4 feeds); Redis has no cap, a process must stay bounded
#: Rows waiting for the in-process archiver (about 8,000 feeds). At the cap new rows are
#: refused (the tracker spools and counts them, as with the Redis stream's
#: :data:`~pitchrec.tracking.store.STREAM_MAXLEN`); a ``deque(maxlen=...)`` used to drop
#: the oldest, never archived, silently. Read when a store is made.
ARCHIVE_CAP = 200_000
#: Estimated bytes of the rows waiting for the in-process archiver, at most (about 1,600
#: feeds of 25 rows, 70,000 feedback rows: :func:`~pitchrec.tracking.sizes.row_bytes`).
#: The row cap alone let 200,000 rows hold about 180 MB.
ARCHIVE_MAX_BYTES = 64 * 1024 * 1024
#: Estimated bytes of the keys (legacy activity lists, session sets, impression hashes)
#: kept at most; past it the least recently written keys are evicted, as a Redis with
#: maxmemory-policy allkeys-lru would. A cap of 10,000 keys of any size let 12,000 users
#: grow a process by 149 MB (tests/unit/test_memory_store_bytes.py); with the taste
#: profiles, claims, spool and archive queue this keeps a replica without Redis well
#: under its 512 MiB pod limit.
MAX_BYTES = 64 * 1024 * 1024
#: Estimated bytes of one key beside its contents: the key string, its entries in the
#: expiry and size dicts and the container (a deque's first block is about 600 bytes).
KEY_OVERHEAD = 800
#: Estimated bytes of one member of a set or one field of a hash beside its strings (the
#: table slot and the load-factor slack).
SLOT_OVERHEAD = 40
#: Taste profiles kept at most, apart from the keys above (an impression burst must not
#: evict what users liked) ...
PROFILE_CAP = 50_000
#: ... and their estimated bytes at most: the least recently written go first. A profile
#: holds a field per resume the user rewarded or skipped (about 140 bytes each:
#: :data:`PROFILE_FIELD_BYTES`), so a user who skipped through 40 feeds holds about 60 kB;
#: 32 MiB keep the profiles of several thousand such users, and tens of thousands of
#: lighter ones.
PROFILE_MAX_BYTES = 32 * 1024 * 1024
#: Estimated bytes of one profile field: its name (a str), its float and its slot in the
#: hash, with the dict's load-factor slack (tests/unit/test_memory_store_bytes.py).
PROFILE_FIELD_BYTES = STR_OVERHEAD + 24 + 2 * SLOT_OVERHEAD
#: Feedback event ids remembered at most (each about 100 bytes with its expiry): as many
#: as a replica receives in minutes at full load; past it the oldest are forgotten.
CLAIM_CAP = 100_000


class MemoryStore:
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
        self._profiles: dict[str, dict[str, float]] = {}  # HINCRBYFLOAT hashes
        self._profile_expiry: dict[str, float] = {}  # ordered by last write
        self._profile_sizes: dict[str, int] = {}  # estimated bytes of each profile
        self._profile_held = 0  # their sum
        self.profile_max_bytes = PROFILE_MAX_BYTES
        self._expiry: dict[str, float] = {}  # ordered by last write
        self._sizes: dict[str, int] = {}  # estimated bytes of each key
        self._held = 0  # their sum
        self.max_bytes = max_bytes
        self._stats: dict[str, dict[str, float]] = {}  # policy statistics and counters
        self._counter_expiry: dict[str, float] = {}  # counters' deadlines (stats: none)
        self._flags: dict[str, dict[str, str]] = {}  # HSETNX hashes
        self._flag_expiry: dict[str, float] = {}
        self._version = 1
        self._applied: set[str] = set()
        self._claims: dict[str, float] = {}  # event key -> expiry, oldest first
        self.archive: deque[ArchiveRow] = deque()
        self.archive_cap = ARCHIVE_CAP
        self.archive_max_bytes = ARCHIVE_MAX_BYTES
        self._archive_sizes: deque[int] = deque()
        self._archive_bytes = 0

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
                    self._drop_profile(key)  # expired: start afresh, as Redis would
                target = self._profiles.setdefault(key, {})
                grown = 0 if key in self._profile_sizes else KEY_OVERHEAD + len(key)
                for name, amount in fields.items():
                    if name not in target:
                        grown += len(name) + PROFILE_FIELD_BYTES
                    target[name] = target.get(name, 0.0) + float(amount)
                self._profile_sizes[key] = self._profile_sizes.get(key, 0) + grown
                self._profile_held += grown
                self._profile_expiry[key] = now + ttl
            while len(self._profile_expiry) > 1 and (
                len(self._profile_expiry) > PROFILE_CAP
                or self._profile_held > self.profile_max_bytes
            ):
                oldest = next(iter(self._profile_expiry))
                del self._profile_expiry[oldest]
                self._drop_profile(oldest)

    def _drop_profile(self, key: str) -> None:
        self._profiles.pop(key, None)
        self._profile_held -= self._profile_sizes.pop(key, 0)

    def profile_bytes_held(self) -> int:
        """Estimated bytes the taste profiles hold (at most :attr:`profile_max_bytes`,
        the newest profile aside)."""
        with self._lock:
            return self._profile_held

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

    def _queue(self, rows: list[ArchiveRow]) -> bool:
        """Queue ``rows`` for the archiver, all or none; False when the queue is full (in
        rows or in estimated bytes). No database to archive into: rows are not kept."""
        if not self.archive:  # emptied by a caller's clear(): nothing is held
            self._archive_sizes.clear()
            self._archive_bytes = 0
        sizes = [row_bytes(row) for row in rows]
        if (
            len(self.archive) + len(rows) > self.archive_cap
            or self._archive_bytes + sum(sizes) > self.archive_max_bytes
        ):
            return False
        self.archive.extend(rows)
        self._archive_sizes.extend(sizes)
        self._archive_bytes += sum(sizes)
        return True

    def _push(self, key: str, events: list[str]) -> None:
        """LPUSH ``events`` onto the list at ``key``, trimmed to :data:`ACTIVITY_CAP`."""
        self._alive(key)
        items = self._lists.setdefault(key, deque())
        items.extendleft(events)
        size = _strings_bytes(events, 0)
        while len(items) > ACTIVITY_CAP:
            size -= len(items.pop()) + STR_OVERHEAD
        self._grow(key, size)

    def _count(self, counters: dict[str, dict[str, int | float]], ttls: dict[str, int]) -> None:
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
                self._archive_bytes -= self._archive_sizes.popleft()

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
