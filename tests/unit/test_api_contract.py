"""Contract tests of every route, in process, against the tables of spec 3."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from legacy_schema import CHALLENGE_KEYS, RESUME_KEYS
from pitchrec.settings import Settings
from served_app import served


@pytest.fixture
def client(tmp_path: Path):  # type: ignore[no-untyped-def]
    with served(tmp_path, Settings(admin_token="t0ken")) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("route", "ids_key"),
    [("total", "mix_ids"), ("discover", "resume_ids"), ("flow", "challenge_ids")],
)
def test_legacy_envelope_and_item_schemas(client: TestClient, route: str, ids_key: str) -> None:
    response = client.post(f"/api/search/{route}", json={"SELF_ID": 3})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    envelope = response.json()
    assert list(envelope) == ["statusCode", "body"] and envelope["statusCode"] == 200
    body = envelope["body"]
    assert list(body) == [ids_key, "items"]
    assert body[ids_key] == [str(item["id"]) for item in body["items"]]
    assert 0 < len(body["items"]) <= 24
    for item in body["items"]:
        assert list(item) == (RESUME_KEYS if item["type"] == "resume" else CHALLENGE_KEYS)
    if route == "total":
        assert [i for i, item in enumerate(body["items"], 1) if item["type"] == "challenge"] == [
            6,
            12,
            18,
            24,
        ]


def test_exclusions_by_any_alias_and_no_500_on_bad_input(client: TestClient) -> None:
    first = client.post("/api/search/discover", json={}).json()["body"]["resume_ids"]
    second = client.post("/api/search/discover", json={"excluded_ids": ",".join(first)})
    assert not set(first) & set(second.json()["body"]["resume_ids"])
    cases = [
        (b"{not json", 400, "body"),
        (b"[1, 2]", 422, "body"),
        (b'{"LAST_IDS": ["1", "abc"]}', 422, "LAST_IDS[1]"),
        (b'{"LAST_IDS": [' + b",".join([b"1"] * 10_001) + b"]}", 413, "LAST_IDS"),
    ]
    for content, status, field in cases:
        response = client.post("/api/search/total", content=content)
        assert response.status_code == status, content[:40]
        assert response.json()["detail"][0]["field"] == field
    too_big = b'{"LAST_IDS": "' + b"1," * 600_000 + b'"}'
    assert client.post("/api/search/total", content=too_big).status_code == 413
    for body in ({"SELF_ID": "abc"}, {"SELF_ID": None}, {"SELF_ID": -5}, {"MAX_SIZE": "x"}):
        assert client.post("/api/search/total", json=body).status_code == 200


def test_root_and_health_bodies(client: TestClient) -> None:
    assert client.get("/").json() == {
        "message": "TalentPitch Search API",
        "status": "ok",
        "version": "2.0",
    }
    assert client.get("/health").json() == {"status": "healthy", "version": "2.0"}
    assert client.get("/nowhere").json() == {"detail": "Not Found"}
    assert client.get("/api/search/total").status_code == 405


def test_api_path_prefix_and_its_root(tmp_path: Path) -> None:
    settings = Settings(api_path="/api/recomendationservice")
    with served(tmp_path, settings) as client:
        assert client.post("/api/recomendationservice/search/flow", json={}).status_code == 200
        assert client.get("/api/recomendationservice").json()["path"] == (
            "/api/recomendationservice"
        )
        assert client.post("/api/search/flow", json={}).status_code == 404


def test_reload_requires_the_bearer_token(client: TestClient) -> None:
    assert client.post("/api/search/reload").status_code == 401
    bad = {"Authorization": "Bearer nope"}
    assert client.post("/v1/admin/reload", headers=bad).status_code == 401
    good = {"Authorization": "Bearer t0ken"}
    assert client.post("/api/search/reload", headers=good).json() == {
        "statusCode": 200,
        "message": "Data reloaded successfully",
    }
    assert client.post("/v1/admin/reload", headers=good).json()["status"] == "reloaded"


def test_reload_is_disabled_without_a_configured_token(tmp_path: Path) -> None:
    with served(tmp_path) as client:
        response = client.post("/api/search/reload", headers={"Authorization": "Bearer x"})
        assert response.status_code == 403


def test_v1_feed_honours_size_and_reports_items(client: TestClient) -> None:
    response = client.get("/v1/feed/total", params={"user_id": 3, "size": 40, "seed": 5})
    assert response.status_code == 200
    feed = response.json()
    assert len(feed["items"]) == 40
    assert feed["request_id"] == response.headers["x-request-id"]
    item = feed["items"][0]
    assert {"id", "type", "position", "pool", "creator_id", "score"} <= set(item)
    again = client.get("/v1/feed/total", params={"user_id": 3, "size": 40, "seed": 5}).json()
    assert [i["id"] for i in again["items"]] == [i["id"] for i in feed["items"]]
    for params in ({"size": 0}, {"size": 101}, {"user_id": -1}, {"exclude": "1,a"}):
        response = client.get("/v1/feed/discover", params=params)
        assert response.status_code == 422
        assert response.json()["detail"][0]["field"] in ("size", "user_id", "exclude")
    assert client.get("/v1/feed/nope").status_code == 422


def test_v1_events_validation(client: TestClient) -> None:
    event = {
        "event_id": "e1",
        "type": "view",
        "user_id": 1,
        "item_id": 2,
        "item_type": "resume",
        "value": 0.5,
    }
    assert client.post("/v1/events", json={"events": [event]}).json() == {"accepted": 1}
    assert client.post("/v1/events", json={"events": [event] * 1001}).status_code == 422
    bad = dict(event, value=3.0)
    response = client.post("/v1/events", json={"events": [bad]})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "events.0.value"


def test_metrics_and_cors_closed_by_default(client: TestClient) -> None:
    client.post("/api/search/total", json={})
    text = client.get("/metrics").text
    assert 'pitchrec_http_request_duration_seconds_bucket{le="0.001",method="POST"' in text
    assert "pitchrec_feed_pool_items_total" in text
    assert "pitchrec_snapshot_age_seconds" in text
    response = client.post("/api/search/total", json={}, headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers


def test_cors_when_configured(tmp_path: Path) -> None:
    settings = Settings(cors_origins=["https://app.example"])
    with served(tmp_path, settings) as client:
        response = client.get("/health", headers={"Origin": "https://app.example"})
        assert response.headers["access-control-allow-origin"] == "https://app.example"
        assert "access-control-allow-credentials" not in response.headers


def test_likes_posted_as_events_grow_the_users_taste_profile(client: TestClient) -> None:
    """The service's defaults learn taste: a like sent to POST /v1/events reaches the
    user's profile, which the next request reads."""
    import time

    feed = client.get("/v1/feed/discover", params={"user_id": 3, "size": 10, "seed": 2}).json()
    liked = [item for item in feed["items"] if item["type"] == "resume"][:2]
    events = [
        {
            "event_id": f"e{i}",
            "type": "like",
            "user_id": 3,
            "item_id": item["id"],
            "item_type": "resume",
            "request_id": feed["request_id"],
            "position": item["position"],
        }
        for i, item in enumerate(liked)
    ]
    assert client.post("/v1/events", json={"events": events}).status_code == 202
    tracker = client.app.state.runtime.service.tracker  # type: ignore[attr-defined]
    deadline = time.monotonic() + 5
    while len(tracker.request_state(3, None).profile) < len(liked):
        assert time.monotonic() < deadline, "the like never reached the profile"
        time.sleep(0.02)
    profile = tracker.request_state(3, None).profile
    assert sorted(profile.resume_ids.tolist()) == sorted(item["id"] for item in liked)


def test_learning_settings_reach_the_engine(tmp_path: Path) -> None:
    from pitchrec.ranking.options import RankingOptions

    legacy = Settings(
        reward_scale=1.0,
        sampling_temperature=0.0,
        declared_skills=False,
        collaborative_weight=0.0,
        popularity_prior=0.0,
        ranked_fill=False,
        au_shares_candidates=False,
        boost_new=False,
        learned_blend=False,
        blend_search=False,
        live_prior=False,
        fresh_share=0.0,
        fresh_max_impressions=0,
        fresh_max_days=0.0,
        retrieval_candidates=0,
        skill_novelty_window="feed",  # type: ignore[arg-type]  # as the environment gives it
    )
    with served(tmp_path / "legacy", legacy) as test_client:
        runtime = test_client.app.state.runtime  # type: ignore[attr-defined]
        assert runtime.recommender.options == RankingOptions.legacy()
        assert {p.config.reward_scale for p in runtime.recommender.policies.values()} == {1.0}
    with served(tmp_path / "default", Settings()) as test_client:
        runtime = test_client.app.state.runtime  # type: ignore[attr-defined]
        assert runtime.recommender.options == RankingOptions.service()
        assert {p.config.reward_scale for p in runtime.recommender.policies.values()} == {30.0}
