"""SIGKILL mid-load (issue 15): a serving worker of ``pitchrec serve --workers 2``, then
the ``pitchrec archive`` process, killed while clients feed and post events.

Tracking is written to Redis before a response leaves, so a killed worker has written
everything it answered; the requests it had in hand fail (the client sees the connection
drop) and uvicorn starts a new worker. The archiver's entries read but not acknowledged
are read again by a restart under the same consumer name, or claimed by a new consumer
after ``--claim-idle-ms``. Either way every request answered 2xx has its rows in
``activity_log`` exactly once after the drain.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
from chaos_kit import (
    HOST,
    POD_LIMIT_BYTES,
    Chaos,
    Load,
    account,
    archiver_metrics,
    wait_for,
)

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.slow]


def test_a_worker_sigkilled_mid_load_loses_no_accepted_event(
    chaos: Chaos, mariadb_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    chaos.seed(mariadb_url)
    redis_port = chaos.redis()
    redis_url = f"redis://{HOST}:{redis_port}/0"
    server = chaos.server(mariadb_url, redis_url)
    chaos.archiver(mariadb_url, redis_url)
    server.wait_ready()
    wait_for(lambda: len(server.monitor.workers()) == 2, 30, "two workers")
    before = server.monitor.workers()
    load = Load(server.port, 6).start()
    try:
        time.sleep(3.0)
        victim = server.monitor.busiest_worker()  # one with requests in hand
        killed_at = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        replaced = wait_for(
            lambda: (
                len(set(server.monitor.workers()) - set(before)) == 1
                and len(server.monitor.workers()) == 2
            ),
            60,
            "uvicorn to start a new worker",
        )
        time.sleep(4.0)
    finally:
        load.finish()
    accounting = account(load, mariadb_url, redis_port)
    server.monitor.stop()
    failed = [a for a in load.attempts if not a.ok]
    with capsys.disabled():
        print(
            f"\n[chaos kill worker] worker {victim} SIGKILLed; replaced in {replaced:.1f} s;"
            f" {len(failed)} requests failed {load.statuses()}\n[chaos kill worker] "
            f"{accounting.summary()}\n[chaos kill worker] {server.monitor.summary()}"
        )
    assert server.proc.alive(), chaos.logs()
    # Only requests in hand at the kill (or sent on a connection the kill cut) fail, and
    # only as a lost connection, never as an error answer.
    assert all(a.status is None for a in failed), load.statuses()
    assert all(a.done_at >= killed_at for a in failed)
    assert len(failed) <= 2 * len(load.threads), load.statuses()
    accounting.assert_exact()
    assert server.monitor.peak_sum < POD_LIMIT_BYTES, server.monitor.summary()


def test_the_archiver_sigkilled_mid_load_loses_and_duplicates_nothing(
    chaos: Chaos, mariadb_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    chaos.seed(mariadb_url)
    redis_port = chaos.redis()
    redis_url = f"redis://{HOST}:{redis_port}/0"
    server = chaos.server(mariadb_url, redis_url)
    # Small batches, so that a kill lands mid-batch; a short claim time for the new name.
    first = chaos.archiver(mariadb_url, redis_url, "arch-a", batch_size=50, claim_idle_ms=1000)
    server.wait_ready()
    load = Load(server.port, 6).start()
    try:
        time.sleep(3.0)
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(10)
        time.sleep(1.0)  # the stream grows meanwhile
        # The same name again (its own pending entries), then killed too ...
        again = chaos.archiver(mariadb_url, redis_url, "arch-a", batch_size=50)
        time.sleep(2.5)
        again.process.send_signal(signal.SIGKILL)
        again.process.wait(10)
        time.sleep(1.0)
        # ... and a new name, which claims what "arch-a" left pending.
        last = chaos.archiver(mariadb_url, redis_url, "arch-b", batch_size=50, claim_idle_ms=1000)
        time.sleep(3.0)
    finally:
        load.finish()
    accounting = account(load, mariadb_url, redis_port)
    server.monitor.stop()
    last.stop()
    metrics = archiver_metrics(last)
    with capsys.disabled():
        print(
            f"\n[chaos kill archiver] two SIGKILLs; last archiver {metrics}\n"
            f"[chaos kill archiver] {load.statuses()}; {accounting.summary()}\n"
            f"[chaos kill archiver] {server.monitor.summary()}"
        )
    assert all(a.ok for a in load.attempts), load.statuses()
    assert metrics["dead_lettered"] == metrics["missing"] == 0, metrics
    accounting.assert_exact()
    assert server.monitor.peak_sum < POD_LIMIT_BYTES, server.monitor.summary()
