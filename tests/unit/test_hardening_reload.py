"""An empty catalogue is never swapped in as ready (hardening issue, item 6): a reload
that would serve no resume is refused and the current snapshot kept; a start on an
empty catalogue stays unready and says why."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete

from pitchrec.api.app import create_app
from pitchrec.index import snapshot as snapshot_files
from pitchrec.index.lifecycle import SnapshotSource
from pitchrec.lab.world import generate_world
from pitchrec.settings import Settings
from pitchrec.sources.database import create_schema, make_engine
from pitchrec.sources.schema import challenges, resumes

TOKEN = {"Authorization": "Bearer t0ken"}


@pytest.fixture
def world_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    engine = make_engine(url)
    generate_world(engine, scale=0.02, seed=3, truth_path=None)
    engine.dispose()
    return url


def _empty_the_catalogue(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(delete(resumes))
        conn.execute(delete(challenges))
    engine.dispose()


def _app(url: str, directory: Path) -> TestClient:
    settings = Settings(admin_token="t0ken", refresh_seconds=0)
    return TestClient(create_app(settings, SnapshotSource(url, directory)))


def _wait_ready(client: TestClient) -> dict[str, object]:
    deadline = time.monotonic() + 30
    while (response := client.get("/readyz")).status_code != 200:
        assert time.monotonic() < deadline, response.text
        time.sleep(0.05)
    body: dict[str, object] = response.json()
    return body


def test_a_reload_onto_an_empty_catalogue_is_refused(world_url: str, tmp_path: Path) -> None:
    directory = tmp_path / "snapshot"
    with _app(world_url, directory) as client:
        before = _wait_ready(client)
        assert int(str(before["resumes"])) > 0
        served = client.get("/v1/feed/discover", params={"size": 10, "seed": 1}).json()
        _empty_the_catalogue(world_url)
        for route in ("/v1/admin/reload", "/api/search/reload"):
            response = client.post(route, headers=TOKEN)
            assert response.status_code == 409, response.text
            assert "no resume" in response.text
        after = client.get("/readyz")
        assert after.status_code == 200 and after.json()["resumes"] == before["resumes"]
        feed = client.get("/v1/feed/discover", params={"size": 10, "seed": 1}).json()
        assert feed["items"] and len(feed["items"]) == len(served["items"])
    # The shared directory still holds the good snapshot for the other workers.
    assert len(snapshot_files.load(directory).resumes) == before["resumes"]


def test_a_start_on_an_empty_catalogue_stays_unready_and_says_why(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    engine = make_engine(url)
    create_schema(engine)
    engine.dispose()
    with _app(url, tmp_path / "snapshot") as client:
        deadline = time.monotonic() + 10
        while "no resume" not in (body := client.get("/readyz").text):
            assert time.monotonic() < deadline, body
            time.sleep(0.05)
        assert client.get("/readyz").status_code == 503
        assert client.get("/v1/feed/total").status_code == 503
