"""The embedded default (SQLite, in-process stores) archives what it serves into
activity_log, exactly once, with the legacy column mapping (spec 4.4)."""

from __future__ import annotations

import time
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from pitchrec.api.app import create_app
from pitchrec.index.lifecycle import SnapshotSource
from pitchrec.lab.world import generate_world
from pitchrec.settings import Settings
from pitchrec.sources.database import make_engine
from pitchrec.sources.schema import USER_MODEL_TYPE, activity_log


def test_served_feeds_land_in_activity_log(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    engine = make_engine(url)
    generate_world(engine, scale=0.01, seed=5, truth_path=None)
    with engine.connect() as connection:
        before = connection.scalar(select(func.count()).select_from(activity_log))
    app = create_app(Settings(refresh_seconds=0), SnapshotSource(url, None))
    served = 0
    with TestClient(app) as client:
        deadline = time.monotonic() + 20
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        for user in (1, 2, 3):
            body = client.post("/api/search/total", json={"SELF_ID": user}).json()["body"]
            served += 1 + len(body["items"])
    # Leaving the client ran the lifespan shutdown: tracking flushed, archive drained.
    with engine.connect() as connection:
        rows = connection.execute(
            select(activity_log).where(activity_log.c.event_id.is_not(None))
        ).all()
        total = connection.scalar(select(func.count()).select_from(activity_log))
    engine.dispose()
    assert len(rows) == served
    assert total == before + served
    assert len({row.event_id for row in rows}) == served
    requests = [row for row in rows if row.description == "#feed #request #total"]
    assert len(requests) == 3
    assert all(row.log_name == "app" and row.causer_type == USER_MODEL_TYPE for row in rows)
    assert {row.causer_id for row in requests} == {1, 2, 3}
