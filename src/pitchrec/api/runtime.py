"""Everything long-lived in a serving process, built in the app lifespan.

The snapshot loads in a worker thread after the server has started, so ``/healthz``
answers at once and ``/readyz`` turns 200 when the snapshot is in. Reloads, the periodic
refresh, the directory watch and the cross-replica reload announcements (Redis pub/sub,
D-R9) all end in one reference swap.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import anyio

from pitchrec.api.telemetry import Telemetry
from pitchrec.domain.feed import Feed, FeedRequest
from pitchrec.index.lifecycle import SnapshotManager, SnapshotSource
from pitchrec.index.snapshot import Snapshot
from pitchrec.service import Recommender, RequestInfo, ServiceConfig, build_service
from pitchrec.settings import Settings
from pitchrec.tracking.memory_store import MemoryStore
from pitchrec.tracking.redis_client import redis_async_client
from pitchrec.tracking.redis_store import RedisStore
from pitchrec.tracking.store import TrackingStore

log = logging.getLogger(__name__)

RELOAD_CHANNEL = "pitchrec:reload"
WATCH_SECONDS = 2.0  # how often a worker checks the shared snapshot directory
FEED_THREADS = 1  # never let Redis stall a request (the legacy waited 10 s)


class Runtime:
    def __init__(self, settings: Settings, source: SnapshotSource) -> None:
        self.settings = settings
        self.manager = SnapshotManager(source)
        self.load_error: str | None = None
        self.telemetry = Telemetry(self._snapshot_age)
        self._tasks: list[asyncio.Task[None]] = []
        self._redis: Any = None
        self._reload_lock = asyncio.Lock()
        self._feed_limiter: anyio.CapacityLimiter | None = None
        database = source.database_url
        self.service = build_service(
            ServiceConfig.from_settings(settings),
            _make_store(settings, keep_archive=database is not None),
            archive_database=database,
        )
        self.telemetry.watch_tracker(self.service.counters)

    # -- lifecycle ------------------------------------------------------------------

    async def start(self) -> None:
        # One feed thread per process: feeds are CPU-bound under the GIL, so more threads
        # only convoy on it; scale with worker processes instead.
        self._feed_limiter = anyio.CapacityLimiter(FEED_THREADS)
        redis_url = self.settings.redis_url
        if redis_url is not None:
            self._redis = redis_async_client(redis_url.get_secret_value())
        await anyio.to_thread.run_sync(self.service.start)
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

    async def _load_then_maintain(self, existing: Snapshot | None = None) -> None:
        snapshot = existing
        if snapshot is None:
            try:
                snapshot = await anyio.to_thread.run_sync(self.manager.initial, self._max_age())
            except Exception as exc:  # the process stays up, unready, and says why
                self.load_error = f"{type(exc).__name__}: {exc}"
                log.exception("initial snapshot load failed")
                return
        self.service.serve_snapshot(snapshot)
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
                await self._redis.publish(RELOAD_CHANNEL, repr(requested_at))
            except Exception:
                self.telemetry.tracking_errors.labels("reload_announce").inc()
                log.warning("could not announce the reload to other replicas", exc_info=True)

    def _swap(self, snapshot: Snapshot) -> None:
        self.service.serve_snapshot(snapshot)
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
                    await pubsub.subscribe(RELOAD_CHANNEL)
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        try:
                            requested_at = float(message["data"])
                        except (TypeError, ValueError):
                            continue
                        await self.reload(newer_than=requested_at, announce=False)
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


def _make_store(settings: Settings, *, keep_archive: bool) -> TrackingStore:
    """Redis when configured, else the in-process store (which keeps archive rows for
    the embedded archiver when there is a database to archive into)."""
    if settings.redis_url is not None:
        return RedisStore.from_url(settings.redis_url.get_secret_value())
    return MemoryStore(keep_archive=keep_archive)
