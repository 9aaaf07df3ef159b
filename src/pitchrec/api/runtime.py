"""Everything long-lived in a serving process, built in the app lifespan.

:class:`Runtime` wires the service (tracking store, telemetry, exposure window), starts
and stops it, says whether it is ready and serves feeds off the event loop. The snapshot
loads in a worker thread after the server has started, so ``/healthz`` answers at once
and ``/readyz`` turns 200 when the snapshot is in. What clients are told meanwhile is
generic (:meth:`Runtime.not_ready_reason`): the driver's text names hosts, ports and SQL,
and stays in the log.

The rest of the lifecycle is mixed in from two modules: :mod:`pitchrec.api.startup` (the
first snapshot, and the embedded archiver's start, retried with back-off while the
database is down; a sibling worker's snapshot adopted meanwhile) and
:mod:`pitchrec.api.reloads` (reloads, the periodic refresh, the directory watch and the
cross-replica reload announcements, which all end in one reference swap). Their names
that other code imports from here (:func:`reload_channel`, :data:`LOAD_RETRYING`) still
are; their tunables (back-off, polls, watch period) are read where they are defined, so
patch them there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import uuid
from collections.abc import Callable
from typing import Any

import anyio
from prometheus_client import Gauge

from pitchrec.api.recent import ExposureWindow
from pitchrec.api.reloads import RELOAD_CHANNEL as RELOAD_CHANNEL  # re-exported
from pitchrec.api.reloads import SnapshotReloads
from pitchrec.api.reloads import reload_channel as reload_channel  # re-exported
from pitchrec.api.startup import LOAD_RETRYING as LOAD_RETRYING  # re-exported
from pitchrec.api.startup import StartupRetries
from pitchrec.api.telemetry import Telemetry
from pitchrec.domain.feed import Feed, FeedRequest
from pitchrec.index.lifecycle import SnapshotManager, SnapshotSource
from pitchrec.index.snapshot import Snapshot
from pitchrec.recommender import Recommender, RequestInfo
from pitchrec.service import ServiceConfig, build_service
from pitchrec.settings import Settings
from pitchrec.tracking.memory_store import MemoryStore
from pitchrec.tracking.redis_client import redis_async_client
from pitchrec.tracking.redis_store import RedisStore
from pitchrec.tracking.store import TrackingStore

log = logging.getLogger(__name__)

FEED_THREADS = 1  # never let Redis stall a request (the legacy waited 10 s)
#: The longest start-up waits for the feedback thread's first sync: two Redis timeouts
#: (``tracking.redis_client.REDIS_TIMEOUT_SECONDS``, 0.5 s: the pool policies' and the
#: blend search's reads), after which the replica serves the priors until the next sync.
FIRST_SYNC_WAIT_SECONDS = 1.0


class Runtime(StartupRetries, SnapshotReloads):
    """The serving process's long-lived state: the service, its telemetry, the snapshot
    manager and the background tasks (the start-up retries of :class:`StartupRetries`,
    the reload loops of :class:`SnapshotReloads`)."""

    def __init__(self, settings: Settings, source: SnapshotSource) -> None:
        self.settings = settings
        self.manager = SnapshotManager(source)
        #: Why the first snapshot is not served yet, in words safe to show a client.
        self.load_error: str | None = None
        #: Failed attempts at the first snapshot so far.
        self.load_attempts_failed = 0
        self._served = asyncio.Event()  # set when any snapshot is first served
        self.telemetry = Telemetry(self._snapshot_age)
        #: Resume impressions served lately, per creator (the dashboard's exposure figures).
        self.exposure = ExposureWindow()
        self._tasks: list[asyncio.Task[None]] = []
        self._redis: Any = None
        self._reload_lock = asyncio.Lock()
        #: Names this worker in its reload announcements, so it ignores its own.
        self._announcer = uuid.uuid4().hex
        #: Reload announcements this worker's listener has handled (its own included).
        self.announcements_handled = 0
        self._feed_limiter: anyio.CapacityLimiter | None = None
        database = source.database_url
        self.service = build_service(
            ServiceConfig.from_settings(settings),
            _make_store(settings, keep_archive=database is not None),
            archive_database=database,
        )
        self.telemetry.watch_tracker(self.service.counters)
        _watch_slow_redis(self.telemetry, self.service.counters)

    # -- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        # One feed thread per process: feeds are CPU-bound under the GIL, so more threads
        # only convoy on it; scale with worker processes instead.
        self._feed_limiter = anyio.CapacityLimiter(FEED_THREADS)
        self._served = asyncio.Event()  # of this event loop
        redis_url = self.settings.redis_url
        if redis_url is not None:
            self._redis = redis_async_client(redis_url.get_secret_value())
        # The feedback thread, then the embedded archiver (what Service.start does), which
        # migrates the database: retried in the background, so that a database outage does
        # not keep a server without Redis from starting (it serves from a snapshot).
        await anyio.to_thread.run_sync(self.service.feedback.start)
        # Its first sync pulls what the other replicas learned, so this one's first feed
        # is ranked with it (a millisecond with Redis up or refusing); bounded, for a Redis
        # that hangs: each of the sync's reads gives up after REDIS_TIMEOUT_SECONDS.
        feedback = self.service.feedback
        await anyio.to_thread.run_sync(feedback.first_sync.wait, FIRST_SYNC_WAIT_SECONDS)
        archiver = self.service.archiver
        if archiver is not None:
            self._tasks.append(
                asyncio.create_task(self._with_retries("embedded archiver start", archiver.start))
            )
        # An existing snapshot is mapped before start-up completes, so a worker never
        # accepts a connection it cannot serve (with --workers N, /readyz answered by one
        # worker must hold for all); a build from the database happens after, unready.
        existing = await anyio.to_thread.run_sync(self.manager.existing, self._max_age())
        self._tasks.append(asyncio.create_task(self._load_then_maintain(existing)))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._redis is not None:
            await self._redis.aclose()
        # Writes that waited for a slow Redis are replayed first (bounded in time; at once
        # when Redis refuses), then the feedback thread flushes and stops.
        await anyio.to_thread.run_sync(self.service.tracker.flush)
        await anyio.to_thread.run_sync(self.service.stop)  # flush queued tracking

    @property
    def recommender(self) -> Recommender | None:
        """The recommender, once a snapshot is served."""
        recommender: Recommender | None = self.service.recommender
        return recommender

    @property
    def ready(self) -> bool:
        return self.recommender is not None

    def _snapshot_age(self) -> float:
        return math.nan if self.recommender is None else self.recommender.snapshot_age_seconds()

    def _max_age(self) -> float:
        return self.settings.refresh_seconds or math.inf

    def not_ready_reason(self) -> str:
        """Why feeds cannot be served yet, safe to answer to anyone: fixed text, never an
        exception's (a driver's error names the host, the port, the SQL)."""
        return self.load_error or "the snapshot is still loading"

    async def _load_then_maintain(self, existing: Snapshot | None = None) -> None:
        snapshot = existing if existing is not None else await self._first_snapshot()
        current = self.recommender
        if current is None or current.snapshot.built_at < snapshot.built_at:
            self.service.serve_snapshot(snapshot)  # else a reload served a newer one
        self._served.set()
        self.load_error = None
        log.info("snapshot ready", extra={"resumes": len(snapshot.resumes)})
        if self.manager.source.directory is not None:
            self._tasks.append(asyncio.create_task(self._watch_directory()))
        if self.manager.source.database_url is not None and self.settings.refresh_seconds > 0:
            self._tasks.append(asyncio.create_task(self._refresh_periodically()))
        if self._redis is not None:
            self._tasks.append(asyncio.create_task(self._listen_for_reloads()))

    # -- serving --------------------------------------------------------------------

    async def feed(
        self,
        request: FeedRequest,
        info: RequestInfo | None = None,
        render: Callable[[Recommender, Feed], bytes] | None = None,
    ) -> tuple[Feed, bytes]:
        """Compute a feed (tracked when ``info`` is given), and render it when asked, in a
        worker thread, off the event loop (D-P1); the snapshot is read once, so a
        concurrent swap cannot mix two."""
        recommender = self.recommender
        if recommender is None:
            raise RuntimeError("not ready")

        def work() -> tuple[Feed, bytes]:
            feed = recommender.serve(request, info)
            return feed, render(recommender, feed) if render is not None else b""

        feed, body = await anyio.to_thread.run_sync(work, limiter=self._feed_limiter)
        self.telemetry.observe_feed(feed)
        self.exposure.observe(feed, recommender.snapshot, recommender.options)
        return feed, body

    async def redis_ok(self) -> bool | None:
        """None when Redis is not configured, else whether it answers PING."""
        if self._redis is None:
            return None
        try:
            return bool(await self._redis.ping())
        except Exception:
            return False


#: The tracker's gauges of a slow Redis (pitchrec.tracking.tracker), exported beside those
#: of Telemetry.watch_tracker.
SLOW_REDIS_GAUGES = {
    "deferred": "Tracking writes the request path spooled because Redis was slow (replayed"
    " by background writers, not waited on).",
    "state_skipped": "Feeds served without reading the session set and taste profile"
    " because Redis was slow.",
    "replayed": "Spooled tracking writes written later (after an outage, a slow spell or"
    " a full event stream).",
    "redis_slow": "1 while the request path goes around a slow Redis (latency breaker open).",
    "redis_slow_opened": "Times the latency breaker opened.",
}


def _watch_slow_redis(telemetry: Telemetry, stats: Callable[[], dict[str, float]]) -> None:
    for key, help_text in SLOW_REDIS_GAUGES.items():
        gauge = Gauge(f"pitchrec_tracking_{key}", help_text, registry=telemetry.registry)
        gauge.set_function(lambda key=key: stats().get(key, math.nan))  # type: ignore[misc]


def _make_store(settings: Settings, *, keep_archive: bool) -> TrackingStore:
    """Redis when configured, else the in-process store (which keeps archive rows for
    the embedded archiver when there is a database to archive into)."""
    if settings.redis_url is not None:
        return RedisStore.from_url(settings.redis_url.get_secret_value())
    return MemoryStore(keep_archive=keep_archive, max_bytes=settings.memory_store_max_bytes)
