"""Redis stopped and restarted, and Redis slowed, under load (issue 15).

``pitchrec serve --workers 2`` (its own MariaDB world) and ``pitchrec archive`` both reach a
private redis-server through a TCP proxy; the proxy going down is Redis stopped for every
process (open connections cut, new ones closed at once), its delay is a slow Redis. What
must hold: feeds keep being served (no 5xx), every request answered 2xx has its rows in
``activity_log`` exactly once after the archiver drains, and the server's processes stay
under the pod's 512 MiB.
"""

from __future__ import annotations

import time

import pytest
from chaos_kit import (
    HOST,
    POD_LIMIT_BYTES,
    Chaos,
    Load,
    ProxyProc,
    Server,
    account,
    median,
)

pytestmark = [pytest.mark.chaos, pytest.mark.e2e, pytest.mark.slow]

CLIENTS = 6
DELAY = 0.12  # seconds added to every Redis round trip (the figure)
#: The issue's target: feeds/s with Redis 120 ms away >= 90 % of feeds/s through the
#: same proxy without the delay (medians of per-second counts over alternating windows).
#: Measured 2.3x on 2026-11-30: once the latency breaker is open the feed thread makes
#: no round trip at all, where without the delay it makes two per feed through the proxy.
THROUGHPUT_TARGET = 0.9


def _stack(
    chaos: Chaos, mariadb_url: str, env: dict[str, str] | None = None
) -> tuple[Server, int, ProxyProc]:
    chaos.seed(mariadb_url)
    redis_port = chaos.redis()
    proxy = chaos.proxy((HOST, redis_port))
    redis_url = f"redis://{HOST}:{proxy.port}/0"
    server = chaos.server(mariadb_url, redis_url, env=env)
    chaos.archiver(mariadb_url, redis_url)
    server.wait_ready()
    return server, redis_port, proxy


def test_redis_stopped_and_restarted_under_load(
    chaos: Chaos, mariadb_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    server, redis_port, proxy = _stack(chaos, mariadb_url)
    # Fewer clients and a shorter outage than a full spool: about 1,500 feeds' tracking
    # spooled, a quarter of each worker's 64 MiB (what overflows it is the xfail below).
    load = Load(server.port, 4).start()
    try:
        time.sleep(4.0)
        down_at = time.monotonic()
        proxy.down()
        time.sleep(5.0)
        up_at = time.monotonic()
        proxy.up()
        time.sleep(6.0)
    finally:
        load.finish()
    accounting = account(load, mariadb_url, redis_port)
    server.monitor.stop()
    during = load.between(down_at + 0.5, up_at)
    served_during = sum(1 for a in during if a.op != "events" and a.status == 200)
    accepted_during = sum(1 for a in during if a.op == "events" and a.ok)
    with capsys.disabled():
        print(
            f"\n[chaos redis down] {len(load.attempts)} requests {load.statuses()}; "
            f"{served_during} feeds and {accepted_during} event posts answered while Redis "
            f"was down ({up_at - down_at:.1f} s)\n[chaos redis down] {accounting.summary()}"
            f"\n[chaos redis down] {server.monitor.summary()}"
        )
    assert server.proc.alive(), chaos.logs()
    assert all(a.status is not None and a.status < 500 for a in load.attempts), load.statuses()
    assert all(a.ok for a in load.attempts), load.statuses()
    assert server.spool_drops() == 0, "the outage outlasted the spool: shorten it"
    assert served_during > 20, "feeds stalled while Redis was down"
    assert accepted_during > 10, "events were not accepted while Redis was down"
    accounting.assert_exact()
    assert server.monitor.peak_sum < POD_LIMIT_BYTES, server.monitor.summary()


def test_redis_120ms_slower_keeps_the_feed_throughput(
    chaos: Chaos, mariadb_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    server, redis_port, proxy = _stack(chaos, mariadb_url)
    load = Load(server.port, CLIENTS).start()
    windows: list[tuple[str, float, float]] = []
    try:
        time.sleep(3.0)  # warm-up
        # Alternate normal and slow windows, so that a noisy neighbour's minute does not
        # land on one side only; each slow window starts with the breaker opening.
        for _ in range(2):
            for label, delay in (("normal", 0.0), ("slow", DELAY)):
                proxy.delay(delay)
                time.sleep(1.5)  # the breaker opens (slow) or closes and the spool drains
                start = time.monotonic()
                time.sleep(6.0)
                windows.append((label, start, time.monotonic()))
        proxy.delay(0.0)
        time.sleep(3.0)
    finally:
        load.finish()
    accounting = account(load, mariadb_url, redis_port)
    server.monitor.stop()
    rates: dict[str, list[int]] = {"normal": [], "slow": []}
    for label, start, end in windows:
        rates[label] += load.feeds_per_second(start, end)
    normal, slow = median(rates["normal"]), median(rates["slow"])
    ratio = slow / normal if normal else 0.0
    with capsys.disabled():
        print(
            f"\n[chaos redis slow] feeds/s median {normal:.0f} normal, {slow:.0f} with "
            f"{DELAY * 1000:.0f} ms added: ratio {ratio:.2f} (target "
            f"{THROUGHPUT_TARGET}); per second {rates}\n[chaos redis slow] "
            f"{load.statuses()}\n[chaos redis slow] {accounting.summary()}\n"
            f"[chaos redis slow] {server.monitor.summary()}"
        )
    assert all(a.ok for a in load.attempts), load.statuses()
    assert ratio >= THROUGHPUT_TARGET, f"ratio {ratio:.2f}: {rates}"
    accounting.assert_exact()
    assert server.monitor.peak_sum < POD_LIMIT_BYTES, server.monitor.summary()


def test_accepted_events_survive_an_outage_longer_than_the_spool(
    chaos: Chaos, mariadb_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The spool is made small (1 MiB, the least allowed: about 25 feeds' tracking) so
    that a few seconds of outage overflow it, as 64 MiB overflows in about 10-20 s at full
    load (bench/redis_outage.py). Every 202 promises the events are kept; once the spool
    holds its budget of events, POSTs are refused (503, Retry-After) instead (a strict
    xfail before the fix: 2,000-3,500 accepted events lost per run)."""
    server, redis_port, proxy = _stack(
        chaos, mariadb_url, {"PITCHREC_SPOOL_MAX_BYTES": str(1 << 20)}
    )
    load = Load(server.port, CLIENTS).start()
    try:
        time.sleep(2.0)
        proxy.down()
        time.sleep(5.0)
        proxy.up()
        time.sleep(3.0)
    finally:
        load.finish()
    accounting = account(load, mariadb_url, redis_port, timeout=10.0)
    events = [a for a in load.attempts if a.op == "events" and a.ok]
    accepted = {i for a in events for i in a.ids}
    lost = sorted(accepted.intersection(accounting.missing))
    refused = [a for a in load.attempts if a.op == "events" and a.status == 503]
    with capsys.disabled():
        print(
            f"\n[chaos spool overflow] {len(accepted)} events accepted (202), "
            f"{len(refused)} posts refused (503), {len(lost)} lost; {accounting.summary()}"
        )
    assert all(a.ok or a in refused for a in load.attempts), load.statuses()
    assert not lost, f"{len(lost)} of {len(accepted)} accepted events lost: {lost[:5]}"
