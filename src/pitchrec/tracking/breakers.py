"""The breakers in front of Redis: :class:`CircuitBreaker`, opened by consecutive
failures (Redis down; also used for the event stream at its cap, the policy sync and
the experiment refresh), and :class:`LatencyBreaker`, opened by slow round trips (Redis
slow). While one is open its caller does not wait on Redis but degrades: the tracker's
writes go to the spool (:class:`~pitchrec.tracking.resilience.Spool`).

Part of :mod:`pitchrec.tracking.resilience` before it was split; the breakers log under
that module's logger name.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable

#: The logger of :mod:`pitchrec.tracking.resilience` (this code was part of it): the name
#: is what the JSON logs carry, and what their filters match.
log = logging.getLogger("pitchrec.tracking.resilience")


class CircuitBreaker:
    """Closed: calls go through. After ``threshold`` consecutive failures it opens for
    ``cooldown`` seconds (calls are refused at once); then one trial call is let through."""

    def __init__(
        self,
        threshold: int = 3,
        cooldown: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        name: str = "redis",
    ) -> None:
        self.name = name
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

    @property
    def closed(self) -> bool:
        """True while calls go through (no trial is used up by asking)."""
        with self._lock:
            return self._opened_at is None

    def success(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None

    def failure(self) -> None:
        with self._lock:
            self._failures += 1
            if self._failures >= self.threshold and self._opened_at is None:
                self._opened_at = self._clock()
                log.warning("%s circuit opened", self.name, extra={"failures": self._failures})


class LatencyBreaker:
    """Opens when Redis is slow rather than down: when more than half of the last
    ``window`` round trips reported to :meth:`observe` took longer than ``slow_after``
    seconds (their rolling median is above it). While open the request path does not
    wait on Redis at all (the caller degrades: empty request state, writes to the spool)
    and reports nothing; the caller's background thread asks :meth:`probe_due` (True at
    most once every ``probe_every`` seconds), times one small round trip and reports it
    to :meth:`probed`: a fast one closes the breaker, a slow one keeps it open.

    Why a rolling median and not a per-call socket timeout that counts as a failure,
    measured with 120 ms added (bench/slow_redis.py's proxy; service objects in process,
    8 clients, one feed thread, 10 s, on a shared 2-vCPU machine):

    * a 50 ms timeout, this breaker off, replays through the same client: 329 feeds/s,
      but the spool could not drain (every replay timed out, the failure breaker stayed
      open); it filled its 64 MiB and dropped 1,775 feeds' writes (44,350 archive rows);
    * the same with replays through a 5 s client (``RedisStore.background``): nothing
      lost, but 63 feeds/s with 93 write errors: each replay that succeeds closes the
      failure breaker, and the request path then pays the 50 ms timeout three times
      before it opens again (besides, a write cut off after Redis received it is
      written twice once replayed);
    * this breaker (25 ms, the tracker's default): 249-317 feeds/s in three runs, every
      row written once the delay was removed, none twice.

    The median of 8 ignores the isolated slow round trips of a healthy Redis (a thread
    waiting for the GIL, a page fault) and opens after 5 slow ones: about 2.5
    feeds, 0.6 s of one feed thread at +120 ms. ``slow_after`` 0 disables it."""

    def __init__(
        self,
        slow_after: float,
        window: int = 8,
        probe_every: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        name: str = "redis",
    ) -> None:
        self.name = name
        self.slow_after = slow_after
        self.window = window
        self.probe_every = probe_every
        #: Times the breaker opened.
        self.opened = 0
        self._clock = clock
        self._slow: deque[bool] = deque(maxlen=window)
        self._opened_at: float | None = None
        self._probe_at = 0.0
        self._lock = threading.Lock()

    @property
    def closed(self) -> bool:
        """True while the request path may wait on Redis."""
        return self._opened_at is None

    def observe(self, seconds: float) -> None:
        """A request-path round trip took ``seconds`` (failed ones too: a timeout is slow)."""
        if self.slow_after <= 0:
            return
        with self._lock:
            if self._opened_at is not None:
                return
            self._slow.append(seconds > self.slow_after)
            if 2 * sum(self._slow) <= self.window:
                return
            now = self._clock()
            self._opened_at = now
            self._probe_at = now + self.probe_every
            self.opened += 1
        log.warning(
            "%s is slow: circuit opened",
            self.name,
            extra={"slow_after_ms": round(self.slow_after * 1000, 1), "window": self.window},
        )

    def probe_due(self) -> bool:
        """True, once per ``probe_every`` seconds, while open: the caller times one round
        trip off the request path and reports it to :meth:`probed`."""
        with self._lock:
            now = self._clock()
            if self._opened_at is None or now < self._probe_at:
                return False
            self._probe_at = now + self.probe_every
            return True

    def probed(self, seconds: float) -> None:
        """A probe took ``seconds`` (``math.inf`` when it failed): fast closes the breaker."""
        with self._lock:
            if self._opened_at is None or seconds > self.slow_after:
                return
            open_for = self._clock() - self._opened_at
            self._opened_at = None
            self._slow.clear()
        log.info(
            "%s is fast again: circuit closed",
            self.name,
            extra={"open_seconds": round(open_for, 1), "probe_ms": round(seconds * 1000, 2)},
        )
