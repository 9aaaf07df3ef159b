"""How a serving process replaces its snapshot, once it serves one.

:class:`SnapshotReloads` holds the reloads of a running :class:`~pitchrec.api.runtime.Runtime`:
an admin reload (:meth:`SnapshotReloads.reload`), the periodic refresh, the watch of the
shared snapshot directory and the cross-replica reload announcements (Redis pub/sub,
D-R9), which all end in one reference swap. It is a mixin of ``Runtime``, whose state it
shares; ``Runtime`` builds that state and starts these loops once the first snapshot is
served. The blocking half of the lifecycle (build aside, file lock, swap decision) is
:mod:`pitchrec.index.lifecycle`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

import anyio

from pitchrec.api.startup import brief_exception
from pitchrec.api.telemetry import Telemetry
from pitchrec.index.lifecycle import SnapshotManager
from pitchrec.index.snapshot import Snapshot
from pitchrec.recommender import Recommender
from pitchrec.service import Service
from pitchrec.settings import Settings
from pitchrec.tracking.redis_client import redis_async_client

#: The runtime's logger, as before these loops left runtime.py: its name is in every JSON
#: log line ("logger") and in operators' log filters.
log = logging.getLogger("pitchrec.api.runtime")

RELOAD_CHANNEL = "pitchrec:reload"
WATCH_SECONDS = 2.0  # how often a worker checks the shared snapshot directory


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


class SnapshotReloads:
    """The reloads, the directory watch, the periodic refresh and the announcement
    listener of a :class:`~pitchrec.api.runtime.Runtime` (a mixin: the attributes below
    are the runtime's, set in its ``__init__`` and ``start``)."""

    settings: Settings
    manager: SnapshotManager
    service: Service
    telemetry: Telemetry
    #: Reload announcements this worker's listener has handled (its own included).
    announcements_handled: int
    _served: asyncio.Event
    _redis: Any
    _reload_lock: asyncio.Lock
    _announcer: str

    if TYPE_CHECKING:

        @property
        def recommender(self) -> Recommender | None: ...

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
                                    brief_exception(exc),
                                )
                        self.announcements_handled += 1
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.warning("reload listener lost Redis; retrying in 5 s", exc_info=True)
                    await asyncio.sleep(5.0)
        finally:
            await listener.aclose()
