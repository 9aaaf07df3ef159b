"""The stream archiver's health, as its process (:mod:`.runner`) serves it over HTTP.

:class:`ArchiverHealth` is what the archiving thread reports (its phase, each turn of its
loop, the stream's backlog) and what the HTTP threads read; :class:`HealthServer` answers
``GET``/``HEAD`` ``/healthz`` (200 while alive, 503 when the loop is stuck) and
``/metrics`` (the archiver's counters and the backlog as Prometheus text) from it. What
each endpoint means for a liveness probe and the alerts is in :mod:`.runner`.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector

from pitchrec.archive.archiver import Archiver

#: The runner's logger (this code was part of runner.py): the name is what the JSON logs
#: carry, and what their filters match.
log = logging.getLogger("pitchrec.archive.runner")

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
