"""The tracker's write side: one round trip, or the spool, and the threads that replay it.

:class:`SpoolWriter` (the base of :class:`~pitchrec.tracking.tracker.Tracker`) holds the
store, the circuit breaker, the latency breaker, the bounded spool, the stream cap and the
counters, and sends writes: the request path's in one timed round trip, the spool's in
replays of at most :data:`~pitchrec.tracking.config.REPLAY_BYTES`.

A slow Redis (issue 15, item 5) is gone around, not waited on: feeds are computed on one
thread per process, so every millisecond a round trip takes is a millisecond no feed is
computed (120 ms added per round trip gave 8 clients 2.8 feeds/s at p50 2.7 s, and no
error, since the breaker opened on failures only; bench/slow_redis.py measured 4.0
feeds/s at p50 2.0 s, against 128 through its proxy without the delay). Request-path
round trips are timed into a :class:`~pitchrec.tracking.breakers.LatencyBreaker`; once
it opens, the request state is the empty state (no session exclusions, no online taste
profile: the feed the snapshot's history alone gives) and the writes go to the spool
(counted in ``deferred``), where background writer threads replay them (``replayed``),
several round trips in flight at once. The feedback thread probes with a PING every
second and closes the breaker on a fast one. Writes waiting in the spool are lost if the
process is killed (SIGKILL) before they are replayed, as during an outage;
``Runtime.stop`` flushes them.
With the breaker the same bench served 111-148 % of the feeds/s of the run through the
proxy without delay (four runs, 150-190 feeds/s; 83-139 % of the run without the proxy,
on a noisy machine), every row in the stream afterwards, none twice: the feed thread no
longer waits on Redis at all (the deferred writes are the writer threads' to encode).

The request path replays nothing: the spool is the background threads' (the feedback
thread's tick and the writers), so a request's round trip carries its own writes only and
its time measures Redis, not the size of a backlog.
"""

from __future__ import annotations

import logging
import math
import threading
import time

from pitchrec.tracking.breakers import CircuitBreaker, LatencyBreaker
from pitchrec.tracking.config import (
    BATCH,
    FLUSH_SECONDS,
    PROBE_SECONDS,
    REPLAY_BYTES,
    SLOW_WINDOW,
    WRITER_RETRY_SECONDS,
    WRITER_THREADS,
    TrackerStats,
    TrackingConfig,
)
from pitchrec.tracking.resilience import Spool
from pitchrec.tracking.sizes import spooled_bytes
from pitchrec.tracking.store import FeedWrites, TrackingStore
from pitchrec.tracking.stream_cap import StreamCap, hold_archive

#: The name these records have always carried (the tracker's module), kept for log queries.
log = logging.getLogger("pitchrec.tracking.tracker")


class SpoolWriter:
    """Sends tracking writes in one round trip each, or spools them while Redis is down or
    slow, and replays the spool (the feedback thread's tick, the writer threads, flush)."""

    def __init__(self, store: TrackingStore, config: TrackingConfig | None = None) -> None:
        self.store = store
        self.config = config or TrackingConfig()
        self.breaker = CircuitBreaker()
        self.latency = LatencyBreaker(self.config.slow_round_trip, SLOW_WINDOW, PROBE_SECONDS)
        self.spool: Spool[FeedWrites] = Spool(
            self.config.spool_max_bytes, spooled_bytes, precious=lambda writes: writes.feedback
        )
        self.stats = TrackerStats()
        self.stream = StreamCap(store, self.breaker)
        self._writers: list[threading.Thread] = []
        self._writers_lock = threading.Lock()
        self._wake_writers = threading.Event()
        self._count_lock = threading.Lock()  # stats counted from several threads
        self._in_flight = 0  # spooled writes taken for a replay not yet settled
        self._replay_store: TrackingStore | None = None

    @property
    def pending(self) -> int:
        """Writes not yet in Redis: spooled, or taken from the spool by a replay that has
        not finished."""
        with self._count_lock:
            return len(self.spool) + self._in_flight

    def replay_spool(self) -> bool:
        """Send the oldest of what the spool holds (Redis was down or slow) in one round
        trip, after probing Redis when the latency breaker asks for it; False while Redis
        still refuses. The feedback thread calls this every tick."""
        self._probe()
        return self._send([], replay=True) if len(self.spool) else True

    def flush(self, timeout: float = FLUSH_SECONDS) -> bool:
        """Replay the spool until it is empty, Redis refuses, or ``timeout`` seconds have
        passed (a server stopping); True when nothing is left."""
        deadline = time.monotonic() + timeout
        while self.pending and time.monotonic() < deadline:
            if len(self.spool) and not self._send([], replay=True):
                break
            if not len(self.spool):
                time.sleep(0.01)  # a writer thread's round trip is still in flight
        return not self.pending

    # -- slow Redis -----------------------------------------------------------------

    def _write(self, writes: list[FeedWrites]) -> None:
        """The request path's writes: one round trip, timed for the latency breaker; while
        Redis is slow, the spool (the writer threads replay it)."""
        if not writes:
            return
        if self.latency.closed:
            self._send(writes, replay=False)
            return
        with self._count_lock:
            self.stats.deferred += len(writes)
        self.spool.put(writes)
        self._wake()

    def _probe(self) -> None:
        """While Redis is slow, time one PING (at most every :data:`PROBE_SECONDS`): a
        fast one closes the latency breaker. Off the request path."""
        if self.latency.closed or not self.latency.probe_due():
            return
        started = time.perf_counter()
        try:
            self.store.ping()
        except Exception:
            self.breaker.failure()
            self.latency.probed(math.inf)
            return
        self.latency.probed(time.perf_counter() - started)

    def _wake(self) -> None:
        """Wake the writer threads (started at the first write that waits)."""
        if len(self._writers) < WRITER_THREADS:
            with self._writers_lock:
                while len(self._writers) < WRITER_THREADS:
                    writer = threading.Thread(
                        target=self._replay_forever,
                        name=f"pitchrec-tracking-writer-{len(self._writers)}",
                        daemon=True,
                    )
                    writer.start()
                    self._writers.append(writer)
        self._wake_writers.set()

    def _replay_forever(self) -> None:
        """A writer thread: replay the spool while it holds anything, a round trip at a
        time (each thread has one in flight), retrying every :data:`WRITER_RETRY_SECONDS`
        while Redis refuses; sleep when it is empty."""
        while True:
            self._wake_writers.wait(WRITER_RETRY_SECONDS if len(self.spool) else None)
            self._wake_writers.clear()
            try:
                self._probe()
                while len(self.spool) and self._send([], replay=True):
                    pass
            except Exception:  # never let a writer die: the spool would wait for good
                log.exception("tracking writer failed; retrying")
                time.sleep(WRITER_RETRY_SECONDS)

    def _send(self, writes: list[FeedWrites], *, replay: bool) -> bool:
        """One round trip: ``writes`` (the request path's, timed for the latency breaker)
        or, with ``replay``, the oldest spooled writes (at most :data:`REPLAY_BYTES`)."""
        if not writes and not len(self.spool):
            return True
        if not self.breaker.allow():
            self.spool.put(writes)
            return False
        offered = self.stream.breaker.allow()  # False for a while after a refusal
        held: list[FeedWrites] = []
        replayed: list[FeedWrites] = []
        if offered:
            if replay:
                with self._count_lock:  # taken and in flight at once: ``pending`` holds
                    replayed = self.spool.take(4 * BATCH, REPLAY_BYTES)
                    self._in_flight += len(replayed)
            sending = replayed + writes
        else:  # the stream is at its cap: this write's archive rows wait unoffered
            sending, held = hold_archive(writes)
        store = self._background_store() if replay else self.store
        try:
            return self._round_trip(store, writes, replayed, sending, held, offered=offered)
        finally:
            if replayed:
                with self._count_lock:
                    self._in_flight -= len(replayed)

    def _background_store(self) -> TrackingStore:
        """The store replays go through: the store's ``background()`` when it has one
        (Redis: a longer timeout, see :meth:`RedisStore.background`), else the store."""
        with self._writers_lock:
            if self._replay_store is None:
                background = getattr(self.store, "background", None)
                self._replay_store = background() if callable(background) else self.store
            return self._replay_store

    def _round_trip(
        self,
        store: TrackingStore,
        writes: list[FeedWrites],
        replayed: list[FeedWrites],
        sending: list[FeedWrites],
        held: list[FeedWrites],
        *,
        offered: bool,
    ) -> bool:
        refused: list[FeedWrites] = []
        if sending:
            started = time.perf_counter()
            try:
                # ``or []``: a store whose write_feed predates the refused writes it returns.
                refused = store.write_feed(sending) or []
            except Exception:
                if writes:
                    self.latency.observe(time.perf_counter() - started)
                self.breaker.failure()
                self.stats.write_errors += 1
                self.spool.put_back(replayed)
                self.spool.put(writes)
                return False
            if writes:
                self.latency.observe(time.perf_counter() - started)
            self.breaker.success()
            again = {id(w) for w in refused}
            with self._count_lock:
                self.stats.round_trips += 1
                self.stats.replayed += sum(1 for w in replayed if id(w) not in again)
        waiting = self.stream.settle(writes, refused, held, offered=offered)
        self.spool.put(waiting)
        return offered and not waiting
