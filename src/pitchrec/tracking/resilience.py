"""Tracking never fails a feed: a circuit breaker in front of Redis, and a bounded spool
that keeps writes while Redis is down and replays them when it is back.

What the spool drops when full is counted (``dropped``) and logged, never silent.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


class CircuitBreaker:
    """Closed: calls go through. After ``threshold`` consecutive failures it opens for
    ``cooldown`` seconds (calls are refused at once); then one trial call is let through."""

    def __init__(
        self, threshold: int = 3, cooldown: float = 2.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.threshold = threshold
        self.cooldown = cooldown
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self._lock = threading.Lock()

    def allow(self) -> bool:
        with self._lock:
            if self._opened_at is None:
                return True
            if self._clock() - self._opened_at >= self.cooldown:
                self._opened_at = self._clock()  # one trial per cooldown
                return True
            return False

    def success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._failures >= self.threshold and self._opened_at is None:
                self._opened_at = self._clock()
                log.warning("redis circuit opened", extra={"failures": self._failures})


class Spool(Generic[T]):
    """A bounded FIFO of pending writes; the oldest are dropped (and counted) when full."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._items: deque[T] = deque()
        self._lock = threading.Lock()
        self.dropped = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def put(self, items: list[T]) -> None:
        with self._lock:
            self._items.extend(items)
            overflow = len(self._items) - self.capacity
            for _ in range(max(overflow, 0)):
                self._items.popleft()
            if overflow > 0:
                self.dropped += overflow
        if overflow > 0:
            log.error("tracking spool full: dropped oldest writes", extra={"dropped": overflow})

    def take(self, limit: int) -> list[T]:
        with self._lock:
            return [self._items.popleft() for _ in range(min(limit, len(self._items)))]

    def put_back(self, items: list[T]) -> None:
        """Return items that could not be written, in front, keeping their order."""
        with self._lock:
            self._items.extendleft(reversed(items))
            overflow = len(self._items) - self.capacity
            for _ in range(max(overflow, 0)):
                self._items.pop()
            if overflow > 0:
                self.dropped += overflow
