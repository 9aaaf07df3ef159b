"""Run the stream archiver as a process (see :mod:`.archiver`): ``pitchrec archive``.

SIGTERM and SIGINT finish the
batch in hand and stop (a second one stops at once). SIGKILL at any point loses nothing: the
entries it had read are read again on restart under the same ``--consumer`` name, or
reclaimed by another archiver after ``--claim-idle-ms``.

Every :data:`REPORT_SECONDS` the archiver logs its counters and the stream's backlog. With
``metrics_address`` (``pitchrec archive --metrics-port``) it also answers HTTP on that
address (:class:`HealthServer`, in :mod:`.health`):

* ``GET /healthz``: 200 while the process is starting or migrating, and while its loop
  turned (successfully or not: an outage is waited out inside, a restart would not help)
  within ``stale_after_s``; 503 when the loop is stuck (a call that never returns), so a
  liveness probe restarts it. Its pending entries are read again on restart.
* ``GET /metrics``: the archiver's counters and the stream's backlog as Prometheus text
  (:class:`ArchiverHealth`). The API pods export the backlog too, which keeps the backlog
  alerts working while the archiver is down.

The URLs are arguments of :func:`run_archiver`; ``pitchrec archive`` reads them from the
environment (or ``*_FILE``), so no password is on the process's command line.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import redis
from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from pitchrec.archive.archiver import (
    MAX_BACKOFF_S,
    MIN_BACKOFF_S,
    Archiver,
    ArchiverConfig,
    Reporter,
)
from pitchrec.archive.health import (
    BACKLOG_SECONDS,
    COUNTERS,
    STALE_AFTER_S,
    ArchiverHealth,
    HealthServer,
)
from pitchrec.sources.database import make_engine, redact
from pitchrec.sources.migrations import migrate
from pitchrec.tracking.redis_client import redis_client
from pitchrec.tracking.redis_store import stream_backlog

log = logging.getLogger(__name__)

#: Public names; the health side (ArchiverHealth, HealthServer, COUNTERS and the two
#: intervals) lives in :mod:`.health` and is re-exported here for existing importers.
__all__ = [
    "BACKLOG_SECONDS",
    "COUNTERS",
    "REDIS_TIMEOUT_S",
    "REPORT_SECONDS",
    "STALE_AFTER_S",
    "ArchiverHealth",
    "HealthServer",
    "Monitoring",
    "default_consumer",
    "progress_reporter",
    "run_archiver",
]

#: Socket timeout of Redis commands, on top of the XREADGROUP block time.
REDIS_TIMEOUT_S = 5.0
#: Seconds between the archiver's progress lines: a minute keeps a quiet log readable and
#: is finer than the alert rules' windows (deploy/k8s/monitoring/alerts.yaml).
REPORT_SECONDS = 60.0


class _MonitoredArchiver(Archiver):
    """An :class:`Archiver` that reports every turn of its loop to an :class:`ArchiverHealth`."""

    def __init__(
        self, client: redis.Redis, engine: Engine, config: ArchiverConfig, health: ArchiverHealth
    ) -> None:
        super().__init__(client, engine, config)
        self._health = health

    def run_once(self) -> int:
        try:
            return super().run_once()
        finally:
            self._health.beat()


def default_consumer() -> str:
    """``{hostname}-{pid}``: unique per process, stable in its logs."""
    return f"{socket.gethostname()}-{os.getpid()}"


def progress_reporter(
    client: redis.Redis,
    every: float = REPORT_SECONDS,
    health: ArchiverHealth | None = None,
    backlog_every: float = BACKLOG_SECONDS,
) -> Reporter:
    """A reporter for :meth:`Archiver.run` that logs the counters and the backlog (read
    through ``client``) at most every ``every`` seconds, the first after ``every``; with
    ``health``, it also stores the backlog there at most every ``backlog_every`` seconds
    (the first at once)."""
    next_log = time.monotonic() + every
    next_read = time.monotonic()

    def report(archiver: Archiver) -> None:
        nonlocal next_log, next_read
        now = time.monotonic()
        log_due = now >= next_log
        read_due = health is not None and now >= next_read
        if not (log_due or read_due):
            return
        if read_due:
            next_read = now + backlog_every
        if log_due:
            next_log = now + every
        backlog = stream_backlog(client, archiver.stream, archiver.group)
        if health is not None:
            health.backlog = float(backlog)
        if log_due:
            metrics = {**archiver.metrics(), "backlog": backlog}
            log.info("archiver %s: %s", archiver.consumer, metrics, extra=metrics)

    return report


def _migrate_until_done(engine: Engine, stop: threading.Event) -> bool:
    """Run the migrations, retrying while the database is unreachable; False if stopped."""
    backoff = MIN_BACKOFF_S
    while not stop.is_set():
        try:
            for step in migrate(engine):
                log.info("schema: %s", step)
            return True
        except OperationalError as exc:
            log.error("database unreachable (%s); retrying in %.1f s", exc, backoff)
            stop.wait(backoff)
            backoff = min(MAX_BACKOFF_S, backoff * 2)
    return False


@dataclass
class Monitoring:
    """How the archiver reports its health: ``address`` (host, port) serves /healthz and
    /metrics (None: no listener; port 0: a free one, then written to :attr:`port`);
    /healthz fails once the loop has not turned for ``stale_after_s``. :attr:`health` is
    the state both endpoints read."""

    address: tuple[str, int] | None = None
    stale_after_s: float = STALE_AFTER_S
    health: ArchiverHealth = field(default_factory=ArchiverHealth)
    port: int | None = None


def run_archiver(
    database_url: str,
    redis_url: str,
    consumer: str | None,
    batch_size: int,
    stop_event: threading.Event | None = None,
    *,
    block_ms: int = 1000,
    claim_idle_ms: int = 30_000,
    monitoring: Monitoring | None = None,
) -> None:
    """Migrate the database, then archive until ``stop_event`` is set (or SIGTERM/SIGINT
    arrives, when called from the main thread). With ``monitoring.address``, serve
    /healthz and /metrics there from the start (see the module docstring)."""
    stop = stop_event if stop_event is not None else threading.Event()
    consumer = consumer or default_consumer()
    monitoring = monitoring if monitoring is not None else Monitoring()
    health = monitoring.health
    # One turn may take the read's block time plus the Redis timeout, plus a back-off.
    floor = 2 * (block_ms / 1000 + REDIS_TIMEOUT_S + MAX_BACKOFF_S)
    health.stale_after_s = max(monitoring.stale_after_s, floor)
    if monitoring.stale_after_s < floor:
        log.warning("stale-after raised to %.0f s: one slow loop turn can take that", floor)
    health.consumer = consumer
    previous: list[tuple[signal.Signals, Any]] = []
    if threading.current_thread() is threading.main_thread():

        def _on_signal(signum: int, _frame: FrameType | None) -> None:
            if stop.is_set():  # a second signal: leave now; the batch in hand stays pending
                raise KeyboardInterrupt
            log.info("signal %d: stopping after the current batch", signum)
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            previous.append((sig, signal.signal(sig, _on_signal)))

    client = redis_client(
        redis_url,
        timeout=REDIS_TIMEOUT_S + block_ms / 1000,
        connect_timeout=REDIS_TIMEOUT_S,
        # Undecodable bytes from a foreign producer become lone surrogates: the entry fails
        # validation and its bytes round-trip into the dead-letter stream (archiver.py).
        encoding_errors="surrogateescape",
    )
    engine = make_engine(database_url)
    config = ArchiverConfig(
        consumer=consumer,
        batch_size=batch_size,
        block_ms=block_ms,
        claim_idle_ms=claim_idle_ms,
    )
    archiver = _MonitoredArchiver(client, engine, config, health)
    health.archiver = archiver
    server: HealthServer | None = None
    try:
        if monitoring.address is not None:
            server = HealthServer(health, *monitoring.address).start()
            monitoring.port = server.port
            log.info("archiver %s: /healthz and /metrics on port %d", consumer, server.port)
        health.set_phase("migrating")
        if not _migrate_until_done(engine, stop):
            return
        health.set_phase("archiving")
        log.info(
            "archiver %s: %s -> %s (batch %d)",
            consumer,
            archiver.stream,
            redact(database_url),
            batch_size,
        )
        archiver.run(stop, progress_reporter(client, health=health))
    finally:
        health.set_phase("stopped")
        log.info("archiver %s stopped: %s", consumer, archiver.metrics(), extra=archiver.metrics())
        for signum, handler in previous:
            signal.signal(signum, handler)
        if server is not None:
            server.close()
        engine.dispose()
        client.close()
