"""Shadow mode against the real Redis: the shadow rows and the feedback travel in the event
stream, and ``pitchrec evaluate shadow --redis-url`` reads them back."""

from __future__ import annotations

import json

import pytest
import redis
from typer.testing import CliRunner

from factories import NOW, random_snapshot
from pitchrec.domain.events import FeedbackEvent
from pitchrec.domain.feed import FeedKind, FeedRequest
from pitchrec.lab.cli import app as lab_app
from pitchrec.lab.offpolicy.shadow_log import read_stream
from pitchrec.ranking.shadow import ShadowConfig, parse_candidate
from pitchrec.service import RequestInfo, ServiceConfig, build_service
from pitchrec.tracking.redis_store import RedisStore

pytestmark = pytest.mark.integration


def test_the_stream_carries_the_shadow_log(redis_url: str) -> None:
    snapshot = random_snapshot(5, n_resumes=300, n_challenges=12, n_creators=200, n_users=40)
    config = ShadowConfig(parse_candidate("@temperature=2"), rate=1.0, draws=3, inline=True)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    service = build_service(ServiceConfig(shadow=config), RedisStore(client), snapshot=snapshot)
    assert service.recommender is not None
    for i in range(12):
        user = i % 4 + 1
        request = FeedRequest(FeedKind.DISCOVER, user, seed=i, now=NOW, size=10)
        feed = service.recommender.serve(request, RequestInfo(f"r{i}", "v1/discover", user))
        first = feed.items[0]
        service.record_events(
            [FeedbackEvent(f"e{i}", "like", user, first.item_id, "resume", f"r{i}", 1)]
        )
    assert service.tracker.flush()
    reader = read_stream(redis_url)
    feeds = reader.feeds()
    assert len(feeds) == 12 and reader.skipped == 0
    assert all(f.rewards[0] == 1.0 and sum(f.rewards) == 1.0 for f in feeds)
    result = CliRunner().invoke(
        lab_app,
        [
            "evaluate",
            "shadow",
            "--redis-url",
            redis_url,
            "--json",
            "--no-progress",
            "--n-boot",
            "200",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["feeds"] == 12 and summary["served_value"]["value"] == pytest.approx(1.0)
    client.close()
