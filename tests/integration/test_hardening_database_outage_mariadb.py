"""A MariaDB outage at start-up or at a reload (hardening issue 15, item 11), on the real
MariaDB behind a TCP proxy that the test takes down and brings back.

Before the fix: with Redis, a start with the database down left the server unready for
good (one attempt, no retry) and its 503 carried the driver's error text (host, port,
``pymysql``); without Redis the process did not start at all (the embedded archiver's
migration raised out of the lifespan); an admin reload with the database down was a bare
500. Now the first build is retried in the background with a capped back-off until it
succeeds, 503 bodies carry a generic message and the request id, and a reload that cannot
reach the database is a 503 that keeps the current snapshot.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from pitchrec.api import startup as startup_module
from pitchrec.api.app import create_app
from pitchrec.api.runtime import reload_channel
from pitchrec.index.lifecycle import SnapshotSource
from pitchrec.lab.world import generate_world
from pitchrec.settings import Settings
from pitchrec.sources.database import make_engine
from pitchrec.sources.schema import activity_log

pytestmark = pytest.mark.integration

TOKEN = {"Authorization": "Bearer t0ken"}


class FlakyProxy:
    """Forwards 127.0.0.1:<port> to MariaDB while up; while down it accepts and closes at
    once (the client sees a lost connection), and going down cuts open connections."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port: int = self._listener.getsockname()[1]
        self._up = threading.Event()
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self.refused = 0
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def up(self) -> None:
        self._up.set()

    def down(self) -> None:
        self._up.clear()
        with self._lock:
            for sock in self._open:
                sock.close()
            self._open.clear()

    def close(self) -> None:
        self._closed = True
        self.down()
        self._listener.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if not self._up.is_set():
                self.refused += 1
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.close()


@pytest.fixture
def world(mariadb_url: str) -> str:
    engine = make_engine(mariadb_url)
    generate_world(engine, scale=0.02, seed=3, truth_path=None)
    engine.dispose()
    return mariadb_url


@pytest.fixture
def proxy(world: str) -> Iterator[FlakyProxy]:
    url = make_url(world)
    proxy = FlakyProxy((url.host or "127.0.0.1", url.port or 3306))
    yield proxy
    proxy.close()


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    # Seconds instead of the production 1 s .. 30 s, so the tests wait little.
    monkeypatch.setattr(startup_module, "RETRY_MIN_SECONDS", 0.05)
    monkeypatch.setattr(startup_module, "RETRY_MAX_SECONDS", 0.2)


def _proxied(world: str, proxy: FlakyProxy) -> str:
    return make_url(world).set(host="127.0.0.1", port=proxy.port).render_as_string(False)


def _assert_generic(response: object, proxy: FlakyProxy) -> None:
    """A JSON error with the request id and no driver text."""
    body = response.json()  # type: ignore[attr-defined]
    request_id = response.headers["x-request-id"]  # type: ignore[attr-defined]
    assert body.get("request_id") == request_id, body
    text = response.text.replace(request_id, "")  # type: ignore[attr-defined]
    for leak in (
        "pymysql",
        "PyMySQL",
        "MySQL",
        "OperationalError",
        "Error:",
        "Lost connection",
        "Can't connect",
        "127.0.0.1",
        str(proxy.port),
        "root",
        "SELECT",
        "sqlalche",
    ):
        assert leak not in text, f"{leak!r} leaked: {text}"


def _wait_ready(client: TestClient, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while (response := client.get("/readyz")).status_code != 200:
        assert time.monotonic() < deadline, f"not ready after {seconds} s: {response.text}"
        time.sleep(0.05)


def _wait_attempts(proxy: FlakyProxy, attempts: int, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while proxy.refused < attempts:
        assert time.monotonic() < deadline, f"{proxy.refused} connection attempts"
        time.sleep(0.02)


def test_redis_backed_start_with_the_database_down_becomes_ready_without_restart(
    world: str, proxy: FlakyProxy, redis_url: str, tmp_path: Path
) -> None:
    settings = Settings(redis_url=redis_url, admin_token="t0ken", refresh_seconds=0)
    source = SnapshotSource(_proxied(world, proxy), tmp_path / "snapshot")
    with TestClient(create_app(settings, source)) as client:
        _wait_attempts(proxy, 1)
        for route in ("/readyz", "/v1/feed/total"):
            response = client.get(route)
            assert response.status_code == 503
            _assert_generic(response, proxy)  # before: "DataSourceError: ... pymysql ..."
        legacy = client.post("/api/search/total", json={})
        assert legacy.status_code == 503
        _assert_generic(legacy, proxy)
        _wait_attempts(proxy, 3)  # it keeps trying (before: one attempt, then never again)
        proxy.up()
        _wait_ready(client)  # before: unready until a restart
        assert client.post("/api/search/total", json={"SELF_ID": 1}).status_code == 200


def test_start_without_redis_and_the_database_down_does_not_exit(
    world: str, proxy: FlakyProxy, tmp_path: Path
) -> None:
    """The embedded archiver migrates at start; with the database down that raised out of
    the lifespan and the process exited. Now both the build and the archiver retry."""
    settings = Settings(admin_token="t0ken", refresh_seconds=0)
    url = _proxied(world, proxy)
    with TestClient(create_app(settings, SnapshotSource(url, tmp_path / "snapshot"))) as client:
        # before: the `with` itself raised (lifespan start-up failed: OperationalError)
        _wait_attempts(proxy, 2)
        response = client.get("/readyz")
        assert response.status_code == 503
        _assert_generic(response, proxy)
        proxy.up()
        _wait_ready(client)
        assert client.get("/v1/feed/total", params={"user_id": 5}).status_code == 200
        # The embedded archiver started too: the feed's tracking reaches activity_log.
        engine = make_engine(world)
        try:
            deadline = time.monotonic() + 20
            query = select(func.count()).where(activity_log.c.event_id.is_not(None))
            while True:
                with engine.connect() as conn:
                    if conn.execute(query).scalar_one() > 0:
                        break
                assert time.monotonic() < deadline, "nothing archived"
                time.sleep(0.2)
        finally:
            engine.dispose()


def test_reload_with_the_database_down_is_a_503_and_keeps_the_snapshot(
    world: str, proxy: FlakyProxy, redis_url: str, tmp_path: Path
) -> None:
    proxy.up()
    settings = Settings(redis_url=redis_url, admin_token="t0ken", refresh_seconds=0)
    source = SnapshotSource(_proxied(world, proxy), tmp_path / "snapshot")
    with TestClient(create_app(settings, source)) as client:
        _wait_ready(client)
        before = client.get("/readyz").json()
        proxy.down()
        for route in ("/v1/admin/reload", "/api/search/reload"):
            response = client.post(route, headers=TOKEN)
            assert response.status_code == 503, response.text  # before: 500
            assert response.json()["error"] == "database_unavailable"
            _assert_generic(response, proxy)
        assert client.get("/readyz").json() == before  # the old snapshot is still served
        assert client.get("/v1/feed/discover", params={"size": 5}).status_code == 200
        proxy.up()
        reloaded = client.post("/v1/admin/reload", headers=TOKEN)
        assert reloaded.status_code == 200, reloaded.text
        assert reloaded.json()["snapshot_built_at"] > before["snapshot_built_at"]


def test_an_announced_reload_with_the_database_down_keeps_the_listener(
    world: str,
    proxy: FlakyProxy,
    redis_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Another replica's reload announcement arrives while this one cannot reach the
    database: the failure is the database's, logged as such; the Redis subscription stays
    (before: "reload listener lost Redis", a resubscribe 5 s later, announcements missed)."""
    caplog.set_level(logging.INFO, "pitchrec.api.runtime")
    proxy.up()
    settings = Settings(redis_url=redis_url, refresh_seconds=0)
    source = SnapshotSource(_proxied(world, proxy), tmp_path / "snapshot")
    publisher = redis.Redis.from_url(redis_url)
    try:
        with TestClient(create_app(settings, source)) as client:
            _wait_ready(client)
            before = client.get("/readyz").json()
            proxy.down()
            deadline = time.monotonic() + 10
            while not any("announced reload failed" in r.getMessage() for r in caplog.records):
                channel = reload_channel(int(redis_url.rsplit("/", 1)[1]))
                publisher.publish(channel, repr(time.time()))  # until subscribed
                assert time.monotonic() < deadline, [r.getMessage() for r in caplog.records]
                time.sleep(0.2)
            assert not any("lost Redis" in r.getMessage() for r in caplog.records)
            assert client.get("/readyz").json() == before
    finally:
        publisher.close()


def test_reloads_are_announced_on_a_channel_of_the_redis_database(
    world: str, proxy: FlakyProxy, redis_url: str, tmp_path: Path
) -> None:
    """Pub/sub channels belong to the server, not to a database: two deployments on
    databases 0 and 1 of one Redis shared ``pitchrec:reload`` and reloaded each other.
    The listener now subscribes to ``pitchrec:reload:{db}`` only."""
    proxy.up()
    database = int(redis_url.rsplit("/", 1)[1])
    settings = Settings(redis_url=redis_url, refresh_seconds=0)
    source = SnapshotSource(_proxied(world, proxy), tmp_path / "snapshot")
    watcher = redis.Redis.from_url(redis_url)
    try:
        with TestClient(create_app(settings, source)) as client:
            _wait_ready(client)
            deadline = time.monotonic() + 10
            while not watcher.pubsub_channels(reload_channel(database) + "*"):
                assert time.monotonic() < deadline, watcher.pubsub_channels()
                time.sleep(0.05)
            assert watcher.pubsub_channels(reload_channel(database)) == [
                reload_channel(database).encode()
            ]
            assert not watcher.pubsub_channels("pitchrec:reload")  # the shared one
    finally:
        watcher.close()


def test_an_announcement_from_a_replica_whose_clock_is_behind_still_reloads(
    world: str, proxy: FlakyProxy, redis_url: str, tmp_path: Path
) -> None:
    """Another replica's clock runs an hour behind: its announcement carries a time
    before this replica's snapshot was built. The reload used to be skipped as "already
    newer" (the comparison was by the publisher's wall clock); now it happens."""
    proxy.up()
    database = int(redis_url.rsplit("/", 1)[1])
    settings = Settings(redis_url=redis_url, refresh_seconds=0)
    source = SnapshotSource(_proxied(world, proxy), tmp_path / "snapshot")
    publisher = redis.Redis.from_url(redis_url)
    try:
        with TestClient(create_app(settings, source)) as client:
            _wait_ready(client)
            runtime = client.app.state.runtime  # type: ignore[attr-defined]
            built = runtime.recommender.snapshot.built_at
            deadline = time.monotonic() + 20
            while runtime.recommender.snapshot.built_at == built:
                publisher.publish(reload_channel(database), repr(time.time() - 3600.0))
                assert time.monotonic() < deadline, "the announced reload never happened"
                time.sleep(0.2)
            assert runtime.recommender.snapshot.built_at > built
    finally:
        publisher.close()


def test_a_worker_ignores_its_own_reload_announcement(
    world: str, proxy: FlakyProxy, redis_url: str, tmp_path: Path
) -> None:
    """Its own message comes back on the channel: once reloads compared by the receiver's
    clock, it would rebuild a second time unless it knows the message is its own."""
    proxy.up()
    settings = Settings(redis_url=redis_url, refresh_seconds=0, admin_token="t0ken")
    source = SnapshotSource(_proxied(world, proxy), tmp_path / "snapshot")
    with TestClient(create_app(settings, source)) as client:
        _wait_ready(client)
        runtime = client.app.state.runtime  # type: ignore[attr-defined]
        database = int(redis_url.rsplit("/", 1)[1])
        watcher = redis.Redis.from_url(redis_url)
        deadline = time.monotonic() + 10
        while not watcher.pubsub_channels(reload_channel(database)):  # listener subscribed
            assert time.monotonic() < deadline
            time.sleep(0.05)
        watcher.close()
        assert client.post("/v1/admin/reload", headers=TOKEN).status_code == 200
        built = runtime.recommender.snapshot.built_at
        deadline = time.monotonic() + 10  # the announcement's round trip back to this worker
        while runtime.announcements_handled < 1:  # handled: any reload it made is done
            assert time.monotonic() < deadline, "the worker never heard its announcement"
            time.sleep(0.02)
        assert runtime.recommender.snapshot.built_at == built
