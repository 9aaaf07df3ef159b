"""What a served feed writes, and what feedback archives: the tracking facade.

The request path writes a feed's tracking (legacy activity, session set, impressions,
archive entries) in one pipelined round trip before the response leaves, so a replica
killed after answering loses nothing it served; POST /v1/events archives its events the
same way before the 202. When Redis fails, writes go to a bounded spool behind a circuit
breaker (which answers at once while open) and are replayed by the feedback loop's
thread (:mod:`pitchrec.learning.feedback`), which also turns the events into learning.
Archive rows the event stream refuses at its cap wait in the same spool, counted
(:mod:`pitchrec.tracking.stream_cap`).

Measured alternatives (bench/RESULTS.md): queueing the writes for the background thread
kept p50 close but made p99 4x worse (the thread's bursts held the GIL) and lost up to
20 ms of a killed replica's traffic.

What is written names the *parsed* user only: ``user_activity:{id}`` and the events'
``user_id`` hold a valid id or the cold-start user 0 (the legacy's key for an absent
``SELF_ID``), never the value a client sent, which went verbatim into keys and every
event (three 100 KB ``SELF_ID`` strings added 17.6 MB to Redis). The request id that keys
impressions and archive rows must be server-made (the API makes one per request); a
client's ``X-Request-ID`` merged two users' impressions and archive rows.

The only synchronous Redis read is the request state: the session set (``SMEMBERS``, when
the client sends a ``session_id``) and the user's taste profile (``HGETALL``, for a known
user), in one round trip behind the breaker and a short timeout.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pitchrec.domain.activity import ArchiveRow
from pitchrec.domain.events import FeedbackEvent, Impression
from pitchrec.domain.feed import Feed, ItemKind
from pitchrec.domain.profile import EMPTY_PROFILE, TasteProfile
from pitchrec.legacy import events as legacy
from pitchrec.tracking.resilience import CircuitBreaker, Spool
from pitchrec.tracking.store import (
    FeedWrites,
    TrackingStore,
    impression_field,
    impression_key,
    parse_profile,
    profile_key,
)
from pitchrec.tracking.stream_cap import StreamCap, hold_archive

log = logging.getLogger(__name__)
_SESSION_SAFE = re.compile(r"[^A-Za-z0-9._-]")
BATCH = 256  # spooled writes handled per round trip (times 4), within REPLAY_BYTES

MiB = 1 << 20
#: Default budget of the spool, estimated bytes (:func:`spooled_bytes`), per process.
#: The pod limit is 512Mi (deploy/k8s/base/deployment.yaml) for two workers at 104-114 MB
#: RSS each plus a 12 MB parent (about 230 MiB): two full 64 MiB spools bring a pod to
#: about 360 MiB, leaving about 150 MiB for a snapshot rebuild's peak and allocator slack.
#: At a worker's full load (about 236 feeds/s, 41 KB each estimated) that is about 7 s of
#: tracking; at 10 feeds/s about 2.5 minutes. Beyond it the oldest writes are dropped and
#: counted, where an entry cap of 100,000 let every pod reach its limit together.
SPOOL_MAX_BYTES = 64 * MiB
#: Largest spooled entry of archive rows: a POST of 1,000 feedback events (about 900 KB
#: in RSS) is spooled as about 14 entries, so it evicts only as much as it needs.
MAX_ENTRY_BYTES = 64 * 1024
#: Spooled bytes replayed per round trip (plus the request's own writes, and at least one
#: entry): a replay on the request path or the feedback thread stays a bounded pipeline.
REPLAY_BYTES = 1 * MiB

#: Measured per-object overheads of CPython 3.11+ on 64-bit (see :func:`spooled_bytes`).
STR_OVERHEAD = 56  # a str's header (49 bytes, ASCII) plus its pointer in the list/dict
ROW_OVERHEAD = 540  # an ArchiveRow (object, __dict__, ints, allocator slack), strings aside


def spooled_bytes(writes: FeedWrites) -> int:
    """Estimated RSS of ``writes`` while spooled, in bytes: the lengths of its strings
    (keys, activity events, session members, impression fields and JSON, archive rows'
    ids, descriptions, properties and other fields) plus a fixed overhead per string
    and per archive row.

    The string lengths alone undercount the Python objects: measured with VmRSS
    (tests/unit/test_spool_bytes.py, CPython 3.11+, 64-bit), a spooled v1 feedback row
    costs about 714 bytes alone and about 905 bytes in place (allocator slack left by the
    events that built it) for 358 bytes of strings (2.5x), and a 25-item feed about
    32.5 KB for 22.0 KB of strings (1.5x). With the overheads the estimate is about
    900 bytes a feedback row (1.0x the RSS measured in place) and about 41 KB a feed
    (1.25x: a feed row's ``properties`` is the same string as its activity event,
    counted twice), so the RSS the spool holds stays within its byte budget."""
    size = len(writes.activity_key or "") + len(writes.session_key) + len(writes.impressions_key)
    size += sum(map(len, writes.activity_events)) + sum(map(len, writes.session_members))
    size += STR_OVERHEAD * (len(writes.activity_events) + len(writes.session_members))
    size += sum(len(k) + len(v) + 2 * STR_OVERHEAD for k, v in writes.impressions.items())
    return size + sum(map(_row_bytes, writes.archive))


def _row_bytes(row: ArchiveRow) -> int:
    size = ROW_OVERHEAD + len(row.event_id) + len(row.log_name) + len(row.description)
    size += len(row.subject_type or "") + len(row.causer_type or "")
    return size + len(row.properties) + len(row.url) + len(row.created_at)


@dataclass(frozen=True)
class TrackingConfig:
    activity_ttl: int = 86_400  # spec 4.2, ACTIVITY_TTL_SECONDS
    session_ttl: int = 3_600  # spec 4.2, SESSION_TTL_SECONDS
    impression_ttl: int = 7_200  # long enough for a reward to find its impression
    impressions_as_views: bool = True  # D-C11/D-C12: the legacy "served = seen" loop
    spool_max_bytes: int = SPOOL_MAX_BYTES  # estimated bytes kept while Redis is down
    taste_profiles: bool = True  # read the user's taste profile with the session set


@dataclass(frozen=True)
class RequestState:
    """What the store knows about a request's user: ids the session already got and the
    user's taste profile."""

    seen: frozenset[int] = frozenset()
    profile: TasteProfile = EMPTY_PROFILE


NO_STATE = RequestState()


@dataclass
class FeedContext:
    """What the legacy tracking payload needs besides the feed itself."""

    #: The user id as received. Not written: tracking writes the parsed
    #: ``feed.request.user_id`` (see the module docstring); kept for callers.
    raw_user: object
    endpoint: str  # total | discover | flow
    params: dict[str, Any]
    session_id: str | None
    request_id: str  # server-made, unique per request: impression key, archive event ids
    feed_type: Callable[[str], str]  # slot label -> legacy feed_type
    urls: dict[tuple[str, int], str]  # (kind, id) -> media URL


@dataclass
class TrackerStats:
    feeds: int = 0
    write_errors: int = 0
    session_read_errors: int = 0
    round_trips: int = 0


def session_key(user: int | None, session_id: str | None, now: float) -> str:
    """Namespaced session key (D-S10): never the client's string verbatim."""
    who = "anon" if user is None else str(user)
    if session_id:
        return f"session:{who}:{_SESSION_SAFE.sub('_', session_id)[:128]}"
    return f"session:{who}:{int(now)}"  # the legacy per-second key


class Tracker:
    """Writes what feeds and feedback leave behind (one round trip each, or the spool)
    and reads the request state."""

    def __init__(self, store: TrackingStore, config: TrackingConfig | None = None) -> None:
        self.store = store
        self.config = config or TrackingConfig()
        self.breaker = CircuitBreaker()
        self.spool: Spool[FeedWrites] = Spool(self.config.spool_max_bytes, spooled_bytes)
        self.stats = TrackerStats()
        self.stream = StreamCap(store, self.breaker)

    def counters(self) -> dict[str, float]:
        """Gauges for the metrics endpoint."""
        return {
            "spooled": float(len(self.spool)),
            "spool_dropped": float(self.spool.dropped),
            "spool_bytes": float(self.spool.bytes),
            "spool_dropped_bytes": float(self.spool.dropped_bytes),
            "write_errors": float(self.stats.write_errors),
            "round_trips": float(self.stats.round_trips),
            "stream_refused": float(self.stream.refused),
            "stream_backlog": self.stream.backlog.value(),
        }

    # -- request path ---------------------------------------------------------------

    def request_state(self, user: int | None, session_id: str | None) -> RequestState:
        """The session's served ids and the user's taste profile, in one round trip;
        nothing to read (anonymous, no session) or Redis failing: the empty state."""
        session = session_key(user, session_id, 0) + ":videos" if session_id else None
        profile = profile_key(user) if user is not None and self.config.taste_profiles else None
        if (session is None and profile is None) or not self.breaker.allow():
            return NO_STATE
        try:
            members, fields = self.store.read_request_state(session, profile)
        except Exception:
            self.breaker.failure()
            self.stats.session_read_errors += 1
            return NO_STATE
        self.breaker.success()
        return RequestState(
            seen=frozenset(int(m) for m in members if m.isascii() and m.isdigit()),
            profile=parse_profile(fields),
        )

    def record_feed(self, feed: Feed, context: FeedContext, policy_version: int) -> None:
        """Write the feed's tracking in one pipelined round trip before the response
        leaves: a replica killed after answering has already written what it served.
        With Redis down the writes go to the spool (the circuit breaker answers at once)."""
        writes = self._feed_writes(feed, context, policy_version, legacy.now_iso(), time.time())
        self.stats.feeds += 1
        self._send([writes])

    def archive_feedback(self, events: Sequence[FeedbackEvent]) -> None:
        """Archive feedback events durably (one round trip, or the spool), as writes of
        at most :data:`MAX_ENTRY_BYTES` each: a large batch is several spool entries."""
        writes: list[FeedWrites] = []
        chunk: list[ArchiveRow] = []
        chunk_bytes = 0
        for event in events:
            row = legacy.feedback_row(
                event, legacy.stable_event_id("v1", event.user_id, event.event_id)
            )
            size = _row_bytes(row)
            if chunk and chunk_bytes + size > MAX_ENTRY_BYTES:
                writes.append(FeedWrites(archive=chunk))
                chunk, chunk_bytes = [], 0
            chunk.append(row)
            chunk_bytes += size
        if chunk:
            writes.append(FeedWrites(archive=chunk))
        self._send(writes)

    def replay_spool(self) -> bool:
        """Send what the spool holds (Redis was down); False while Redis still refuses."""
        return self._send([]) if len(self.spool) else True

    def _feed_writes(
        self, feed: Feed, ctx: FeedContext, policy_version: int, timestamp: str, now: float
    ) -> FeedWrites:
        cfg = self.config
        user = feed.request.user_id
        tracked = legacy.COLD_START_USER if user is None else user
        session = session_key(user, ctx.session_id, now)
        request_event = legacy.feed_request_event(
            tracked, ctx.endpoint, ctx.params, timestamp, session
        )
        request_json = legacy.dumps(request_event)
        events = [request_json]
        archive = [
            legacy.request_row(
                request_event, legacy.stable_event_id(ctx.request_id, 0), request_json
            )
        ]
        impressions: dict[str, str] = {}
        for item in feed.items:
            kind = item.kind.value
            view = legacy.video_view_event(
                tracked,
                item.item_id,
                ctx.urls.get((kind, item.item_id), ""),
                item.position,
                ctx.feed_type(item.slot.value),
                timestamp,
                session,
            )
            view_json = legacy.dumps(view)
            events.append(view_json)
            archive.append(
                legacy.impression_row(
                    view,
                    legacy.stable_event_id(ctx.request_id, item.position),
                    view_json,
                    is_challenge=item.kind is ItemKind.CHALLENGE,
                    impressions_as_views=cfg.impressions_as_views,
                )
            )
            impressions[impression_field(kind, item.item_id)] = Impression(
                pool=item.pool.value,
                slot=item.slot.value,
                position=item.position,
                score=item.score,
                propensity=item.propensity,
                policy_version=policy_version,
                context=item.context,
                user_id=user,
                ts=timestamp,
            ).to_json()
        # The legacy key (spec 4.2), of the parsed user: never ``user_activity:None``.
        return FeedWrites(
            activity_key=f"user_activity:{tracked}",
            activity_events=events,
            activity_ttl=cfg.activity_ttl,
            session_key=session + ":videos",
            session_members=[str(item.item_id) for item in feed.items],
            session_ttl=cfg.session_ttl,
            impressions_key=impression_key(ctx.request_id),
            impressions=impressions,
            impressions_ttl=cfg.impression_ttl,
            archive=archive,
        )

    def _send(self, writes: list[FeedWrites]) -> bool:
        if not writes and not len(self.spool):
            return True
        if not self.breaker.allow():
            self.spool.put(writes)
            return False
        offered = self.stream.breaker.allow()  # False for a while after a refusal
        held: list[FeedWrites] = []
        if offered:
            replayed = self.spool.take(4 * BATCH, REPLAY_BYTES)
            sending = replayed + writes
        else:  # the stream is at its cap: this write's archive rows wait unoffered
            replayed = []
            sending, held = hold_archive(writes)
        refused: list[FeedWrites] = []
        if sending:
            try:
                # ``or []``: a store whose write_feed predates the refused writes it returns.
                refused = self.store.write_feed(sending) or []
            except Exception:
                self.breaker.failure()
                self.stats.write_errors += 1
                self.spool.put_back(replayed)
                self.spool.put(writes)
                return False
            self.breaker.success()
            self.stats.round_trips += 1
        waiting = self.stream.settle(writes, refused, held, offered=offered)
        self.spool.put(waiting)
        return offered and not waiting
