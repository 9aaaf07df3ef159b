"""``GET /v1/experiments``, the variant on v1 feeds (never on legacy responses), the
Prometheus series, and the variant in the archived ``activity_log.properties`` (the
embedded SQLite archiver: no new column, the legacy table)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import select

from legacy_schema import RESUME_KEYS
from pitchrec.api.app import create_app
from pitchrec.api.experiments import ExperimentOut
from pitchrec.domain.experiment import assign, parse_experiment
from pitchrec.index.lifecycle import SnapshotSource
from pitchrec.lab.world import generate_world
from pitchrec.settings import Settings
from pitchrec.sources.database import make_engine
from pitchrec.sources.schema import activity_log
from served_app import served

EXPERIMENT: dict[str, Any] = {
    "name": "api-1",
    "variants": {"control": {"weight": 1}, "b": {"weight": 1, "ranking": ["@boost_new=false"]}},
}
SPEC = parse_experiment(EXPERIMENT)


def _user(variant: str) -> int:
    return next(u for u in range(1, 1_000) if assign(SPEC, u, None).variant == variant)


def test_without_an_experiment_the_route_is_a_json_404(tmp_path: Path) -> None:
    with served(tmp_path) as client:
        response = client.get("/v1/experiments")
        assert response.status_code == 404
        assert response.json() == {
            "error": "not_found",
            "detail": [
                {
                    "field": "experiment",
                    "message": "no experiment is configured (PITCHREC_EXPERIMENT)",
                }
            ],
        }
        assert "variant" not in client.get("/v1/feed/discover?user_id=3").json()
        assert "pitchrec_experiment" not in client.get("/metrics").text


def test_the_report_contract_and_the_feed_variant(tmp_path: Path) -> None:
    with served(tmp_path, Settings(experiment=EXPERIMENT)) as client:
        for variant in ("control", "b"):
            user = _user(variant)
            feed = client.get(f"/v1/feed/discover?user_id={user}&size=6").json()
            assert feed["variant"] == variant
            item = feed["items"][0]
            event = {
                "event_id": f"like-{user}",
                "type": "like",
                "user_id": user,
                "item_id": item["id"],
                "item_type": "resume",
                "request_id": feed["request_id"],
            }
            assert client.post("/v1/events", json={"events": [event]}).status_code == 202
            legacy = client.post("/api/search/discover", json={"SELF_ID": user}).json()
            assert list(legacy) == ["statusCode", "body"]
            assert list(legacy["body"]) == ["resume_ids", "items"]
            assert all(list(i) == RESUME_KEYS for i in legacy["body"]["items"])
        assert client.get("/v1/feed/discover?size=6").json()["variant"] == "control"
        deadline = time.monotonic() + 10
        while True:  # the feedback thread counts the likes
            body = client.get("/v1/experiments").json()
            if all(v["likes"] == 1 for v in body["variants"]) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        ExperimentOut.model_validate(body)  # the documented schema
        assert body["name"] == "api-1" and body["control"] == "control"
        control, b = body["variants"]
        for variant in (control, b):
            assert {
                "name", "weight", "status", "stopped_reason", "impressions", "likes", "saves",
                "like_rate", "save_rate", "watch_fraction", "difference",
            } <= set(variant)  # fmt: skip
            assert variant["status"] == "running" and variant["likes"] == 1
        # Legacy feeds are served by the user's variant too and counted: 2 feeds of 6+
        assert control["impressions"] >= 12 and b["impressions"] >= 12
        assert control["difference"] is None
        assert set(b["difference"]) == {"estimate", "low", "high", "confidence"}
        assert set(body["series"]) == {"control", "b"}
        (bucket,) = body["series"]["b"]
        assert set(bucket) >= {"t", "impressions", "likes", "rate", "low", "high"}
        assert bucket["t"] % 3600 == 0 and bucket["likes"] == 1
        metrics = client.get("/metrics").text
        assert 'pitchrec_experiment_impressions_total{pool="' in metrics
        assert 'type="like",variant="b"' in metrics
        assert 'pitchrec_experiment_variant_stopped{variant="b"} 0.0' in metrics


def test_the_variant_reaches_activity_log_properties(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    engine = make_engine(url)
    generate_world(engine, scale=0.01, seed=5, truth_path=None)
    with engine.connect() as connection:
        before = {row.id for row in connection.execute(select(activity_log.c.id))}
    app = create_app(Settings(refresh_seconds=0, experiment=EXPERIMENT), SnapshotSource(url, None))
    served_to: dict[str, str] = {}
    with TestClient(app) as client:
        deadline = time.monotonic() + 20
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        for variant in ("control", "b"):
            user = _user(variant)
            feed = client.get(f"/v1/feed/discover?user_id={user}&size=4").json()
            served_to[feed["request_id"]] = variant
            event = {
                "event_id": f"like-{user}",
                "type": "like",
                "user_id": user,
                "item_id": feed["items"][0]["id"],
                "item_type": "resume",
                "request_id": feed["request_id"],
            }
            assert client.post("/v1/events", json={"events": [event]}).status_code == 202
            client.post("/api/search/total", json={"SELF_ID": user})
    with engine.connect() as connection:
        rows = [
            row for row in connection.execute(select(activity_log)).all() if row.id not in before
        ]
    engine.dispose()
    assert len(rows) > 10
    properties = [orjson.loads(row.properties) for row in rows]
    assert all(p["experiment"] == "api-1" and p["variant"] in {"control", "b"} for p in properties)
    assert {p["variant"] for p in properties} == {"control", "b"}
    likes = [p for p in properties if p.get("type") == "like"]
    assert len(likes) == 2
    for like in likes:  # the variant of the impression the like names
        assert like["variant"] == like["assigned"] == served_to[like["request_id"]]


def test_unreadable_counters_are_a_json_503(tmp_path: Path) -> None:
    with served(tmp_path, Settings(experiment=EXPERIMENT)) as client:
        monitor = client.app.state.runtime.service.experiment  # type: ignore[attr-defined]

        def down() -> None:
            raise ConnectionError("Redis is down")

        monitor.report = down
        response = client.get("/v1/experiments")
        assert response.status_code == 503
        body = response.json()
        assert (
            body["error"] == "tracking_unavailable" and body["detail"][0]["field"] == "experiment"
        )
        assert "Redis" not in response.text  # the cause is logged, never answered
