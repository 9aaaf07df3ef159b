"""Hardening (issue 15, item 13): the archiver's liveness signal and its metrics.

The archiver used to have no port: nothing could tell a stuck loop from a working one, and
its counters (inserted, duplicates, dead letters...) were only in its log. Now
``run_archiver`` can serve ``/healthz`` (200 while starting, migrating, or while the loop
turned recently, failing turns included; 503 once it is stuck) and ``/metrics``
(Prometheus text). No server is needed here: SQLite, and a Redis port nobody listens on.
"""

from __future__ import annotations

import json
import logging
import math
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from pitchrec.archive.archiver import Archiver, ArchiverConfig
from pitchrec.archive.runner import (
    COUNTERS,
    ArchiverHealth,
    HealthServer,
    Monitoring,
    progress_reporter,
    run_archiver,
)
from pitchrec.sources.database import make_engine


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(port: int, path: str, method: str = "GET") -> tuple[int, bytes, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read(), response.headers["Content-Type"]
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), exc.headers["Content-Type"]


def _samples(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            label = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            out[sample.name + (f"{{{label}}}" if label else "")] = sample.value
    return out


def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def archiver(tmp_path: Path) -> Iterator[Archiver]:
    """An archiver on SQLite whose Redis is a port nobody listens on (never used here)."""
    client = redis.Redis(host="127.0.0.1", port=_free_port(), socket_connect_timeout=1)
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        yield Archiver(client, engine, ArchiverConfig(consumer="c1"))
    finally:
        engine.dispose()
        client.close()


def test_liveness_follows_the_phase_and_the_last_turn() -> None:
    clock = Clock()
    health = ArchiverHealth(stale_after_s=120.0, clock=clock)
    assert health.live()[0] and health.live()[1]["phase"] == "starting"
    health.set_phase("migrating")
    clock.now += 3_600  # a migration may take long: it is never stale
    assert health.live()[0]
    health.set_phase("archiving")  # the loop starts: its first turn is due from now
    clock.now += 119
    assert health.live()[0]
    clock.now += 2
    alive, status = health.live()
    assert not alive and status == {
        "status": "stale",
        "phase": "archiving",
        "last_turn_seconds_ago": 121.0,
    }
    health.beat()  # a turn, failed or not, proves the loop is not stuck
    assert health.live()[0]
    health.set_phase("stopped")
    assert not health.live()[0]


def test_the_health_server_answers_healthz_and_metrics(archiver: Archiver) -> None:
    clock = Clock()
    health = ArchiverHealth(stale_after_s=60.0, clock=clock)
    health.archiver = archiver
    archiver.inserted, archiver.duplicates, archiver.dead_lettered, archiver.errors = 7, 2, 1, 3
    health.backlog = 42.0
    health.set_phase("archiving")
    server = HealthServer(health, "127.0.0.1", 0).start()
    try:
        status, body, ctype = _get(server.port, "/healthz")
        assert status == 200 and ctype == "application/json"
        assert json.loads(body)["phase"] == "archiving"
        assert _get(server.port, "/healthz", "HEAD")[:2] == (200, b"")

        status, body, ctype = _get(server.port, "/metrics")
        assert status == 200 and ctype.startswith("text/plain")
        samples = _samples(body.decode())
        assert samples["pitchrec_archiver_inserted_total"] == 7
        assert samples["pitchrec_archiver_duplicates_total"] == 2
        assert samples["pitchrec_archiver_dead_lettered_total"] == 1
        assert samples["pitchrec_archiver_errors_total"] == 3
        assert {f"pitchrec_archiver_{name}_total" for name in COUNTERS} <= samples.keys()
        assert samples["pitchrec_archiver_backlog"] == 42
        assert samples["pitchrec_archiver_alive"] == 1
        assert samples["pitchrec_archiver_phase{phase=archiving}"] == 1
        assert samples["pitchrec_archiver_phase{phase=migrating}"] == 0

        clock.now += 61  # the loop is stuck
        status, body, _ = _get(server.port, "/healthz")
        assert status == 503 and json.loads(body)["status"] == "stale"
        assert _samples(_get(server.port, "/metrics")[1].decode())["pitchrec_archiver_alive"] == 0
        assert _get(server.port, "/other")[0] == 404
    finally:
        server.close()


def test_metrics_before_the_archiver_exists() -> None:
    health = ArchiverHealth()
    server = HealthServer(health, "127.0.0.1", 0).start()
    try:
        samples = _samples(_get(server.port, "/metrics")[1].decode())
    finally:
        server.close()
    assert samples["pitchrec_archiver_inserted_total"] == 0
    assert math.isnan(samples["pitchrec_archiver_backlog"])
    assert samples["pitchrec_archiver_phase{phase=starting}"] == 1


def test_the_reporter_stores_the_backlog_for_metrics(caplog: pytest.LogCaptureFixture) -> None:
    class Pipe:
        def xlen(self, stream: str) -> None: ...

        def xinfo_groups(self, stream: str) -> None: ...

        def execute(self, raise_on_error: bool = True) -> list[Any]:
            return [70, [{"name": "g", "lag": 15, "pending": 5}]]

    client = SimpleNamespace(pipeline=lambda transaction=True: Pipe())
    stub = SimpleNamespace(stream="s", group="g", consumer="c1", metrics=lambda: {"inserted": 1})
    health = ArchiverHealth()
    report = progress_reporter(cast(redis.Redis, client), every=3_600, health=health)
    with caplog.at_level(logging.INFO, logger="pitchrec.archive.runner"):
        report(cast(Archiver, stub))
    assert health.backlog == 20  # read at once for /metrics
    assert not [r for r in caplog.records if r.name == "pitchrec.archive.runner"]  # log: hourly


def test_run_archiver_serves_liveness_through_an_outage_and_stops(tmp_path: Path) -> None:
    """Redis is down: every turn fails, yet the loop turns, so /healthz stays 200 and the
    failures are counted in /metrics; the listener closes with the archiver."""
    monitoring = Monitoring(address=("127.0.0.1", 0), stale_after_s=1.0)
    stop = threading.Event()
    thread = threading.Thread(
        target=run_archiver,
        args=(
            f"sqlite:///{tmp_path / 'a.db'}",
            f"redis://127.0.0.1:{_free_port()}/0",
            "c1",
            10,
            stop,
        ),
        kwargs={"block_ms": 10, "monitoring": monitoring},
        daemon=True,
    )
    thread.start()
    try:
        _wait_for(lambda: monitoring.health.phase == "archiving")
        archiver = monitoring.health.archiver
        assert archiver is not None and monitoring.port is not None
        _wait_for(lambda: archiver.errors >= 2)
        status, body, _ = _get(monitoring.port, "/healthz")
        assert status == 200 and json.loads(body)["phase"] == "archiving"
        samples = _samples(_get(monitoring.port, "/metrics")[1].decode())
        assert samples["pitchrec_archiver_errors_total"] >= 2
        # One slow turn (block + Redis timeout + back-off) must never count as stuck.
        assert monitoring.health.stale_after_s >= 2 * (0.01 + 5 + 5)
    finally:
        stop.set()
        thread.join(15)
    assert not thread.is_alive()
    assert monitoring.health.phase == "stopped"
    with pytest.raises(OSError):
        _get(monitoring.port, "/healthz")
