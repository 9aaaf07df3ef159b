"""Feedback can neither be replayed into the learner nor aimed at another user's
impression (hardening issue, item 3)."""

from __future__ import annotations

from dataclasses import replace

from factories import NOW, random_snapshot
from pitchrec.domain.events import FeedbackEvent
from pitchrec.domain.feed import FeedKind, FeedRequest
from pitchrec.service import RequestInfo, Service, ServiceConfig, build_service
from pitchrec.tracking.memory_store import MemoryStore


def _service(store: MemoryStore) -> Service:
    snapshot = random_snapshot(1, n_resumes=400, n_challenges=12, n_creators=250)
    return build_service(ServiceConfig(), store, snapshot=snapshot)


def _liked(service: Service, user: int, request_id: str) -> FeedbackEvent:
    assert service.recommender is not None
    request = FeedRequest(kind=FeedKind.DISCOVER, user_id=user, seed=1, now=NOW)
    feed = service.recommender.serve(request, RequestInfo(request_id, "v1/discover", user))
    item = next(i for i in feed.items if i.pool.value in ("VMP", "AU", "NU"))
    return FeedbackEvent(
        "like-1", "like", user, item.item_id, item.kind.value, request_id=request_id
    )


def _updates(service: Service) -> int:
    service.feedback.sync_now()
    return sum(policy.n_updates for policy in service.learner.serving.values())


def test_a_retried_event_changes_nothing() -> None:
    store = MemoryStore()
    service = _service(store)
    like = _liked(service, 7, "r1")
    service.record_events([like])
    service.feedback.process_once()
    assert _updates(service) == 1
    service.record_events([like])  # the client retried
    service.feedback.process_once()
    service.record_events([like] * 1_000)  # or replayed it a thousand times at once
    service.feedback.process_once()
    assert _updates(service) == 1
    assert service.feedback.stats.events_duplicate == 1_001


def test_a_retry_reaching_another_replica_changes_nothing() -> None:
    shared = MemoryStore()
    a, b = _service(shared), _service(shared)
    like = _liked(a, 7, "r1")
    for replica in (a, b, a):
        replica.record_events([like])
        replica.feedback.process_once()
    assert _updates(a) == _updates(b) == 1


def test_an_event_for_another_users_impression_is_ignored_and_counted() -> None:
    store = MemoryStore()
    service = _service(store)
    like = _liked(service, 7, "r1")
    forged = replace(like, event_id="forged", user_id=8)
    service.record_events([forged] + [replace(forged, event_id=f"f{i}") for i in range(99)])
    service.feedback.process_once()
    assert _updates(service) == 0
    assert service.feedback.stats.events_foreign == 100
    assert len(service.tracker.request_state(8, None).profile) == 0


def test_learn_online_off_keeps_serving_the_prior_while_learning_is_recorded() -> None:
    """``PITCHREC_LEARN_ONLINE=false`` (an operator's switch, and the HTTP replay's
    "frozen" arm): rewards still reach the shared statistics, the served policies stay."""
    from pitchrec.settings import Settings

    config = ServiceConfig.from_settings(Settings(learn_online=False))
    assert not config.learn_online and ServiceConfig.from_settings(Settings()).learn_online
    store = MemoryStore()
    snapshot = random_snapshot(1, n_resumes=400, n_challenges=12, n_creators=250)
    service = build_service(config, store, snapshot=snapshot)
    assert service.recommender is not None
    service.record_events([_liked(service, 7, "r1")])
    service.feedback.process_once()
    service.feedback.sync_now()
    assert sum(p.n_updates for p in service.learner.serving.values()) == 1  # learned
    assert sum(p.n_updates for p in service.recommender.policies.values()) == 0  # not served
