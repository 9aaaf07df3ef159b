"""A new replica serves what the others learned from its first feed (issue 13): its
feedback thread synced the shared statistics about 20 ms after start, and start-up did
not wait, so the first feeds of every new pod ranked with prior policies and the blend
search's build arm whatever the deployment had learned."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from factories import NOW
from pitchrec.api.app import create_app
from pitchrec.domain.events import FeedbackEvent
from pitchrec.domain.feed import FeedKind, FeedRequest, ItemKind
from pitchrec.index.lifecycle import SnapshotSource
from pitchrec.index.snapshot import load
from pitchrec.learning import feedback as feedback_module
from pitchrec.service import RequestInfo, ServiceConfig, build_service
from pitchrec.settings import Settings
from pitchrec.tracking.redis_store import RedisStore
from served_app import saved_snapshot

pytestmark = pytest.mark.integration


def test_a_new_replica_serves_the_shared_learning_as_soon_as_it_is_ready(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A loaded machine: the feedback thread's ticks come late (one every 0.5 s, not 20 ms).
    monkeypatch.setattr(feedback_module, "FLUSH_SECONDS", 0.5)
    directory = saved_snapshot(tmp_path)
    store = RedisStore.from_url(redis_url)
    try:  # a replica already running learns from three likes and publishes them
        running = build_service(ServiceConfig(), store, snapshot=load(directory))
        assert running.recommender is not None
        request = FeedRequest(kind=FeedKind.DISCOVER, user_id=5, now=NOW, size=12, seed=3)
        feed = running.recommender.serve(
            request, RequestInfo("r1", "v1/discover", 5, session_id="s")
        )
        resumes = [item for item in feed.items if item.kind is ItemKind.RESUME][:3]
        running.record_events(
            [FeedbackEvent(f"e{i.item_id}", "like", 5, i.item_id, "resume", "r1") for i in resumes]
        )
        running.feedback.process_once()
        running.feedback.sync_now()
    finally:
        store.client.close()
    settings = Settings(redis_url=SecretStr(redis_url), refresh_seconds=0)
    app = create_app(settings, SnapshotSource(None, directory))
    with TestClient(app) as client:
        # No waiting: the lifespan has finished, so the replica is ready and serving.
        assert client.get("/readyz").status_code == 200
        recommender = app.state.runtime.recommender
        assert sum(p.n_updates for p in recommender.policies.values()) == len(resumes)
        blend = recommender.blend
        assert blend is not None and blend.policy is not None
        alpha, beta = blend.policy.posterior(blend.arms.ids)
        assert float(np.sum(alpha + beta)) == pytest.approx(2.0 * len(blend.arms.ids) + 3)
