"""A database that cannot be reached at start-up or at a reload (hardening issue 15,
item 11), without servers: the MySQL URL points at a local port that refuses connections,
a SQLite file starts with no catalogue. (The same on the real MariaDB, going down and
coming back behind a proxy: tests/integration/test_hardening_database_outage_mariadb.py.)

Before the fix: without Redis the lifespan raised (the embedded archiver's migration) and
the process exited; with Redis the 503 said ``DataSourceError: ... Can't connect to MySQL
server on '127.0.0.1' ...``; the first build was tried once and never again; a reload with
the database down was a bare 500.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from httpx import Response

from pitchrec.api import startup as startup_module
from pitchrec.api.app import create_app
from pitchrec.index.lifecycle import SnapshotSource
from pitchrec.lab.world import generate_world
from pitchrec.settings import Settings
from pitchrec.sources.database import create_schema, make_engine
from served_app import saved_snapshot

TOKEN = {"Authorization": "Bearer t0ken"}
RUNTIME_LOG = "pitchrec.api.runtime"


@pytest.fixture
def refused_port() -> Iterator[int]:
    """A local port that refuses connections: bound, never listening."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


@pytest.fixture(autouse=True)
def fast_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(startup_module, "RETRY_MIN_SECONDS", 0.02)
    monkeypatch.setattr(startup_module, "RETRY_MAX_SECONDS", 0.08)


def _mysql(port: int) -> str:
    return f"mysql+pymysql://pitchrec_app:s3cret@127.0.0.1:{port}/interacpedia"


def _assert_generic(response: Response, *leaks: str) -> None:
    """A JSON error carrying the request id and none of the driver's text."""
    body = response.json()
    request_id = response.headers["x-request-id"]
    assert body.get("request_id") == request_id, body
    text = response.text.replace(request_id, "")
    for leak in (
        *leaks,
        "pymysql",
        "MySQL",
        "OperationalError",
        "DataSourceError",
        "Errno",
        "Connection refused",
        "127.0.0.1",
        "pitchrec_app",
        "s3cret",
        "interacpedia",
        "sqlite",
        "SELECT",
    ):
        assert leak not in text, f"{leak!r} leaked: {text}"


def _failed_attempts(caplog: pytest.LogCaptureFixture, what: str) -> list[logging.LogRecord]:
    return [
        r
        for r in caplog.records
        if r.name == RUNTIME_LOG and r.getMessage().startswith(f"{what} failed")
    ]


def _wait_for_attempts(caplog: pytest.LogCaptureFixture, what: str, n: int) -> None:
    deadline = time.monotonic() + 10
    while len(_failed_attempts(caplog, what)) < n:
        assert time.monotonic() < deadline, f"{what}: {len(_failed_attempts(caplog, what))}"
        time.sleep(0.02)


def test_start_without_redis_and_the_database_down_keeps_the_process_up(
    refused_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, RUNTIME_LOG)
    settings = Settings(admin_token="t0ken", refresh_seconds=0)
    app = create_app(settings, SnapshotSource(_mysql(refused_port), None))
    with TestClient(app) as client:  # before: OperationalError out of the lifespan
        assert client.get("/healthz").status_code == 200
        _wait_for_attempts(caplog, "initial snapshot load", 3)
        _wait_for_attempts(caplog, "embedded archiver start", 3)
        for response in (
            client.get("/readyz"),
            client.get("/v1/feed/total"),
            client.post("/api/search/flow", json={}),
        ):
            assert response.status_code == 503
            _assert_generic(response, str(refused_port))
        reload = client.post("/v1/admin/reload", headers=TOKEN)
        assert reload.status_code == 503, reload.text  # before: 500
        _assert_generic(reload, str(refused_port))


def test_the_503_of_a_redis_backed_server_carries_no_driver_text(refused_port: int) -> None:
    """With Redis configured the process stayed up, and /readyz answered
    ``DataSourceError: loading sources failed: OperationalError: (2003, "Can't connect to
    MySQL server on '127.0.0.1' ([Errno 111] Connection refused)")``."""
    settings = Settings(
        redis_url=f"redis://127.0.0.1:{refused_port}/0",
        ready_requires_redis=False,
        refresh_seconds=0,
    )
    with TestClient(create_app(settings, SnapshotSource(_mysql(refused_port), None))) as client:
        deadline = time.monotonic() + 10
        while "still loading" in (response := client.get("/readyz")).text:  # first attempt
            assert time.monotonic() < deadline
            time.sleep(0.02)
        assert response.status_code == 503
        _assert_generic(response, str(refused_port))
        assert response.json()["detail"][0]["message"] == startup_module.LOAD_RETRYING


def test_retries_back_off_and_log_one_line_each(
    refused_port: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, RUNTIME_LOG)
    settings = Settings(refresh_seconds=0)
    with TestClient(create_app(settings, SnapshotSource(_mysql(refused_port), None))):
        _wait_for_attempts(caplog, "initial snapshot load", 6)
    records = _failed_attempts(caplog, "initial snapshot load")
    assert records[0].exc_info is not None  # the first failure with its traceback
    assert all(r.exc_info is None for r in records[1:])  # then one line per attempt
    assert "attempt 2" in records[1].getMessage()
    waits = [float(r.args[-1]) for r in records]  # type: ignore[index]
    assert max(waits) <= startup_module.RETRY_MAX_SECONDS * 1.25 + 1e-9  # capped
    assert waits[-1] > startup_module.RETRY_MIN_SECONDS * 1.25  # grew


def test_a_reload_with_the_database_down_is_a_503_and_keeps_the_snapshot(
    refused_port: int, tmp_path: Path
) -> None:
    """A worker maps the existing snapshot at start; the database is down at the reload.
    (Redis is configured, and down too: so the embedded archiver, which has a test of its
    own above, stays out of it.)"""
    directory = saved_snapshot(tmp_path)
    settings = Settings(
        admin_token="t0ken",
        redis_url=f"redis://127.0.0.1:{refused_port}/0",
        ready_requires_redis=False,
        refresh_seconds=0,  # any age is fresh: the saved snapshot is served at once
    )
    app = create_app(settings, SnapshotSource(_mysql(refused_port), directory))
    with TestClient(app) as client:
        ready = client.get("/readyz")
        assert ready.status_code == 200
        for route in ("/v1/admin/reload", "/api/search/reload"):
            response = client.post(route, headers=TOKEN)
            assert response.status_code == 503, response.text  # before: 500
            assert response.json()["error"] == "database_unavailable"
            _assert_generic(response, str(refused_port), str(tmp_path))
        assert client.get("/readyz").json() == ready.json()
        assert client.post("/api/search/total", json={"SELF_ID": 3}).status_code == 200


def test_a_start_on_an_empty_catalogue_becomes_ready_when_the_data_arrives(
    tmp_path: Path,
) -> None:
    """The first build failed once and was never tried again (hardening item 6 made it
    refuse an empty catalogue); now it is retried until the catalogue is there."""
    url = f"sqlite:///{tmp_path / 'late.db'}"
    engine = make_engine(url)
    create_schema(engine)
    settings = Settings(refresh_seconds=0)
    with TestClient(create_app(settings, SnapshotSource(url, None))) as client:
        deadline = time.monotonic() + 10
        while "no resume" not in (response := client.get("/readyz")).text:
            assert time.monotonic() < deadline, response.text
            time.sleep(0.02)
        assert response.status_code == 503
        _assert_generic(response)
        generate_world(engine, scale=0.02, seed=3, truth_path=None)
        deadline = time.monotonic() + 20
        while (response := client.get("/readyz")).status_code != 200:
            assert time.monotonic() < deadline, f"never ready: {response.text}"
            time.sleep(0.05)
    engine.dispose()
