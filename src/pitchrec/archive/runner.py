"""Run the stream archiver as a process (see :mod:`.archiver`): ``pitchrec archive``.

SIGTERM and SIGINT finish the
batch in hand and stop (a second one stops at once). SIGKILL at any point loses nothing: the
entries it had read are read again on restart under the same ``--consumer`` name, or
reclaimed by another archiver after ``--claim-idle-ms``.

Every :data:`REPORT_SECONDS` the archiver logs its counters and the stream's backlog (the
archiver has no port; the backlog gauge and its alerts come from the API pods' /metrics,
which also report while the archiver is down).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
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
from pitchrec.sources.database import make_engine, redact
from pitchrec.sources.migrations import migrate
from pitchrec.tracking.redis_client import redis_client
from pitchrec.tracking.redis_store import stream_backlog

log = logging.getLogger(__name__)

#: Socket timeout of Redis commands, on top of the XREADGROUP block time.
REDIS_TIMEOUT_S = 5.0
#: Seconds between the archiver's progress lines: a minute keeps a quiet log readable and
#: is finer than the alert rules' windows (deploy/k8s/monitoring/alerts.yaml).
REPORT_SECONDS = 60.0


def default_consumer() -> str:
    """``{hostname}-{pid}``: unique per process, stable in its logs."""
    return f"{socket.gethostname()}-{os.getpid()}"


def progress_reporter(client: redis.Redis, every: float = REPORT_SECONDS) -> Reporter:
    """A reporter for :meth:`Archiver.run` that logs the counters and the backlog (read
    through ``client``) at most every ``every`` seconds, the first after ``every``."""
    next_at = time.monotonic() + every

    def report(archiver: Archiver) -> None:
        nonlocal next_at
        now = time.monotonic()
        if now < next_at:
            return
        next_at = now + every
        backlog = stream_backlog(client, archiver.stream, archiver.group)
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


def run_archiver(
    database_url: str,
    redis_url: str,
    consumer: str | None,
    batch_size: int,
    stop_event: threading.Event | None = None,
    *,
    block_ms: int = 1000,
    claim_idle_ms: int = 30_000,
) -> None:
    """Migrate the database, then archive until ``stop_event`` is set (or SIGTERM/SIGINT
    arrives, when called from the main thread)."""
    stop = stop_event if stop_event is not None else threading.Event()
    consumer = consumer or default_consumer()
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
    archiver = Archiver(client, engine, config)
    try:
        if not _migrate_until_done(engine, stop):
            return
        log.info(
            "archiver %s: %s -> %s (batch %d)",
            consumer,
            archiver.stream,
            redact(database_url),
            batch_size,
        )
        archiver.run(stop, progress_reporter(client))
    finally:
        log.info("archiver %s stopped: %s", consumer, archiver.metrics(), extra=archiver.metrics())
        for signum, handler in previous:
            signal.signal(signum, handler)
        engine.dispose()
        client.close()
