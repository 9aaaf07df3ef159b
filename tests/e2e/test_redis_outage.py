"""Redis stopped and restarted under load: feeds keep being served (no 5xx), and every
tracked event reaches the stream once Redis is back (the spool replays it).

A Redis of its own is started on a free port with an append-only file, so a restart keeps
what was written before the stop; the machine's shared Redis is not touched.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis

from pitchrec.tracking.store import STREAM_KEY

pytestmark = pytest.mark.e2e

PITCHREC = Path(sys.executable).parent / "pitchrec"
HOST = "127.0.0.1"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _start_redis(port: int, directory: Path) -> subprocess.Popen[bytes]:
    command = [
        "redis-server",
        "--port",
        str(port),
        "--bind",
        HOST,
        "--dir",
        str(directory),
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
        "--save",
        "",
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:
        try:
            with redis.Redis(host=HOST, port=port) as client:
                client.ping()
            return process
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                process.kill()
                raise
            time.sleep(0.05)


@pytest.fixture
def world(tmp_path: Path) -> Path:
    result = subprocess.run(
        [
            str(PITCHREC),
            "seed",
            "--database-url",
            f"sqlite:///{tmp_path / 'w.db'}",
            "--scale",
            "0.01",
            "--seed",
            "4",
        ],
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()[-2000:]
    return tmp_path


@pytest.fixture
def redis_port(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    if shutil.which("redis-server") is None:
        if os.environ.get("PITCHREC_REQUIRE_SERVERS") == "1":
            pytest.fail("redis-server is not installed")
        pytest.skip("redis-server is not installed")
    directory = tmp_path / "redis"
    directory.mkdir()
    yield _free_port(), directory


def test_feeds_survive_a_redis_restart_and_no_event_is_lost(
    world: Path, redis_port: tuple[int, Path]
) -> None:
    port, directory = redis_port
    redis_process = _start_redis(port, directory)
    api_port = _free_port()
    env = dict(os.environ, PITCHREC_REFRESH_SECONDS="0")
    server = subprocess.Popen(
        [
            str(PITCHREC),
            "serve",
            "--database-url",
            f"sqlite:///{world / 'w.db'}",
            "--redis-url",
            f"redis://{HOST}:{port}/0",
            "--port",
            str(api_port),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    statuses: list[int] = []
    expected_rows = 0
    client = httpx.Client(base_url=f"http://{HOST}:{api_port}", timeout=10)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if client.get("/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "server not ready"
            time.sleep(0.1)

        stop = threading.Event()

        def load() -> None:
            nonlocal expected_rows
            i = 0
            while not stop.is_set():
                i += 1
                response = client.post("/api/search/total", json={"SELF_ID": i % 50})
                statuses.append(response.status_code)
                if response.status_code == 200:
                    expected_rows += 1 + len(response.json()["body"]["items"])
                event = {
                    "event_id": f"e{i}",
                    "type": "view",
                    "user_id": i % 50,
                    "item_id": i,
                    "item_type": "resume",
                    "value": 0.5,
                }
                response = client.post("/v1/events", json={"events": [event]})
                statuses.append(response.status_code)
                if response.status_code == 202:
                    expected_rows += 1

        worker = threading.Thread(target=load)
        worker.start()
        time.sleep(1.5)
        redis_process.send_signal(signal.SIGTERM)  # a clean stop: the AOF keeps the data
        redis_process.wait(10)
        down_at = len(statuses)
        time.sleep(2.5)
        served_while_down = len(statuses) - down_at
        redis_process = _start_redis(port, directory)
        time.sleep(1.5)
        stop.set()
        worker.join(30)

        assert statuses and all(status < 500 for status in statuses), set(statuses)
        assert served_while_down > 10, "feeds stalled while Redis was down"
        deadline = time.monotonic() + 20
        with redis.Redis(host=HOST, port=port, decode_responses=True) as store:
            while True:
                ids = {fields["event_id"] for _, fields in store.xrange(STREAM_KEY)}
                if len(ids) >= expected_rows or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        print(
            f"[outage] {len(statuses)} requests, {served_while_down} while Redis was down, "
            f"{expected_rows} events expected, {len(ids)} in the stream"
        )
        assert len(ids) == expected_rows
    finally:
        client.close()
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        redis_process.kill()
        redis_process.wait(10)
