"""Tracking never fails a feed: a circuit breaker in front of Redis (opened by failures),
a latency breaker (opened by slow round trips, :class:`LatencyBreaker`), and a bounded
spool that keeps writes while Redis is down or slow and replays them when it can. The
breakers are in :mod:`pitchrec.tracking.breakers` (re-exported here); the spool is here.

The spool is bounded in bytes (an estimate per item, see ``Spool``), not in entries: what
it drops when full is counted (``dropped``, ``dropped_bytes``) and logged, never silent.
The same breaker and spool hold archive rows while the event stream is at its cap
(:data:`pitchrec.tracking.store.STREAM_MAXLEN`), and ``CachedReading`` serves gauges that
need a round trip (the stream's backlog) at most every few seconds.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from pitchrec.tracking.breakers import CircuitBreaker, LatencyBreaker

#: Public names; the breakers live in :mod:`.breakers` and are re-exported here for
#: existing importers.
__all__ = ["DROP_LOG_SECONDS", "CachedReading", "CircuitBreaker", "LatencyBreaker", "Spool"]

log = logging.getLogger(__name__)
T = TypeVar("T")


#: At most one "spool full" line per this many seconds per spool (drops are summed).
DROP_LOG_SECONDS = 10.0


class Spool(Generic[T]):
    """A FIFO of pending writes bounded in bytes: each item is kept with its size (from
    ``sizer``, an estimate in bytes) and, past ``max_bytes``, the oldest items are
    dropped. What is dropped is counted in items (``dropped``) and bytes
    (``dropped_bytes``) and logged.

    A bound in entries (the former ``spool_capacity``) bounded nothing: one entry may be
    a 25-item feed or a 1,000-event feedback batch, 40 times larger."""

    def __init__(
        self,
        max_bytes: int,
        sizer: Callable[[T], int],
        precious: Callable[[T], bool] | None = None,
    ) -> None:
        self.max_bytes = max_bytes
        self._sizer = sizer
        #: Items never dropped to make room (accepted feedback events: a client was told
        #: they were kept); the caller refuses new ones instead (:meth:`has_room_for`).
        self._precious = precious or (lambda _item: False)
        self._items: deque[tuple[T, int]] = deque()
        self._bytes = 0
        self._precious_bytes = 0
        self._unlogged = self._unlogged_bytes = 0
        self._logged_at = -DROP_LOG_SECONDS
        self._lock = threading.Lock()
        self.dropped = 0
        self.dropped_bytes = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    @property
    def bytes(self) -> int:
        """The estimated size of what is held."""
        with self._lock:
            return self._bytes

    def sizes(self) -> list[int]:
        """The estimated size of each held item, oldest first."""
        with self._lock:
            return [size for _, size in self._items]

    def has_room_for(self, size: int) -> bool:
        """Whether ``size`` more bytes of precious items stay within the budget (what is
        not precious would be dropped to make room)."""
        with self._lock:
            return self._precious_bytes + size <= self.max_bytes

    def put(self, items: list[T]) -> None:
        """Append ``items`` (newest last), then drop the oldest while over budget."""
        sized = [(item, self._sizer(item)) for item in items]
        with self._lock:
            self._items.extend(sized)
            self._account(sized, 1)
            count, size_dropped = self._trim()
        self._log_drop(count, size_dropped)

    def _account(self, sized: list[tuple[T, int]], sign: int) -> None:
        """Add (``sign`` 1) or remove (-1) ``sized`` from the byte counts (lock held)."""
        self._bytes += sign * sum(size for _, size in sized)
        self._precious_bytes += sign * sum(size for item, size in sized if self._precious(item))

    def take(self, limit: int, max_bytes: int | None = None) -> list[T]:
        """Remove and return the oldest items: at most ``limit`` of them and, when
        ``max_bytes`` is given, no more than that many bytes (but always at least one, so
        an item larger than ``max_bytes`` still leaves)."""
        taken: list[T] = []
        with self._lock:
            size_taken = 0
            while self._items and len(taken) < limit:
                size = self._items[0][1]
                if taken and max_bytes is not None and size_taken + size > max_bytes:
                    break
                item, _ = self._items.popleft()
                taken.append(item)
                size_taken += size
                self._account([(item, size)], -1)
        return taken

    def put_back(self, items: list[T]) -> None:
        """Return items that could not be written, in front, keeping their order (they
        are the oldest: while over budget they are the first dropped)."""
        sized = [(item, self._sizer(item)) for item in items]
        with self._lock:
            self._items.extendleft(reversed(sized))
            self._account(sized, 1)
            count, size_dropped = self._trim()
        self._log_drop(count, size_dropped)

    def _trim(self) -> tuple[int, int]:
        """Drop the oldest items that are not precious while over budget (called with the
        lock held); returns how many items and bytes were dropped."""
        count = size_dropped = 0
        if self._bytes > self.max_bytes:
            kept: deque[tuple[T, int]] = deque()
            while self._items and self._bytes > self.max_bytes:
                item, size = self._items.popleft()
                if self._precious(item):
                    kept.append((item, size))
                    continue
                self._bytes -= size
                count += 1
                size_dropped += size
            self._items.extendleft(reversed(kept))
        self.dropped += count
        self.dropped_bytes += size_dropped
        return count, size_dropped

    def _log_drop(self, count: int, size_dropped: int) -> None:
        """One error line per :data:`DROP_LOG_SECONDS` at most, with what was dropped
        since the last one: once full, the spool drops on every request, and a line each
        time was 138,414 of 415,939 log lines (113 MB) in a 10-minute outage
        (bench/RESULTS.md). The counters stay exact either way."""
        if not count:
            return
        with self._lock:
            self._unlogged += count
            self._unlogged_bytes += size_dropped
            now = time.monotonic()
            if now - self._logged_at < DROP_LOG_SECONDS:
                return
            count, size_dropped = self._unlogged, self._unlogged_bytes
            self._unlogged = self._unlogged_bytes = 0
            self._logged_at = now
        log.error(
            "tracking spool full: dropped oldest writes",
            extra={"dropped": count, "dropped_bytes": size_dropped},
        )


class CachedReading:
    """A gauge's value read through ``read`` at most once every ``max_age`` seconds: a
    scrape reads every tracking gauge, each through the same counters, and a reading that
    costs a round trip must not be paid per gauge. NaN (cached too) while ``read`` fails."""

    def __init__(
        self, read: Callable[[], float], max_age: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_age = max_age
        self._read = read
        self._clock = clock
        self._value = math.nan
        self._read_at: float | None = None
        self._lock = threading.Lock()

    def value(self) -> float:
        with self._lock:
            now = self._clock()
            if self._read_at is not None and now - self._read_at < self.max_age:
                return self._value
            self._read_at = now  # concurrent callers get the previous value meanwhile
        try:
            value = float(self._read())
        except Exception as exc:
            log.debug("gauge reading failed: %s", exc)
            value = math.nan
        with self._lock:
            self._value = value
        return value
