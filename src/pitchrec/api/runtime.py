"""Everything long-lived in a serving process, built in the app lifespan.

The snapshot loads in a worker thread after the server has started, so ``/healthz``
answers at once and ``/readyz`` turns 200 when the snapshot is in. Reloads, the periodic
refresh, the directory watch and the cross-replica reload announcements (Redis pub/sub,
D-R9) all end in one reference swap.

A database that is down at start-up neither stops the process nor leaves it unready for
good: the first build, and the embedded archiver's start (it migrates, so it needs the
database too), are retried in the background with a capped exponential back-off (one log
line per attempt; a traceback only for the first) until they succeed. What clients are told
meanwhile is generic (:meth:`Runtime.not_ready_reason`): the driver's text names hosts,
ports and SQL, and stays in the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import anyio
from prometheus_client import Gauge

from pitchrec.api.recent import ExposureWindow
from pitchrec.api.telemetry import Telemetry
from pitchrec.domain.feed import Feed, FeedRequest
from pitchrec.index.lifecycle import EmptyCatalogueError, SnapshotManager, SnapshotSource
from pitchrec.index.snapshot import Snapshot
from pitchrec.recommender import Recommender, RequestInfo
from pitchrec.service import ServiceConfig, build_service
from pitchrec.settings import Settings
from pitchrec.tracking.memory_store import MemoryStore
from pitchrec.tracking.redis_client import redis_async_client
from pitchrec.tracking.redis_store import RedisStore
from pitchrec.tracking.store import TrackingStore

log = logging.getLogger(__name__)

RELOAD_CHANNEL = "pitchrec:reload"


def reload_channel(database: int) -> str:
    """``pitchrec:reload:{database}``: pub/sub channels belong to the Redis server, not to
    a database, so two deployments on databases 0 and 1 of one server used to reload each
    other (hardening, suspected items)."""
    return f"{RELOAD_CHANNEL}:{database}"


def _announcement(data: Any) -> str | None:
    """The announcer of a reload message ``"<time> <announcer>"`` ("" for the bare
    ``"<time>"`` of replicas before it), None when unreadable. The time is the publisher's
    clock and is not used: a replica reloads unless its snapshot was built after it
    received the message, by its own clock."""
    text = data.decode() if isinstance(data, bytes) else str(data)
    stamp, _, announcer = text.partition(" ")
    try:
        float(stamp)
    except ValueError:
        return None
    return announcer


def _database_of(client: Any) -> int:
    """The database number a redis-py client talks to (0 when it does not say)."""
    return int(client.connection_pool.connection_kwargs.get("db", 0) or 0)


WATCH_SECONDS = 2.0  # how often a worker checks the shared snapshot directory
FEED_THREADS = 1  # never let Redis stall a request (the legacy waited 10 s)
#: Back-off between attempts of a start-up step that needs the database (the first
#: snapshot build, the embedded archiver's migration): doubles from the minimum up to the
#: maximum, each wait drawn within +-25 % so that replicas do not retry in step.
RETRY_MIN_SECONDS = 1.0
RETRY_MAX_SECONDS = 30.0
#: How often a worker waiting to retry its first build looks for a sibling's snapshot in the
#: shared directory: a manifest read while there is none, a 10 ms mapping when there is
#: (bench/RESULTS.md). A worker that built the first snapshot after failed attempts waits
#: SIBLING_GRACE_POLLS of these before it says ready, so its siblings have adopted it.
SIBLING_POLL_SECONDS = 0.05
SIBLING_GRACE_POLLS = 4
#: Seconds a feed reaching a worker that has not adopted its sibling's snapshot yet waits
#: for it rather than answering 503 (:meth:`Runtime.wait_ready`). The grace above is a
#: guess at a sibling's speed: on a loaded machine (the chaos suite beside other work) 33
#: of 2,869 feeds were still refused up to 0.2 s after the first /readyz 200.
ADOPTION_WAIT_SECONDS = 2.0
#: What /readyz says while the first snapshot has failed to load and is being retried.
LOAD_RETRYING = "the snapshot could not be loaded yet; retrying (the server log says why)"

T = TypeVar("T")


class Runtime:
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

    async def wait_ready(self) -> bool:
        """Whether feeds can be served, waiting up to :data:`ADOPTION_WAIT_SECONDS` when
        they cannot yet but the shared directory holds a snapshot this worker is about to
        adopt (a sibling built it while this one waited to retry its own build; /readyz,
        answered by either worker, may already say 200). Without such a snapshot (the
        database down, nothing built) the answer is at once."""
        if self.ready:
            return True
        if not await anyio.to_thread.run_sync(self.manager.on_disk, self._max_age()):
            return False
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._served.wait(), ADOPTION_WAIT_SECONDS)
        return self.ready

    def _snapshot_age(self) -> float:
        return math.nan if self.recommender is None else self.recommender.snapshot_age_seconds()

    def _max_age(self) -> float:
        return self.settings.refresh_seconds or math.inf

    def not_ready_reason(self) -> str:
        """Why feeds cannot be served yet, safe to answer to anyone: fixed text, never an
        exception's (a driver's error names the host, the port, the SQL)."""
        return self.load_error or "the snapshot is still loading"

    async def _with_retries(
        self,
        what: str,
        call: Callable[[], T],
        on_failure: Callable[[BaseException], None] | None = None,
        until: asyncio.Event | None = None,
    ) -> T | None:
        """``call()`` in a worker thread until it succeeds, waiting a capped exponential
        back-off between attempts; None if ``until`` is set first. One log line per failed
        attempt, with the traceback only for the first."""
        delay = RETRY_MIN_SECONDS
        attempt = 0
        while True:
            attempt += 1
            try:
                # Abandoned on cancel: a connect to a silent host must not delay shutdown.
                result = await anyio.to_thread.run_sync(call, abandon_on_cancel=True)
            except Exception as exc:
                if on_failure is not None:
                    on_failure(exc)
                wait = min(delay, RETRY_MAX_SECONDS) * random.uniform(0.75, 1.25)
                if attempt == 1:
                    log.error("%s failed; retrying in %.1f s", what, wait, exc_info=exc)
                else:
                    log.warning(
                        "%s failed again (attempt %d: %s); retrying in %.1f s",
                        what,
                        attempt,
                        _brief(exc),
                        wait,
                    )
                delay = min(delay * 2, RETRY_MAX_SECONDS)
                if until is None:
                    await asyncio.sleep(wait)
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(until.wait(), wait)
                if until.is_set():
                    return None
                continue
            if attempt > 1:
                log.info("%s succeeded at attempt %d", what, attempt)
            return result

    def _load_failed(self, exc: BaseException) -> None:
        self.load_attempts_failed += 1
        # An empty catalogue is said as it is (fixed text of ours); anything else may
        # carry a driver's message, which stays in the log.
        self.load_error = str(exc) if isinstance(exc, EmptyCatalogueError) else LOAD_RETRYING

    async def _first_snapshot(self) -> Snapshot:
        """The first snapshot: built (or loaded) until it works, unless a reload or a
        sibling worker's build serves one first."""
        sibling = asyncio.create_task(self._adopt_sibling_snapshot())
        try:
            snapshot = await self._with_retries(
                "initial snapshot load",
                lambda: self.manager.initial(self._max_age()),
                on_failure=self._load_failed,
                until=self._served,
            )
        finally:
            sibling.cancel()
        if snapshot is None:  # a reload or a sibling got there first
            assert self.recommender is not None
            return self.recommender.snapshot
        if self.load_error is not None:  # built after failures: let the siblings adopt it
            await asyncio.sleep(SIBLING_GRACE_POLLS * SIBLING_POLL_SECONDS)
        return snapshot

    async def _adopt_sibling_snapshot(self) -> None:
        """While this worker waits to retry its build (database down at start), serve the
        snapshot a sibling worker writes to the shared directory as soon as it appears:
        without it a worker stayed unready up to its own back-off (30 s) after its
        sibling, and /readyz (answered by either) said 200 while it refused feeds."""
        if self.manager.source.directory is None:
            return
        while not self._served.is_set():
            await asyncio.sleep(SIBLING_POLL_SECONDS)
            try:
                found = await anyio.to_thread.run_sync(
                    lambda: self.manager.existing(self._max_age())
                )
            except Exception:  # a half-written directory: the next poll sees it whole
                log.debug("sibling snapshot not readable yet", exc_info=True)
                continue
            if found is not None and not self._served.is_set():
                self.service.serve_snapshot(found)
                self._served.set()
                log.info("serving the snapshot a sibling worker built")
                return

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

    # -- reloads --------------------------------------------------------------------

    async def reload(self, *, newer_than: float | None = None, announce: bool = True) -> None:
        """Serve a snapshot built after ``newer_than`` (default: now)."""
        requested_at = time.time() if newer_than is None else newer_than
        async with self._reload_lock:
            current = self.recommender
            if current is not None and current.snapshot.built_at >= requested_at:
                return
            try:
                snapshot = await anyio.to_thread.run_sync(self.manager.rebuild, requested_at)
            except Exception:
                self.telemetry.reloads.labels("error").inc()
                raise
            self._swap(snapshot)
            self.telemetry.reloads.labels("ok").inc()
        if announce and self._redis is not None:
            try:
                channel = reload_channel(_database_of(self._redis))
                await self._redis.publish(channel, f"{requested_at!r} {self._announcer}")
            except Exception:
                self.telemetry.tracking_errors.labels("reload_announce").inc()
                log.warning("could not announce the reload to other replicas", exc_info=True)

    def _swap(self, snapshot: Snapshot) -> None:
        self.service.serve_snapshot(snapshot)
        self._served.set()
        log.info("snapshot swapped", extra={"built_at": snapshot.built_at})

    async def _watch_directory(self) -> None:
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            recommender = self.recommender
            if recommender is None:
                continue
            try:
                snapshot = await anyio.to_thread.run_sync(
                    self.manager.changed_on_disk, recommender.snapshot
                )
            except Exception:
                log.warning("snapshot directory unreadable; keeping the current one", exc_info=True)
                continue
            if snapshot is not None:
                self._swap(snapshot)
                self.telemetry.reloads.labels("watched").inc()

    async def _refresh_periodically(self) -> None:
        period = self.settings.refresh_seconds
        while True:
            await asyncio.sleep(period)
            try:
                # Another worker sharing the directory may have refreshed within the
                # last half period: then this one only loads what it built.
                await self.reload(newer_than=time.time() - period / 2, announce=False)
            except Exception:
                log.warning("periodic refresh failed; keeping the current snapshot", exc_info=True)

    async def _listen_for_reloads(self) -> None:

        assert self.settings.redis_url is not None
        # A connection of its own, without the short read timeout: it waits for messages.
        listener = redis_async_client(self.settings.redis_url.get_secret_value(), listener=True)
        try:
            while True:
                try:
                    pubsub = listener.pubsub()
                    await pubsub.subscribe(reload_channel(_database_of(listener)))
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        announcement = _announcement(message["data"])
                        # Unreadable, or this worker's own: nothing to do. Else "the data
                        # changed before now", by this replica's own clock: a publisher's
                        # clock behind this one's made a stale snapshot look newer than the
                        # announcement, and the reload was skipped.
                        if announcement is not None and announcement != self._announcer:
                            try:
                                await self.reload(newer_than=time.time(), announce=False)
                            except Exception as exc:  # e.g. the database is down: not Redis
                                log.warning(
                                    "announced reload failed (%s); keeping the current snapshot",
                                    _brief(exc),
                                )
                        self.announcements_handled += 1
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.warning("reload listener lost Redis; retrying in 5 s", exc_info=True)
                    await asyncio.sleep(5.0)
        finally:
            await listener.aclose()

    async def redis_ok(self) -> bool | None:
        """None when Redis is not configured, else whether it answers PING."""
        if self._redis is None:
            return None
        try:
            return bool(await self._redis.ping())
        except Exception:
            return False


def _brief(exc: BaseException) -> str:
    """``Type: first line of the message`` (at most 300 characters), for a log line."""
    text = str(exc).splitlines()[0][:300] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"


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
