"""A slow Redis does not stall serving, on the real Redis behind a delaying TCP proxy
(issue 15, item 5: with 120 ms added per round trip, 8 clients got 2.8 feeds/s at p50
2.7 s and no error).

* Service objects as the server wires them (one feed thread, 8 clients, the feedback
  thread running): with 120 ms added the feed p50 stays within 5x the p50 without it,
  and the throughput within half (the bench measures the 90 % target on the quiet
  machine: bench/slow_redis.py). Every accepted event (each feed's request row and one
  row per item, keyed by the server-made request id, and each posted like) is in the
  event stream once the delay is removed, exactly once.
* The HTTP app: sequential feeds stay fast with the delay, and /metrics counts the
  deferred writes.

Redis database 11 is flushed before and after (the other tests use 14 and 15).
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import redis

from factories import NOW, random_snapshot
from pitchrec.domain.events import FeedbackEvent
from pitchrec.domain.feed import FeedKind, FeedRequest
from pitchrec.legacy.events import stable_event_id
from pitchrec.service import RequestInfo, Service, ServiceConfig, build_service
from pitchrec.settings import Settings
from pitchrec.tracking.redis_store import RedisStore
from pitchrec.tracking.store import STREAM_KEY
from served_app import served

pytestmark = pytest.mark.integration

REDIS_HOST = os.environ.get("PITCHREC_TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("PITCHREC_TEST_REDIS_PORT", "6379"))
DB = 11
DELAY = 0.12  # seconds added per round trip, as in the issue
CLIENTS = 8


class DelayProxy:
    """Forwards 127.0.0.1:``port`` to Redis; every chunk Redis sends back is delivered
    ``delay`` seconds after it arrived. Chunks keep their order and are not delayed one
    after another: added latency, not a bandwidth cap."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.delay = 0.0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, server]
            for sock in (client, server):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=self._forward, args=(client, server), daemon=True).start()
            threading.Thread(target=self._delayed, args=(server, client), daemon=True).start()

    @staticmethod
    def _forward(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(1 << 16):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)

    def _delayed(self, src: socket.socket, dst: socket.socket) -> None:
        chunks: queue.Queue[tuple[float, bytes]] = queue.Queue()

        def deliver() -> None:
            with contextlib.suppress(OSError):
                while True:
                    due, data = chunks.get()
                    if not data:
                        break
                    wait = due - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                    dst.sendall(data)
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

        sender = threading.Thread(target=deliver, daemon=True)
        sender.start()
        data = b"x"
        while data:
            try:
                data = src.recv(1 << 16)
            except OSError:
                data = b""
            chunks.put((time.monotonic() + self.delay, data))
        sender.join()

    def close(self) -> None:
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()


def _reachable() -> bool:
    try:
        with socket.create_connection((REDIS_HOST, REDIS_PORT), timeout=1.0):
            return True
    except OSError:
        return False


@pytest.fixture
def proxy() -> Iterator[DelayProxy]:
    if not _reachable():
        message = f"Redis not reachable on {REDIS_HOST}:{REDIS_PORT}"
        if os.environ.get("PITCHREC_REQUIRE_SERVERS") == "1":
            pytest.fail(message + " (PITCHREC_REQUIRE_SERVERS=1)")
        pytest.skip(message)
    direct = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=DB, decode_responses=True)
    direct.flushdb()
    delaying = DelayProxy((REDIS_HOST, REDIS_PORT))
    try:
        yield delaying
    finally:
        delaying.close()
        direct.flushdb()
        direct.close()


def _url(proxy: DelayProxy) -> str:
    return f"redis://127.0.0.1:{proxy.port}/{DB}"


def _load(
    service: Service, feed_thread: ThreadPoolExecutor, seconds: float, tag: str
) -> tuple[list[float], list[str]]:
    """``CLIENTS`` closed-loop clients for ``seconds``, their feeds computed on one
    thread (the server's feed limiter), each posting a like every fourth feed from its
    own thread (as POST /v1/events does). Returns the feed latencies and the archive
    ids of everything accepted."""
    recommender = service.recommender
    assert recommender is not None
    latencies: list[float] = []
    accepted: list[str] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(k: int) -> None:
        n = 0
        while time.monotonic() < deadline:
            n += 1
            user = 1 + (k * 7 + n) % 30
            request_id = f"{tag}-{k}-{n}"
            request = FeedRequest(kind=FeedKind.TOTAL, user_id=user, seed=n, now=NOW)
            info = RequestInfo(request_id, "v1/total", user, {"size": 24}, f"s-{k}-{n // 5}")
            started = time.perf_counter()
            feed = feed_thread.submit(recommender.serve, request, info).result()
            elapsed = time.perf_counter() - started
            ids = [stable_event_id(request_id, p) for p in range(len(feed.items) + 1)]
            if n % 4 == 0 and feed.items:
                item = feed.items[0]
                event = FeedbackEvent(
                    event_id=f"{request_id}-like",
                    type="like",
                    user_id=user,
                    item_id=item.item_id,
                    item_type=item.kind.value,
                    request_id=request_id,
                    position=item.position,
                    timestamp="2025-10-09T12:00:00",
                )
                service.record_events([event])
                ids.append(stable_event_id("v1", user, event.event_id))
            with lock:
                latencies.append(elapsed)
                accepted.extend(ids)

    threads = [threading.Thread(target=client, args=(k,)) for k in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, accepted


def _stream_ids(client: redis.Redis) -> list[str]:
    entries: Any = client.xrange(STREAM_KEY)
    return [fields["event_id"] for _, fields in entries]


def test_feeds_keep_their_pace_with_redis_120ms_away_and_nothing_is_lost(
    proxy: DelayProxy,
) -> None:
    snapshot = random_snapshot(2, n_resumes=300, n_challenges=10, n_creators=200)
    service = build_service(ServiceConfig(), RedisStore.from_url(_url(proxy)), snapshot=snapshot)
    service.start()
    feed_thread = ThreadPoolExecutor(1)  # FEED_THREADS
    try:
        _load(service, feed_thread, 1.0, "warm")
        fast, accepted = _load(service, feed_thread, 3.0, "fast")
        proxy.delay = DELAY
        slow, accepted_slow = _load(service, feed_thread, 4.0, "slow")
        accepted += accepted_slow
        during = service.counters()
        proxy.delay = 0.0
        deadline = time.monotonic() + 60
        while service.tracker.pending and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        feed_thread.shutdown()
        service.stop()

    base, slowed = statistics.median(fast), statistics.median(slow)
    rates = (len(fast) / 3.0, len(slow) / 4.0)
    summary = (
        f"p50 {slowed * 1000:.0f} ms with {DELAY * 1000:.0f} ms added, {base * 1000:.0f} ms"
        f" without; {rates[1]:.1f} feeds/s against {rates[0]:.1f}; counters {during}"
    )
    print(summary)  # shown with -s
    assert slowed < 5 * base, summary
    assert rates[1] > 0.5 * rates[0], summary
    assert during["deferred"] > 0 and during["redis_slow"] == 1.0, summary

    client = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=DB, decode_responses=True)
    with contextlib.closing(client):
        archived = _stream_ids(client)
    missing = set(accepted) - set(archived)
    assert not missing, f"{len(missing)} of {len(accepted)} accepted events never reached Redis"
    assert len(archived) == len(set(archived)), "an event was written twice"
    assert service.tracker.spool.dropped == 0


def test_http_feeds_stay_fast_with_redis_120ms_away(proxy: DelayProxy, tmp_path: Path) -> None:
    settings = Settings(redis_url=_url(proxy), refresh_seconds=0, ready_requires_redis=False)
    with served(tmp_path, settings) as client:

        def p50(tag: str, n: int) -> float:
            times = []
            for i in range(n):
                started = time.perf_counter()
                response = client.get(f"/v1/feed/total?user_id={1 + i % 30}&session_id={tag}")
                times.append(time.perf_counter() - started)
                assert response.status_code == 200
            return statistics.median(times)

        p50("warm", 10)
        base = p50("fast", 30)
        proxy.delay = DELAY
        slowed = p50("slow", 30)
        text = client.get("/metrics").text
    assert slowed < 5 * base, (
        f"p50 {slowed * 1000:.0f} ms with the delay, {base * 1000:.0f} without"
    )
    deferred = re.search(r"^pitchrec_tracking_deferred (\S+)$", text, re.M)
    assert deferred is not None and float(deferred.group(1)) > 0, text[-2000:]
