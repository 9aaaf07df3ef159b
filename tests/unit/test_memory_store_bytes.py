"""The in-process store is bounded in bytes of RSS, not in keys (hardening issue, tests).

``test_memory_store_stays_bounded`` once checked a count of keys holding 2-byte values.
The embedded default (no Redis) keeps every user's legacy activity list, every session's
seen set and every feed's impressions for their TTL: what bounds the process is the bytes
those hold, so this test serves realistic feeds to many distinct users and sessions and
measures what the process really grows (VmRSS).
"""

from __future__ import annotations

from dataclasses import replace

from factories import random_snapshot
from pitchrec.domain.feed import FeedKind, FeedRequest
from pitchrec.service import RequestInfo, ServiceConfig, build_service
from pitchrec.tracking.memory_store import MemoryStore
from pitchrec.tracking.store import FeedWrites
from process_memory import needs_proc, rss_bytes

MB = 1 << 20


class RecordingStore(MemoryStore):
    """Keeps the writes of the feeds it is given, to replay them at scale."""

    def __init__(self) -> None:
        super().__init__(keep_archive=False)
        self.recorded: list[FeedWrites] = []

    def write_feed(self, writes: list[FeedWrites]) -> list[FeedWrites]:
        self.recorded.extend(writes)
        return super().write_feed(writes)


def _real_feed_writes() -> FeedWrites:
    """What one served 24-item feed of a signed-in user writes, recorded from the tracker."""
    store = RecordingStore()
    snapshot = random_snapshot(3, n_resumes=300, n_challenges=10, n_creators=120)
    service = build_service(ServiceConfig(), store, snapshot=snapshot)
    assert service.recommender is not None
    service.recommender.serve(
        FeedRequest(kind=FeedKind.TOTAL, user_id=77, seed=1),
        RequestInfo(request_id="probe", endpoint="total", raw_user=77, session_id="s-probe"),
    )
    service.tracker.flush()
    (writes,) = [w for w in store.recorded if w.activity_events]
    assert len(writes.activity_events) >= 20 and writes.impressions
    return writes


def _for_user(template: FeedWrites, user: int, feed: int) -> FeedWrites:
    """``template`` as if served to ``user`` (its own keys and freshly made strings)."""
    tag = f"{user}-{feed}"
    return replace(
        template,
        activity_key=f"user_activity:{user}",
        activity_events=[event.replace("77", tag, 1) + " " for event in template.activity_events],
        session_key=f"pitchrec:session:s-{user}",
        session_members=[f"{member}-{tag}" for member in template.session_members],
        impressions_key=f"pitchrec:impressions:req-{tag}",
        impressions={f"{k}-{tag}": v + " " for k, v in template.impressions.items()},
        archive=[],
    )


@needs_proc
def test_many_users_feeds_grow_rss_by_the_byte_budget_only() -> None:
    """12,000 users with 5 feeds each, no Redis, nothing expiring (TTLs of hours): the
    store's RSS stays within its byte budget plus a margin. With a cap of 10,000 keys of
    any size it held every user's 100-entry list and grew by several hundred MB."""
    template = _real_feed_writes()
    store = MemoryStore(keep_archive=False)
    budget = store.max_bytes
    before = rss_bytes()
    for user in range(12_000):
        store.write_feed([_for_user(template, user, feed) for feed in range(5)])
    grown = rss_bytes() - before
    assert grown < budget + 32 * MB, f"RSS grew {grown / MB:.0f} MB, budget {budget / MB:.0f}"
    assert 0 < store.bytes_held() <= budget
    # The newest keys are the ones kept (least recently written are evicted first).
    assert store.activity("user_activity:11999")
    assert store.activity("user_activity:0") == []


def test_a_drained_archive_queue_keeps_accepting_rows() -> None:
    """The byte cap of the archive queue counts what is queued, not what ever was: rows
    drained by the archiver (drop_archive) or cleared by a caller free their bytes. The
    simulator's drain cleared the deque behind the count, and after about 64 MiB of rows
    every feed's rows were refused ("archive stream at its cap")."""
    template = _real_feed_writes()
    with_rows = replace(template, archive=template.archive or [])
    assert with_rows.archive
    store = MemoryStore(keep_archive=True)
    store.archive_max_bytes = 200_000  # a few feeds' rows
    for round_ in range(30):
        refused = store.write_feed([replace(with_rows)])
        assert not refused, f"refused after {round_} drained rounds"
        if round_ % 2:
            store.drop_archive(len(store.archive))
        else:
            store.archive.clear()


@needs_proc
def test_taste_profiles_grow_rss_by_their_byte_budget_only() -> None:
    """3,000 users who each liked 40 resumes and skipped 160 (their likes and skips
    through a few dozen feeds), no Redis: the profiles' RSS stays within their byte
    budget plus a margin (measured: 24 MB for an estimate of 32 MiB). Capped by a count
    of profiles alone, they held every field: 74 MB."""
    store = MemoryStore(keep_archive=False)
    budget = store.profile_max_bytes
    before = rss_bytes()
    for user in range(3_000):
        fields = {str(1_000_000 + user * 200 + i): 1.0 for i in range(40)}
        fields.update({f"s{2_000_000 + user * 200 + i}": 1.0 for i in range(160)})
        store.add_profiles({f"pitchrec:profile:{user}": fields}, ttl=86_400)
    grown = rss_bytes() - before
    assert grown < budget + 16 * MB, f"RSS grew {grown / MB:.0f} MB, budget {budget / MB:.0f}"
    assert 0 < store.profile_bytes_held() <= budget
    newest = store.read_request_state(None, "pitchrec:profile:2999")[1]
    assert len(newest) == 200  # the most recently written are kept whole
