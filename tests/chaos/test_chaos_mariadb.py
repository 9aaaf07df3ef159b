"""MariaDB unreachable (issue 15): during start, during an admin reload and during
archiving, with the real ``pitchrec serve --workers 2`` and ``pitchrec archive`` reaching
the test's own MariaDB database through a TCP proxy that goes down and comes back (the
machine's MariaDB is never stopped). Redis is a private redis-server, reached directly.

* Start with the database down: the process stays up, ``/healthz`` answers, ``/readyz``
  and feeds are a generic 503 while the first build is retried; once the database is
  back the server becomes ready without a restart, and the archiver (started down too)
  migrates and archives.
* Down under load: an admin reload is a 503 that keeps the current snapshot, feeds and
  events keep being answered 2xx, the archiver retries; once back, a reload is a 200 and
  every accepted row is in ``activity_log`` exactly once.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from chaos_kit import (
    ADMIN_TOKEN,
    HOST,
    POD_LIMIT_BYTES,
    Chaos,
    Load,
    ProxyProc,
    Server,
    account,
    archiver_metrics,
    http_call,
    wait_for,
)
from sqlalchemy.engine import make_url

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.slow]

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
LEAKS = ("pymysql", "OperationalError", "Lost connection", "Can't connect", "SELECT")


def _proxied(url: str, port: int) -> str:
    return make_url(url).set(host=HOST, port=port).render_as_string(hide_password=False)


def _answers(port: int) -> bool:
    try:
        return http_call(port, "GET", "/healthz", timeout=2.0)[0] == 200
    except OSError:
        return False


def _generic_503(status: int, body: bytes) -> None:
    assert status == 503, (status, body[:500])
    text = body.decode(errors="replace")
    assert not any(leak in text for leak in LEAKS), text


#: Server request ids of the feeds the tests ask for outside the load (their rows are
#: archived too).
PROBED: set[str] = set()


def _feed_status(port: int, user: int = 3) -> int | None:
    """A feed asked on a connection of its own (so either worker may take it)."""
    try:
        status, body = http_call(port, "GET", f"/v1/feed/total?user_id={user}", timeout=10.0)
    except OSError:
        return None
    if status == 200:
        PROBED.add(json.loads(body)["request_id"])
    return status


def _every_worker_serves(port: int, in_a_row: int = 30) -> bool:
    """``in_a_row`` feeds on fresh connections all 200: both workers serve (each takes
    about half of them)."""
    return all(_feed_status(port, user) == 200 for user in range(in_a_row))


def _start_down(chaos: Chaos, mariadb_url: str) -> tuple[Server, ProxyProc, int, str]:
    """The world seeded, then the server started with the database behind a proxy that
    is down; returns when /healthz answers and a first build has failed."""
    chaos.seed(mariadb_url)
    url = make_url(mariadb_url)
    database = chaos.proxy((url.host or HOST, url.port or 3306), down=True)
    proxied = _proxied(mariadb_url, database.port)
    redis_port = chaos.redis()
    server = chaos.server(proxied, f"redis://{HOST}:{redis_port}/0")
    wait_for(lambda: _answers(server.port), 30, "/healthz")
    log = server.proc.log_path
    wait_for(lambda: "initial snapshot load failed" in log.read_text(), 30, "a failed build")
    return server, database, redis_port, proxied


def test_start_with_mariadb_down_becomes_ready_once_it_is_back(
    chaos: Chaos, mariadb_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    server, database, redis_port, proxied = _start_down(chaos, mariadb_url)
    archiver = chaos.archiver(proxied, f"redis://{HOST}:{redis_port}/0")
    wait_for(lambda: "database unreachable" in archiver.log_path.read_text(), 30, "archiver")
    down_for = time.monotonic()
    _generic_503(*server.get("/readyz"))
    _generic_503(*server.get("/v1/feed/total?user_id=3"))
    _generic_503(*server.post("/api/search/total", {"SELF_ID": 3}))
    time.sleep(3.0)  # a few more attempts with back-off
    assert server.proc.alive() and archiver.alive(), chaos.logs()
    _generic_503(*server.get("/readyz"))
    refused = database.stats()["refused"]
    database.up()
    back_at = time.monotonic()
    ready_after = server.wait_ready(timeout=90)  # back-off up to 30 s between attempts
    # Each worker retries on its own back-off: the second may serve seconds later (the
    # xfail below); the load starts once both do.
    all_after = ready_after + wait_for(lambda: _every_worker_serves(server.port), 60, "workers")
    load = Load(server.port, 4).start()
    try:
        time.sleep(4.0)
    finally:
        load.finish()
    accounting = account(load, mariadb_url, redis_port, other_requests=frozenset(PROBED))
    server.monitor.stop()
    with capsys.disabled():
        print(
            f"\n[chaos mariadb start] database down {back_at - down_for:.1f} s after "
            f"the first failures ({refused} connections refused); /readyz 200 "
            f"{ready_after:.1f} s after it came back, every worker serving after "
            f"{all_after:.1f} s\n[chaos mariadb start] "
            f"{load.statuses()}; {accounting.summary()}\n[chaos mariadb start] "
            f"{server.monitor.summary()}"
        )
    assert all(a.ok for a in load.attempts), load.statuses()
    accounting.assert_exact()
    assert accounting.expected > 0
    assert server.monitor.peak_sum < POD_LIMIT_BYTES, server.monitor.summary()


_RETRY = re.compile(r"initial snapshot load failed.*retrying in ([\d.]+) s")


def _planned_attempts(log: Path, after: float) -> list[float]:
    """From the server's log: when (unix seconds) the workers plan their next attempts at
    the first build, those after ``after``. Each failed attempt logs when the next one
    is; once it has passed the worker logs a new line, so while both workers wait there
    are exactly two such times."""
    planned = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.startswith("{") or "initial snapshot load failed" not in line:
            continue
        record = json.loads(line)
        match = _RETRY.search(record["msg"])
        if match is None:
            continue
        at = dt.datetime.strptime(record["ts"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)
        if (planned_at := at.timestamp() + float(match.group(1))) > after:
            planned.append(planned_at)
    return sorted(planned)


def test_readyz_200_holds_for_every_worker_after_a_start_with_mariadb_down(
    chaos: Chaos, mariadb_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The database comes back just before one worker's next attempt, when the other's is
    at least 3 s later (read from the log's "retrying in" lines): from the first /readyz
    200 on, feeds on fresh connections must all be served. (A strict xfail before the
    fix: 8-18 s of 503s; now a waiting worker adopts its sibling's snapshot.)"""
    server, database, _, _ = _start_down(chaos, mariadb_url)
    deadline = time.monotonic() + 90
    while True:
        planned = _planned_attempts(server.proc.log_path, time.time() + 0.2)
        if len(planned) == 2 and planned[1] - planned[0] >= 3.0:
            break
        assert time.monotonic() < deadline, "no usable retry schedule in 90 s"
        time.sleep(0.05)
    database.up()
    wait_for(lambda: _answers_ready(server.port), 60, "/readyz 200", every=0.02)
    first_ready = time.time()
    statuses: list[tuple[float, int | None]] = []
    while time.time() < planned[1] + 1.0:
        statuses.append((time.time(), _feed_status(server.port)))
    unready = [at - first_ready for at, status in statuses if status != 200]
    with capsys.disabled():
        print(
            f"\n[chaos mariadb start, readiness] database back before the workers' next "
            f"attempts, planned {planned[1] - planned[0]:.1f} s apart; after the first "
            f"/readyz 200, {len(unready)} of {len(statuses)} feeds were not served, "
            f"the last {max(unready, default=0.0):.1f} s after it"
        )
    assert not unready, f"{len(unready)} feeds refused after /readyz said 200"


def _answers_ready(port: int) -> bool:
    try:
        return http_call(port, "GET", "/readyz", timeout=2.0)[0] == 200
    except OSError:
        return False


def _ready_body(server: Server, attempts: int = 5) -> dict[str, Any]:
    """/readyz's body once it answers 200. While a snapshot is served the only other answer
    is a 503 "redis": the readiness PING missed its 0.5 s timeout, as on a machine loaded by
    other work (seen once: the body had no ``snapshot_built_at``). That is not what this
    test is about, so it asks again, and says what it got if it never turns 200."""
    status, body = 0, b""
    for _ in range(attempts):
        status, body = server.get("/readyz")
        if status == 200:
            loaded: dict[str, Any] = json.loads(body)
            return loaded
        time.sleep(0.2)
    raise AssertionError(f"/readyz answered {status} {body!r} {attempts} times")


def test_mariadb_down_during_a_reload_and_archiving_under_load(
    chaos: Chaos, mariadb_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    chaos.seed(mariadb_url)
    url = make_url(mariadb_url)
    database = chaos.proxy((url.host or HOST, url.port or 3306))
    proxied = _proxied(mariadb_url, database.port)
    redis_port = chaos.redis()
    redis_url = f"redis://{HOST}:{redis_port}/0"
    server = chaos.server(proxied, redis_url)
    archiver = chaos.archiver(proxied, redis_url, batch_size=100)
    server.wait_ready()
    before = json.loads(server.get("/readyz")[1])
    load = Load(server.port, 5).start()
    reloads: list[tuple[int, bytes]] = []
    try:
        time.sleep(3.0)
        database.down()
        down_at = time.monotonic()
        for route in ("/v1/admin/reload", "/api/search/reload"):
            reloads.append(server.post(route, headers=AUTH))
        time.sleep(6.0)
        during = _ready_body(server)
        database.up()
        up_at = time.monotonic()
        time.sleep(1.0)
        after_reload = server.post("/v1/admin/reload", headers=AUTH)
        time.sleep(4.0)
    finally:
        load.finish()
    accounting = account(load, mariadb_url, redis_port)
    server.monitor.stop()
    archiver.stop()
    metrics = archiver_metrics(archiver)
    served_during = sum(
        1 for a in load.between(down_at, up_at) if a.op != "events" and a.status == 200
    )
    with capsys.disabled():
        print(
            f"\n[chaos mariadb down] reloads while down {[s for s, _ in reloads]}, after "
            f"{after_reload[0]}; {served_during} feeds served while down "
            f"({up_at - down_at:.1f} s); archiver {metrics}\n[chaos mariadb down] "
            f"{load.statuses()}; {accounting.summary()}\n[chaos mariadb down] "
            f"{server.monitor.summary()}"
        )
    for status, body in reloads:
        _generic_503(status, body)
        assert json.loads(body)["error"] == "database_unavailable", body
    assert during["snapshot_built_at"] == before["snapshot_built_at"]  # kept serving it
    assert after_reload[0] == 200, after_reload
    assert json.loads(after_reload[1])["snapshot_built_at"] > before["snapshot_built_at"]
    assert served_during > 20, "feeds stalled while the database was down"
    assert all(a.ok for a in load.attempts), load.statuses()
    assert metrics["errors"] > 0, "the archiver never met the outage"
    assert metrics["dead_lettered"] == metrics["missing"] == 0, metrics
    accounting.assert_exact()
    assert server.monitor.peak_sum < POD_LIMIT_BYTES, server.monitor.summary()
