"""Redis keys that used to grow forever are bounded (hardening issue, item 4): the legacy
activity list of a busy user (anonymous user 0 takes every cold-start feed) is trimmed,
and the ids of applied learning batches expire one by one instead of living in one set
whose TTL every publish renews."""

from __future__ import annotations

import pytest
import redis

from factories import NOW, random_snapshot
from pitchrec.domain.feed import FeedKind, FeedRequest
from pitchrec.service import RequestInfo, ServiceConfig, build_service
from pitchrec.tracking.redis_store import RedisStore
from pitchrec.tracking.store import ACTIVITY_LIST_CAP, policy_stats_key

pytestmark = pytest.mark.integration


def test_the_anonymous_activity_list_stays_bounded(redis_url: str) -> None:
    snapshot = random_snapshot(3, n_resumes=400, n_challenges=12, n_creators=250)
    service = build_service(ServiceConfig(), RedisStore.from_url(redis_url), snapshot=snapshot)
    assert service.recommender is not None
    feeds = ACTIVITY_LIST_CAP // 25 + 10  # each feed pushes 1 request + 24 item events
    for i in range(feeds):
        request = FeedRequest(kind=FeedKind.TOTAL, seed=i, now=NOW)
        service.recommender.serve(request, RequestInfo(f"anon-{i}", "total", 0))
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    assert client.llen("user_activity:0") == ACTIVITY_LIST_CAP
    newest = client.lindex("user_activity:0", 0)
    assert newest is not None and f"anon-{feeds - 1}" not in newest  # ids are server-side
    assert client.ttl("user_activity:0") > 0


def test_applied_batch_ids_expire_one_by_one(redis_url: str) -> None:
    store = RedisStore.from_url(redis_url)
    increments = {policy_stats_key(1, "AU"): {"n_updates": 1.0}}
    for batch in ("b1", "b2", "b3"):
        assert store.add_stats(batch, increments) is True
    assert store.add_stats("b2", increments) is False  # still idempotent
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    assert not client.exists("pitchrec:policy:applied")  # no ever-growing set
    for batch in ("b1", "b2", "b3"):
        assert 0 < client.ttl(f"pitchrec:policy:applied:{batch}") <= 86_400
    totals = store.read_stats([policy_stats_key(1, "AU")])[policy_stats_key(1, "AU")]
    assert totals == {"n_updates": 3.0}
