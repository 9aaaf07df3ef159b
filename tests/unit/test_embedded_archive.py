"""The embedded default (SQLite, in-process stores) archives what it serves into
activity_log, exactly once, with the legacy column mapping (spec 4.4)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from pitchrec.api.app import create_app
from pitchrec.index.build import build_snapshot
from pitchrec.index.lifecycle import SnapshotSource
from pitchrec.lab.world import generate_world
from pitchrec.settings import Settings
from pitchrec.sources.database import make_engine
from pitchrec.sources.loaders import load_sources
from pitchrec.sources.schema import USER_MODEL_TYPE, activity_log
from pitchrec.sources.tables import InteractionKind


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


def test_v1_likes_of_served_resumes_reach_the_next_snapshot(tmp_path: Path) -> None:
    """A like posted to /v1/events is archived, and the next build reads it as the user's
    history (the collaborative model trains on it); a like of a resume the service never
    served to that user is archived too, but learned from nowhere."""
    url = f"sqlite:///{tmp_path / 'w.db'}"
    engine = make_engine(url)
    generate_world(engine, scale=0.01, seed=5, truth_path=None)
    app = create_app(Settings(refresh_seconds=0), SnapshotSource(url, None))
    user = 999_001  # no history: everything the next load holds for it came from here
    with TestClient(app) as client:
        deadline = time.monotonic() + 20
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        feed = client.get("/v1/feed/total", params={"user_id": user, "size": 3}).json()
        shown = [i["id"] for i in feed["items"] if i["type"] == "resume"]
        catalogue = load_sources(engine).resumes.id.tolist()
        never_shown = next(r for r in catalogue if r not in shown)
        events = [
            {
                "event_id": f"e{n}",
                "type": "like",
                "user_id": user,
                "item_id": item,
                "item_type": "resume",
                "request_id": feed["request_id"],
            }
            for n, item in enumerate((shown[0], never_shown))
        ]
        assert client.post("/v1/events", json={"events": events}).json() == {"accepted": 2}
    # A load reads rows up to the current whole second; these are this second's.
    data = load_sources(engine, now=datetime.now(UTC).replace(tzinfo=None) + timedelta(seconds=1))
    engine.dispose()
    mine = data.interactions.user_id == user
    liked = mine & (data.interactions.kind == InteractionKind.FEEDBACK)
    assert data.interactions.item_id[liked].tolist() == [shown[0]]
    snapshot = build_snapshot(data)
    assert user in snapshot.users.history_users.tolist()
