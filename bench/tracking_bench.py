"""Tracking benchmarks (issue: tracking and online learning).

1. Feed latency with tracking to a real Redis versus without, in process, one request at
   a time (the writer thread runs beside it, as in the server).
2. Event ingestion: POST /v1/events batches of 100 events to a real server process with
   Redis, from 4 client threads; events/s accepted, then time until all reached the stream.

    .venv/bin/python bench/tracking_bench.py --snapshot DIR --redis-url redis://127.0.0.1:6379/14

It flushes the Redis database it is given: use a spare one.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import json  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import httpx  # noqa: E402
import numpy as np  # noqa: E402
import redis  # noqa: E402

from pitchrec.domain.feed import FeedKind, FeedRequest  # noqa: E402
from pitchrec.index.snapshot import load as load_snapshot  # noqa: E402
from pitchrec.service import Recommender, RequestInfo, ServiceConfig, build_service  # noqa: E402
from pitchrec.tracking.redis_store import RedisStore  # noqa: E402
from pitchrec.tracking.store import STREAM_KEY  # noqa: E402


def percentiles(samples: list[float]) -> dict[str, float]:
    values = np.asarray(samples)
    return {f"p{p}_ms": round(float(np.percentile(values, p)), 3) for p in (50, 90, 99)}


def feed_latency(snapshot: Path, redis_url: str, requests: int) -> dict[str, object]:
    recommender = Recommender(load_snapshot(snapshot))
    service = build_service(
        ServiceConfig(), RedisStore.from_url(redis_url), snapshot=recommender.snapshot
    )
    tracked = service.recommender
    assert tracked is not None
    users = np.asarray(recommender.snapshot.users.history_users)[:700].tolist() + [None] * 300
    service.start()
    result: dict[str, object] = {}
    try:
        for label, serve in (
            ("tracking_off", lambda r, i: recommender.feed(r)),
            ("tracking_on", lambda r, i: tracked.serve(r, RequestInfo(f"b{i}", "total", 0))),
        ):
            for i, user in enumerate(users[:100]):
                serve(FeedRequest(kind=FeedKind.TOTAL, user_id=user), i)
            samples = []
            for i in range(requests):
                request = FeedRequest(kind=FeedKind.TOTAL, user_id=users[i % len(users)], seed=i)
                started = time.perf_counter_ns()
                serve(request, i)
                samples.append((time.perf_counter_ns() - started) / 1e6)
            result[label] = percentiles(samples)
    finally:
        service.stop()
    result["round_trips"] = service.tracker.stats.round_trips
    result["feeds_tracked"] = service.tracker.stats.feeds
    return result


def wait_ready(base: str, timeout: float = 30.0) -> None:
    """Return once ``base``/readyz answers 200; TimeoutError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    with httpx.Client(base_url=base, timeout=10) as client:
        while True:
            try:
                if client.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("server not ready")
            time.sleep(0.1)


def ingest(snapshot: Path, redis_url: str, seconds: float, port: int) -> dict[str, object]:
    pitchrec = Path(sys.executable).parent / "pitchrec"
    command = [str(pitchrec), "serve", "--snapshot", str(snapshot), "--redis-url", redis_url]
    server = subprocess.Popen(
        [*command, "--port", str(port), "--workers", "1"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    accepted = 0
    lock = threading.Lock()
    try:
        wait_ready(base)

        def post(worker: int, stop_at: float) -> None:
            nonlocal accepted
            with httpx.Client(base_url=base, timeout=10) as client:
                batch = 0
                while time.monotonic() < stop_at:
                    batch += 1
                    events = [
                        {
                            "event_id": f"w{worker}-{batch}-{i}",
                            "type": "view",
                            "user_id": i,
                            "item_id": i,
                            "item_type": "resume",
                            "value": 0.5,
                        }
                        for i in range(100)
                    ]
                    response = client.post("/v1/events", json={"events": events})
                    if response.status_code == 202:
                        with lock:
                            accepted += response.json()["accepted"]

        started = time.monotonic()
        threads = [threading.Thread(target=post, args=(w, started + seconds)) for w in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.monotonic() - started
        store = redis.Redis.from_url(redis_url)
        while store.xlen(STREAM_KEY) < accepted and time.monotonic() - started < elapsed + 60:
            time.sleep(0.05)
        drained = time.monotonic() - started
        in_stream = store.xlen(STREAM_KEY)
        store.close()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    return {
        "events_accepted": accepted,
        "accepted_per_s": round(accepted / elapsed),
        "in_stream": in_stream,
        "all_in_stream_after_s": round(drained, 2),
        "stream_per_s": round(in_stream / drained),
    }


def main() -> None:
    sys.setswitchinterval(float(os.environ.get("SWITCH", "0.005")))
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--snapshot", type=Path, required=True)
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()
    redis.Redis.from_url(args.redis_url).flushdb()
    result = {"feed_latency": feed_latency(args.snapshot, args.redis_url, args.requests)}
    redis.Redis.from_url(args.redis_url).flushdb()
    result["ingest"] = ingest(args.snapshot, args.redis_url, args.seconds, args.port)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
