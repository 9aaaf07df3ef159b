"""Run the stream archiver as a process (see :mod:`.archiver`): ``pitchrec archive``.

SIGTERM and SIGINT finish the
batch in hand and stop (a second one stops at once). SIGKILL at any point loses nothing: the
entries it had read are read again on restart under the same ``--consumer`` name, or
reclaimed by another archiver after ``--claim-idle-ms``.

Every :data:`REPORT_SECONDS` the archiver logs its counters and the stream's backlog. With
``metrics_address`` (``pitchrec archive --metrics-port``) it also answers HTTP on that
address (:class:`HealthServer`):

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

import json
import logging
import math
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any, Final

import redis
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
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
#: Seconds between backlog reads for /metrics (one XLEN + XINFO GROUPS each).
BACKLOG_SECONDS = 15.0
#: /healthz fails when the loop has not turned for this long. One turn takes at most
#: the read's block time + the Redis timeout (5 s), or a MySQL batch bounded by the
#: engine's 60 s read/write timeouts, + a back-off of at most 5 s.
STALE_AFTER_S = 120.0

#: Help text of each counter of :meth:`Archiver.metrics`, exported as
#: ``pitchrec_archiver_{name}_total``.
COUNTERS: Final = {
    "inserted": "Events written to activity_log.",
    "duplicates": "Events ignored because their event_id was already archived.",
    "dead_lettered": "Malformed entries moved to the dead-letter stream.",
    "missing": "Entries gone from the stream before they were archived.",
    "batches": "Batches committed and acknowledged.",
    "reclaimed": "Pending entries taken over from idle consumers (XAUTOCLAIM).",
    "trimmed": "Acknowledged entries trimmed (delete_acked=False only).",
    "errors": "Failed loop iterations (each retried after a back-off).",
}


class ArchiverHealth:
    """What /healthz and /metrics report, shared by the archiving thread (which writes)
    and the HTTP threads (which read).

    ``phase``: ``starting``, ``migrating``, ``archiving`` or ``stopped``. Alive while
    starting or migrating (a large ALTER may take minutes, and killing it would start it
    over) and while archiving with a loop turn at most ``stale_after_s`` ago.
    """

    def __init__(
        self, stale_after_s: float = STALE_AFTER_S, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.stale_after_s = stale_after_s
        self._clock = clock
        self._lock = threading.Lock()
        self.phase = "starting"
        self.consumer = ""
        self.archiver: Archiver | None = None
        #: Entries not yet acknowledged by the group, NaN until read.
        self.backlog = math.nan
        self._last_turn: float | None = None

    def set_phase(self, phase: str) -> None:
        with self._lock:
            self.phase = phase
            if phase == "archiving":  # the loop starts now: its first turn is due
                self._last_turn = self._clock()

    def beat(self) -> None:
        """The loop turned once (whatever its outcome)."""
        with self._lock:
            self._last_turn = self._clock()

    def turn_age(self) -> float:
        """Seconds since the loop last turned (NaN before it started)."""
        with self._lock:
            last = self._last_turn
        return math.nan if last is None else self._clock() - last

    def live(self) -> tuple[bool, dict[str, Any]]:
        """(alive, a JSON-able status)."""
        phase, age = self.phase, self.turn_age()
        if phase in ("starting", "migrating"):
            alive = True
        elif phase == "archiving":
            alive = age <= self.stale_after_s
        else:
            alive = False
        word = "ok" if alive else ("stale" if phase == "archiving" else "stopped")
        status: dict[str, Any] = {"status": word, "phase": phase}
        if not math.isnan(age):
            status["last_turn_seconds_ago"] = round(age, 3)
        return alive, status

    def collector(self) -> Collector:
        return _HealthCollector(self)


class _HealthCollector(Collector):
    def __init__(self, health: ArchiverHealth) -> None:
        self._health = health

    def collect(self) -> Iterator[Metric]:
        health = self._health
        archiver = health.archiver
        counters = archiver.metrics() if archiver is not None else dict.fromkeys(COUNTERS, 0)
        for name, help_text in COUNTERS.items():
            family = CounterMetricFamily(f"pitchrec_archiver_{name}", help_text)
            family.add_metric([], float(counters.get(name, 0)))
            yield family
        yield GaugeMetricFamily(
            "pitchrec_archiver_backlog",
            "Stream entries not yet acknowledged by the archiver group, read at most every "
            f"{BACKLOG_SECONDS:g} s after a successful turn (NaN before the first read).",
            value=health.backlog,
        )
        yield GaugeMetricFamily(
            "pitchrec_archiver_last_turn_age_seconds",
            "Seconds since the archiving loop last turned (NaN before it started).",
            value=health.turn_age(),
        )
        alive, _ = health.live()
        yield GaugeMetricFamily(
            "pitchrec_archiver_alive", "1 while /healthz answers 200.", value=float(alive)
        )
        phase = GaugeMetricFamily(
            "pitchrec_archiver_phase", "The current phase (1) of the archiver.", labels=["phase"]
        )
        for name in ("starting", "migrating", "archiving", "stopped"):
            phase.add_metric([name], float(health.phase == name))
        yield phase


class HealthServer:
    """``GET``/``HEAD`` ``/healthz`` and ``/metrics`` of an :class:`ArchiverHealth`, on a
    daemon thread. Port 0 picks a free port (see :attr:`port`)."""

    def __init__(self, health: ArchiverHealth, host: str, port: int) -> None:
        registry = CollectorRegistry(auto_describe=False)
        registry.register(health.collector())
        handler = _handler(health, registry)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="archiver-health", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> HealthServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def _handler(health: ArchiverHealth, registry: CollectorRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        timeout = 10  # a client that sends nothing does not hold a thread for long
        server_version = "pitchrec-archiver"
        sys_version = ""

        def do_GET(self) -> None:
            self._answer(head=False)

        def do_HEAD(self) -> None:
            self._answer(head=True)

        def _answer(self, *, head: bool) -> None:
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                alive, status = health.live()
                code, ctype = (200 if alive else 503), "application/json"
                body = json.dumps(status).encode()
            elif path == "/metrics":
                code, ctype, body = 200, CONTENT_TYPE_LATEST, generate_latest(registry)
            else:
                code, ctype, body = 404, "application/json", b'{"status":"not_found"}'
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if not head:
                self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("health %s: " + format, self.client_address[0], *args)

    return Handler


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
