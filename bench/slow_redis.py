"""Feed throughput with a slow Redis (issue 15, item 5): ``pitchrec serve`` (one worker)
tracks to Redis through a TCP proxy that delays every reply from Redis by ``--delay-ms``,
and ``--clients`` closed-loop clients ask for v1 feeds (warm users, a session each) for
``--duration`` seconds, each posting a like for the feed it got every tenth request.

First, in process, the request path's round trips to the healthy Redis under the same
load (their distribution is what the latency breaker's threshold must stay clear of).
Then three runs of the server on the same machine: Redis direct, through the proxy
without delay, and through the proxy with the delay. After each run the delay is removed
and the bench waits for the worker's spool to drain, then checks that every served feed's
archive rows (the request row and one per item, keyed by the server-made request id) and
every accepted feedback event are in the event stream: nothing accepted is lost.

    .venv/bin/python bench/slow_redis.py --snapshot DIR [--redis-url redis://127.0.0.1:6379/11]

The proxy runs in a process of its own, so its forwarding does not take the GIL of the
clients. It FLUSHES the Redis database it is given (default 11): use a spare one. Prints
one JSON object.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import multiprocessing
import os
import platform
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import numpy as np
import redis


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


# -- the delaying proxy ------------------------------------------------------------------


async def _pump(
    src: asyncio.StreamReader, dst: asyncio.StreamWriter, delay: Synchronized[float] | None
) -> None:
    """Copy ``src`` to ``dst``; with ``delay``, each chunk ``delay.value`` seconds after it
    arrived (chunks keep their order and are not delayed one after the other: added
    latency, not a bandwidth cap)."""
    loop = asyncio.get_running_loop()
    chunks: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def deliver() -> None:
        while True:
            due, data = await chunks.get()
            if not data:
                break
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            dst.write(data)
            await dst.drain()
        dst.close()

    sender = asyncio.create_task(deliver())
    try:
        while data := await src.read(1 << 16):
            await chunks.put((loop.time() + (delay.value if delay else 0.0), data))
    except (ConnectionError, OSError):
        pass
    await chunks.put((0.0, b""))
    await sender


def _proxy_main(listen: int, upstream: tuple[str, int], delay: Synchronized[float]) -> None:
    """Forward ``listen`` to ``upstream``, every reply from Redis delayed by ``delay``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(*upstream)
        except OSError:
            writer.close()
            return
        try:
            await asyncio.gather(_pump(reader, up_writer, None), _pump(up_reader, writer, delay))
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()
            up_writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", listen)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


class Proxy:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self.port = free_port()
        self._delay: Synchronized[float] = multiprocessing.Value("d", 0.0)
        self._process = multiprocessing.Process(
            target=_proxy_main, args=(self.port, upstream, self._delay), daemon=True
        )
        self._process.start()
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def set_delay(self, seconds: float) -> None:
        self._delay.value = seconds

    def close(self) -> None:
        self._process.terminate()
        self._process.join(5)


# -- the server --------------------------------------------------------------------------


def start_server(snapshot: Path, redis_url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    pitchrec = Path(sys.executable).parent / "pitchrec"
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    env["PITCHREC_REFRESH_SECONDS"] = "0"
    env.pop("PITCHREC_DATABASE_URL", None)
    command = [str(pitchrec), "serve", "--snapshot", str(snapshot), "--port", str(port)]
    command += ["--redis-url", redis_url, "--workers", "1"]
    with log.open("ab") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            status, _ = request(port, "GET", "/readyz")
            if status == 200:
                return process
        except OSError:
            pass
        time.sleep(0.05)
    process.kill()
    raise TimeoutError("server not ready")


def stop_server(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def request(
    port: int, method: str, path: str, body: Any = None, conn: Any = None
) -> tuple[int, bytes]:
    connection = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    payload = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if payload is not None else {}
    connection.request(method, path, body=payload, headers=headers)
    response = connection.getresponse()
    data = response.read()
    if conn is None:
        connection.close()
    return response.status, data


def metrics(port: int) -> dict[str, float]:
    _, text = request(port, "GET", "/metrics")
    values: dict[str, float] = {}
    for line in text.decode().splitlines():
        match = re.match(r"^(pitchrec_tracking_\w+) (\S+)$", line)
        if match:
            values[match.group(1).removeprefix("pitchrec_tracking_")] = float(match.group(2))
    return values


# -- the load ----------------------------------------------------------------------------


def load(port: int, users: list[int], clients: int, duration: float) -> dict[str, Any]:
    """``clients`` closed-loop clients for ``duration`` s: feeds, and a like every 10th."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    done: list[list[float]] = [[] for _ in range(clients)]  # when each feed arrived
    served: list[list[tuple[str, int]]] = [[] for _ in range(clients)]
    liked: list[list[str]] = [[] for _ in range(clients)]
    errors = [0] * clients
    stop = threading.Event()
    tag = uuid.uuid4().hex[:8]  # event ids of their own: the warm-up's likes are not retried

    def client(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        rng = np.random.default_rng(k)
        n = 0
        while not stop.is_set():
            user = int(users[int(rng.integers(len(users)))])
            query = urllib.parse.urlencode(
                {"user_id": user, "session_id": f"bench-{k}-{n // 5}", "size": 24}
            )
            started = time.perf_counter()
            status, body = request(port, "GET", f"/v1/feed/total?{query}", conn=conn)
            elapsed = time.perf_counter() - started
            if status != 200:
                errors[k] += 1
                continue
            latencies[k].append(elapsed)
            done[k].append(time.perf_counter())
            feed = json.loads(body)
            served[k].append((feed["request_id"], len(feed["items"])))
            n += 1
            if n % 10 == 0 and feed["items"]:
                item = feed["items"][0]
                event_id = f"bench-{tag}-{k}-{n}"
                event = {
                    "event_id": event_id,
                    "type": "like",
                    "user_id": user,
                    "item_id": item["id"],
                    "item_type": item["type"],
                    "request_id": feed["request_id"],
                    "position": item["position"],
                }
                status, _ = request(port, "POST", "/v1/events", {"events": [event]}, conn=conn)
                if status == 202:
                    liked[k].append(f"v1:{user}:{event_id}")
                else:
                    errors[k] += 1

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    time.sleep(duration)
    stop.set()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - started
    # After the first second: a slow Redis is gone around once the latency breaker has
    # seen 5 slow round trips (about 2.5 feeds), a stall of about 0.6 s at the start.
    after_first = sum(1 for per in done for t in per if t - started >= 1.0)
    samples = np.asarray([x for per in latencies for x in per]) * 1000
    feeds = int(samples.size)
    return {
        "feeds": feeds,
        "feeds_per_s": round(feeds / wall, 1),
        "feeds_per_s_after_first_s": round(after_first / (wall - 1.0), 1),
        "p50_ms": round(float(np.percentile(samples, 50)), 2) if feeds else None,
        "p90_ms": round(float(np.percentile(samples, 90)), 2) if feeds else None,
        "p99_ms": round(float(np.percentile(samples, 99)), 2) if feeds else None,
        "errors": sum(errors),
        "_served": [x for per in served for x in per],
        "_liked": [x for per in liked for x in per],
    }


def check_stream(
    client: redis.Redis, served: list[tuple[str, int]], liked: list[str]
) -> dict[str, int]:
    """Every served feed's rows (request row + one per item) and every accepted like, in
    the stream; duplicates counted too."""
    seen: dict[str, int] = {}
    last = "-"
    while True:
        entries: Any = client.xrange("pitchrec:events", min=last, count=10_000)
        if last != "-":
            entries = entries[1:]
        if not entries:
            break
        for _, fields in entries:
            event_id = fields["event_id"]
            seen[event_id] = seen.get(event_id, 0) + 1
        last = entries[-1][0]
    expected = [f"{rid}:{position}" for rid, items in served for position in range(items + 1)]
    expected += liked
    missing = sum(1 for event_id in expected if event_id not in seen)
    return {
        "rows_expected": len(expected),
        "rows_missing": missing,
        "rows_duplicated": sum(count - 1 for count in seen.values() if count > 1),
    }


def run(
    label: str,
    args: argparse.Namespace,
    redis_url: str,
    proxy: Proxy | None,
    delay: float,
    users: list[int],
    log: Path,
) -> dict[str, Any]:
    client = redis.Redis.from_url(args.redis_url, decode_responses=True)
    client.flushdb()
    port = free_port()
    if proxy is not None:
        proxy.set_delay(0.0)
    server = start_server(args.snapshot, redis_url, port, log)
    try:
        load(port, users, args.clients, 2.0)  # warm-up (imports, caches), not measured
        if proxy is not None:
            proxy.set_delay(delay)
        result = load(port, users, args.clients, args.duration)
        during = metrics(port)
        if proxy is not None:
            proxy.set_delay(0.0)
        drained_at = time.perf_counter()
        while time.perf_counter() - drained_at < 120:
            if metrics(port).get("spooled", 0.0) == 0.0:
                break
            time.sleep(0.2)
        drain_s = time.perf_counter() - drained_at
        after = metrics(port)
    finally:
        stop_server(server)
    result.update(check_stream(client, result.pop("_served"), result.pop("_liked")))
    client.flushdb()
    keep = ["spooled", "spool_dropped", "write_errors", "deferred", "replayed"]
    keep += ["state_skipped", "redis_slow_opened"]
    result["tracking_at_end_of_load"] = {k: during[k] for k in keep if k in during}
    result["tracking_after_drain"] = {k: after[k] for k in keep if k in after}
    result["drain_s"] = round(drain_s, 2)
    return {"run": label, "delay_ms": round(delay * 1000), **result}


def _timed(call: Any, samples: list[float]) -> Any:
    """``call``, appending the seconds each call took to ``samples``."""

    def timed(*args: Any) -> Any:
        started = time.perf_counter()
        try:
            return call(*args)
        finally:
            samples.append(time.perf_counter() - started)

    return timed


def _distribution(samples: list[float]) -> dict[str, float]:
    values = np.asarray(samples) * 1000
    result = {f"p{p}_ms": round(float(np.percentile(values, p)), 2) for p in (50, 90, 99, 99.9)}
    return {**result, "max_ms": round(float(values.max()), 2), "count": float(values.size)}


def round_trips(
    snapshot: Path, redis_url: str, users: list[int], clients: int, duration: float
) -> dict[str, Any]:
    """The request path's round trips to a healthy Redis under load, in process (the
    server cannot report them): ``clients`` closed-loop clients, the feeds computed on one
    thread as the server's feed limiter does, the feedback thread running. What the
    latency breaker's threshold (pitchrec.tracking.tracker.SLOW_ROUND_TRIP_SECONDS) must
    stay clear of."""
    from concurrent.futures import ThreadPoolExecutor

    from pitchrec.domain.feed import FeedKind, FeedRequest
    from pitchrec.index.snapshot import load as load_snapshot
    from pitchrec.service import RequestInfo, ServiceConfig, build_service
    from pitchrec.tracking.redis_store import RedisStore

    redis.Redis.from_url(redis_url).flushdb()
    store = RedisStore.from_url(redis_url)
    reads: list[float] = []
    writes: list[float] = []
    store.read_request_state = _timed(store.read_request_state, reads)  # type: ignore[method-assign]
    store.write_feed = _timed(store.write_feed, writes)  # type: ignore[method-assign]
    service = build_service(ServiceConfig(), store, snapshot=load_snapshot(snapshot))
    recommender = service.recommender
    assert recommender is not None
    service.start()
    feed_thread = ThreadPoolExecutor(1)
    stop = threading.Event()

    def client(k: int) -> None:
        rng = np.random.default_rng(k)
        n = 0
        while not stop.is_set():
            user = int(users[int(rng.integers(len(users)))])
            n += 1
            request = FeedRequest(kind=FeedKind.TOTAL, user_id=user, size=24)
            info = RequestInfo(f"rt-{k}-{n}", "v1/total", user, {"size": 24}, f"s-{k}-{n // 5}")
            feed_thread.submit(recommender.serve, request, info).result()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(duration)
    stop.set()
    for thread in threads:
        thread.join()
    feed_thread.shutdown()
    service.stop()
    redis.Redis.from_url(redis_url).flushdb()
    return {
        "feeds_per_s": round(len(writes) / duration, 1),
        "request_state_read": _distribution(reads),
        "feed_write": _distribution(writes),
        "latency_breaker_opened": service.tracker.latency.opened,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--snapshot", type=Path, required=True)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/11")
    parser.add_argument("--delay-ms", type=float, default=120.0)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--warm-users", type=int, default=700)
    args = parser.parse_args()

    from pitchrec.index import snapshot as snapshot_files

    history = snapshot_files.load(args.snapshot).users.history_users
    users = np.asarray(history)[: args.warm_users].tolist()
    parsed = urllib.parse.urlparse(args.redis_url)
    upstream = (parsed.hostname or "127.0.0.1", parsed.port or 6379)
    proxy = Proxy(upstream)
    proxied = f"redis://127.0.0.1:{proxy.port}{parsed.path or '/0'}"
    delay = args.delay_ms / 1000
    healthy = round_trips(args.snapshot, args.redis_url, users, args.clients, args.duration)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "server.log"
        try:
            runs.append(run("direct", args, args.redis_url, None, 0.0, users, log))
            runs.append(run("proxy, no delay", args, proxied, proxy, 0.0, users, log))
            runs.append(
                run(f"proxy, +{args.delay_ms:g} ms", args, proxied, proxy, delay, users, log)
            )
        finally:
            proxy.close()
    base = runs[1]["feeds_per_s"]
    print(
        json.dumps(
            {
                "machine": f"{platform.machine()} {os.cpu_count()} cpu, "
                f"{platform.python_version()}",
                "clients": args.clients,
                "duration_s": args.duration,
                "in_process_round_trips_healthy_redis": healthy,
                "runs": runs,
                "slow_vs_proxy_no_delay": round(runs[2]["feeds_per_s"] / base, 3) if base else None,
                "slow_vs_proxy_no_delay_after_first_s": round(
                    runs[2]["feeds_per_s_after_first_s"] / runs[1]["feeds_per_s_after_first_s"], 3
                ),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
