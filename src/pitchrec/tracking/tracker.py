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

A slow Redis (issue 15, item 5) is gone around, not waited on: feeds are computed on one
thread per process, so every millisecond a round trip takes is a millisecond no feed is
computed (120 ms added per round trip gave 8 clients 2.8 feeds/s at p50 2.7 s, and no
error, since the breaker opened on failures only; bench/slow_redis.py measured 4.0
feeds/s at p50 2.0 s, against 128 through its proxy without the delay). Request-path
round trips are timed into a :class:`~pitchrec.tracking.resilience.LatencyBreaker`; once
it opens, the request state is the empty state (no session exclusions, no online taste
profile: the feed the snapshot's history alone gives) and the writes go to the spool
(counted in ``deferred``), where background writer threads replay them (``replayed``),
several round trips in flight at once. The feedback thread probes with a PING every
second and closes the breaker on a fast one. Writes waiting in the spool are lost if the
process is killed (SIGKILL) before they are replayed, as during an outage;
``Runtime.stop`` flushes them.
With the breaker the same bench served 111-148 % of the feeds/s of the run through the
proxy without delay (four runs, 150-190 feeds/s; 83-139 % of the run without the proxy,
on a noisy machine), every row in the stream afterwards, none twice: the feed thread no
longer waits on Redis at all (the deferred writes are the writer threads' to encode).

The request path replays nothing: the spool is the background threads' (the feedback
thread's tick and the writers), so a request's round trip carries its own writes only and
its time measures Redis, not the size of a backlog.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pitchrec.domain.activity import ArchiveRow
from pitchrec.domain.events import FeedbackEvent, Impression
from pitchrec.domain.experiment import Assignment
from pitchrec.domain.feed import Feed, ItemKind
from pitchrec.domain.profile import EMPTY_PROFILE, TasteProfile
from pitchrec.domain.shadow import MAX_PROPERTIES_BYTES, ShadowLog
from pitchrec.errors import TrackingFullError
from pitchrec.legacy import events as legacy
from pitchrec.sources.schema import USER_MODEL_TYPE
from pitchrec.tracking.experiment_writes import feed_counters, feedback_tags
from pitchrec.tracking.resilience import CircuitBreaker, LatencyBreaker, Spool
from pitchrec.tracking.sizes import row_bytes, spooled_bytes
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
#: Spooled bytes replayed per round trip (at least one entry): a replay by the feedback
#: thread or a writer thread stays a bounded pipeline.
REPLAY_BYTES = 1 * MiB

#: Seconds above which a request-path round trip is slow: the latency breaker opens when
#: the median of the last :data:`SLOW_WINDOW` is above it. Measured with a healthy local
#: Redis under load (bench/slow_redis.py, in process: 8 clients, one feed thread, 1,870 to
#: 3,220 feeds in each of three runs): the request state read took p50 0.16-0.23 ms, p99
#: 0.3-4.9 ms, the feed write p50 0.6-0.75 ms, p99 1.2-7.0 ms, at most 13.5 ms (the tail
#: is a thread waiting out the 5 ms GIL switch interval), and the breaker never opened in
#: the bench's runs without delay. A median of 8 above 25 ms is not a healthy Redis;
#: 120 ms added puts every round trip above it. Below it a slow Redis still costs feeds
#: what each round trip takes (at 10 ms a round trip, most of a worker's throughput).
SLOW_ROUND_TRIP_SECONDS = 0.025
#: Round trips the latency breaker's median is taken over.
SLOW_WINDOW = 8
#: Seconds between probes (a PING from the feedback thread) while Redis is slow.
PROBE_SECONDS = 1.0
#: Background writer threads replaying the spool while Redis is slow, each with one round
#: trip in flight. One round trip replays about 25 feeds (:data:`REPLAY_BYTES`), so at
#: 120 ms a thread writes at most about 170 feeds/s, less while a busy worker holds the
#: GIL. Measured at +120 ms: in process (the slow-Redis integration test, 230-385 feeds/s)
#: two writers fell 400-800 writes (13-27 MB) behind in 4 s, a full spool within about
#: 10 s, four kept up (1-32 waiting); over HTTP (bench/slow_redis.py, 170-190 feeds/s) 1-18
#: were waiting at the end of 10 s, none dropped. Idle threads cost nothing.
WRITER_THREADS = 4
#: Seconds a writer waits before trying again while Redis refuses what the spool holds.
WRITER_RETRY_SECONDS = 0.05
#: Seconds ``flush`` (a server stopping) replays the spool at most.
FLUSH_SECONDS = 10.0


@dataclass(frozen=True)
class TrackingConfig:
    activity_ttl: int = 86_400  # spec 4.2, ACTIVITY_TTL_SECONDS
    session_ttl: int = 3_600  # spec 4.2, SESSION_TTL_SECONDS
    impression_ttl: int = 7_200  # long enough for a reward to find its impression
    impressions_as_views: bool = True  # D-C11/D-C12: the legacy "served = seen" loop
    spool_max_bytes: int = SPOOL_MAX_BYTES  # estimated bytes kept while Redis is down
    taste_profiles: bool = True  # read the user's taste profile with the session set
    #: Seconds above which a request-path round trip is slow (0: never go around Redis).
    slow_round_trip: float = SLOW_ROUND_TRIP_SECONDS
    #: An experiment runs: archived feedback carries the variant of its impression (read
    #: in the events' round trip's stead: one more round trip per POST /v1/events).
    tag_feedback: bool = False


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
    #: The experiment variant that served the feed (None: no experiment).
    assignment: Assignment | None = None
    #: The blend-search arm (statistics key) that set the feed's points (None: off).
    blend_arm: int | None = None


@dataclass
class TrackerStats:
    feeds: int = 0
    write_errors: int = 0
    session_read_errors: int = 0
    round_trips: int = 0
    #: Writes the request path spooled because Redis was slow (not waited on).
    deferred: int = 0
    #: Request states not read because Redis was slow (the feed used the empty state).
    state_skipped: int = 0
    #: Spooled writes written later (after an outage, a slow spell or a full stream).
    replayed: int = 0
    #: Feedback events refused (503) because the spool held its budget of events.
    events_refused: int = 0


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
        self.latency = LatencyBreaker(self.config.slow_round_trip, SLOW_WINDOW, PROBE_SECONDS)
        self.spool: Spool[FeedWrites] = Spool(
            self.config.spool_max_bytes, spooled_bytes, precious=lambda writes: writes.feedback
        )
        self.stats = TrackerStats()
        self.stream = StreamCap(store, self.breaker)
        self._writers: list[threading.Thread] = []
        self._writers_lock = threading.Lock()
        self._wake_writers = threading.Event()
        self._count_lock = threading.Lock()  # stats counted from several threads
        self._in_flight = 0  # spooled writes taken for a replay not yet settled
        self._replay_store: TrackingStore | None = None

    @property
    def pending(self) -> int:
        """Writes not yet in Redis: spooled, or taken from the spool by a replay that has
        not finished."""
        with self._count_lock:
            return len(self.spool) + self._in_flight

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
            "deferred": float(self.stats.deferred),
            "state_skipped": float(self.stats.state_skipped),
            "replayed": float(self.stats.replayed),
            "events_refused": float(self.stats.events_refused),
            "redis_slow": 0.0 if self.latency.closed else 1.0,
            "redis_slow_opened": float(self.latency.opened),
        }

    # -- request path ---------------------------------------------------------------

    def request_state(self, user: int | None, session_id: str | None) -> RequestState:
        """The session's served ids and the user's taste profile, in one round trip;
        nothing to read (anonymous, no session) or Redis failing: the empty state."""
        session = session_key(user, session_id, 0) + ":videos" if session_id else None
        profile = profile_key(user) if user is not None and self.config.taste_profiles else None
        if session is None and profile is None:
            return NO_STATE
        if not self.latency.closed:  # Redis is slow: the feed does not wait for it
            self.stats.state_skipped += 1
            return NO_STATE
        if not self.breaker.allow():
            return NO_STATE
        started = time.perf_counter()
        try:
            members, fields = self.store.read_request_state(session, profile)
        except Exception:
            self.latency.observe(time.perf_counter() - started)
            self.breaker.failure()
            self.stats.session_read_errors += 1
            return NO_STATE
        self.latency.observe(time.perf_counter() - started)
        self.breaker.success()
        return RequestState(
            seen=frozenset(int(m) for m in members if m.isascii() and m.isdigit()),
            profile=parse_profile(fields),
        )

    def record_feed(self, feed: Feed, context: FeedContext, policy_version: int) -> None:
        """Write the feed's tracking in one pipelined round trip before the response
        leaves: a replica killed after answering has already written what it served.
        With Redis down the writes go to the spool (the circuit breaker answers at once);
        with Redis slow too (the latency breaker), replayed by the writer threads."""
        writes = self._feed_writes(feed, context, policy_version, legacy.now_iso(), time.time())
        self.stats.feeds += 1
        self._write([writes])

    def archive_feedback(self, events: Sequence[FeedbackEvent]) -> None:
        """Archive feedback events durably (one round trip, or the spool), as writes of
        at most :data:`MAX_ENTRY_BYTES` each: a large batch is several spool entries."""
        writes: list[FeedWrites] = []
        chunk: list[ArchiveRow] = []
        chunk_bytes = 0
        tags = self._feedback_tags(events)
        for event, tag in zip(events, tags, strict=True):
            row = legacy.feedback_row(
                event, legacy.stable_event_id("v1", event.user_id, event.event_id), tag
            )
            size = row_bytes(row)
            if chunk and chunk_bytes + size > MAX_ENTRY_BYTES:
                writes.append(FeedWrites(archive=chunk, feedback=True))
                chunk, chunk_bytes = [], 0
            chunk.append(row)
            chunk_bytes += size
        if chunk:
            writes.append(FeedWrites(archive=chunk, feedback=True))
        # Accepted events are never dropped from the spool (feeds' writes make room), so
        # when the spool already holds its budget of events, new ones are refused rather
        # than accepted and lost (hardening: a 10-minute outage lost 262,490 before).
        if not self.spool.has_room_for(sum(spooled_bytes(w) for w in writes)):
            self.stats.events_refused += len(events)
            raise TrackingFullError("the tracking spool is full of unwritten events")
        self._write(writes)

    def _feedback_tags(self, events: Sequence[FeedbackEvent]) -> list[dict[str, str | None] | None]:
        """The experiment tags of each event's impression (one round trip), when an
        experiment runs and Redis answers quickly; else None for each (archived untagged)."""
        if not (self.config.tag_feedback and self.latency.closed and self.breaker.allow()):
            return [None] * len(events)
        try:
            return feedback_tags(self.store, events)
        except Exception:
            self.breaker.failure()
            return [None] * len(events)

    def record_counters(
        self, counters: dict[str, dict[str, int | float]], ttls: dict[str, int]
    ) -> None:
        """Add experiment counters (the feedback thread's: likes, saves, views) in one
        round trip, or the spool."""
        if counters:
            self._send([FeedWrites(counters=counters, counter_ttls=ttls)], replay=False)

    def record_shadow(self, record: ShadowLog) -> None:
        """Archive a shadow log (:mod:`pitchrec.ranking.shadow`; the shadow thread's) as one
        ``activity_log`` row, in one round trip or the spool. Too large a record (a TEXT
        column) is not written: ValueError, which the shadow sampler counts."""
        row = record.archive_row(
            legacy.stable_event_id(record.request_id, "shadow"), USER_MODEL_TYPE
        )
        if len(row.properties) > MAX_PROPERTIES_BYTES:
            raise ValueError(f"shadow record of {len(row.properties)} bytes not written")
        self._send([FeedWrites(archive=[row])], replay=False)

    def replay_spool(self) -> bool:
        """Send the oldest of what the spool holds (Redis was down or slow) in one round
        trip, after probing Redis when the latency breaker asks for it; False while Redis
        still refuses. The feedback thread calls this every tick."""
        self._probe()
        return self._send([], replay=True) if len(self.spool) else True

    def flush(self, timeout: float = FLUSH_SECONDS) -> bool:
        """Replay the spool until it is empty, Redis refuses, or ``timeout`` seconds have
        passed (a server stopping); True when nothing is left."""
        deadline = time.monotonic() + timeout
        while self.pending and time.monotonic() < deadline:
            if len(self.spool) and not self._send([], replay=True):
                break
            if not len(self.spool):
                time.sleep(0.01)  # a writer thread's round trip is still in flight
        return not self.pending

    # -- slow Redis -----------------------------------------------------------------

    def _write(self, writes: list[FeedWrites]) -> None:
        """The request path's writes: one round trip, timed for the latency breaker; while
        Redis is slow, the spool (the writer threads replay it)."""
        if not writes:
            return
        if self.latency.closed:
            self._send(writes, replay=False)
            return
        with self._count_lock:
            self.stats.deferred += len(writes)
        self.spool.put(writes)
        self._wake()

    def _probe(self) -> None:
        """While Redis is slow, time one PING (at most every :data:`PROBE_SECONDS`): a
        fast one closes the latency breaker. Off the request path."""
        if self.latency.closed or not self.latency.probe_due():
            return
        started = time.perf_counter()
        try:
            self.store.ping()
        except Exception:
            self.breaker.failure()
            self.latency.probed(math.inf)
            return
        self.latency.probed(time.perf_counter() - started)

    def _wake(self) -> None:
        """Wake the writer threads (started at the first write that waits)."""
        if len(self._writers) < WRITER_THREADS:
            with self._writers_lock:
                while len(self._writers) < WRITER_THREADS:
                    writer = threading.Thread(
                        target=self._replay_forever,
                        name=f"pitchrec-tracking-writer-{len(self._writers)}",
                        daemon=True,
                    )
                    writer.start()
                    self._writers.append(writer)
        self._wake_writers.set()

    def _replay_forever(self) -> None:
        """A writer thread: replay the spool while it holds anything, a round trip at a
        time (each thread has one in flight), retrying every :data:`WRITER_RETRY_SECONDS`
        while Redis refuses; sleep when it is empty."""
        while True:
            self._wake_writers.wait(WRITER_RETRY_SECONDS if len(self.spool) else None)
            self._wake_writers.clear()
            try:
                self._probe()
                while len(self.spool) and self._send([], replay=True):
                    pass
            except Exception:  # never let a writer die: the spool would wait for good
                log.exception("tracking writer failed; retrying")
                time.sleep(WRITER_RETRY_SECONDS)

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
        tags = ctx.assignment.tags() if ctx.assignment is not None else None
        if tags:
            request_event.update(tags)
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
            if tags:
                view.update(tags)
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
                assignment=ctx.assignment,
                blend_arm=ctx.blend_arm,
            ).to_json()
        counters, counter_ttls = feed_counters(ctx.assignment, len(feed.items), now)
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
            counters=counters,
            counter_ttls=counter_ttls,
        )

    def _send(self, writes: list[FeedWrites], *, replay: bool) -> bool:
        """One round trip: ``writes`` (the request path's, timed for the latency breaker)
        or, with ``replay``, the oldest spooled writes (at most :data:`REPLAY_BYTES`)."""
        if not writes and not len(self.spool):
            return True
        if not self.breaker.allow():
            self.spool.put(writes)
            return False
        offered = self.stream.breaker.allow()  # False for a while after a refusal
        held: list[FeedWrites] = []
        replayed: list[FeedWrites] = []
        if offered:
            if replay:
                with self._count_lock:  # taken and in flight at once: ``pending`` holds
                    replayed = self.spool.take(4 * BATCH, REPLAY_BYTES)
                    self._in_flight += len(replayed)
            sending = replayed + writes
        else:  # the stream is at its cap: this write's archive rows wait unoffered
            sending, held = hold_archive(writes)
        store = self._background_store() if replay else self.store
        try:
            return self._round_trip(store, writes, replayed, sending, held, offered=offered)
        finally:
            if replayed:
                with self._count_lock:
                    self._in_flight -= len(replayed)

    def _background_store(self) -> TrackingStore:
        """The store replays go through: the store's ``background()`` when it has one
        (Redis: a longer timeout, see :meth:`RedisStore.background`), else the store."""
        with self._writers_lock:
            if self._replay_store is None:
                background = getattr(self.store, "background", None)
                self._replay_store = background() if callable(background) else self.store
            return self._replay_store

    def _round_trip(
        self,
        store: TrackingStore,
        writes: list[FeedWrites],
        replayed: list[FeedWrites],
        sending: list[FeedWrites],
        held: list[FeedWrites],
        *,
        offered: bool,
    ) -> bool:
        refused: list[FeedWrites] = []
        if sending:
            started = time.perf_counter()
            try:
                # ``or []``: a store whose write_feed predates the refused writes it returns.
                refused = store.write_feed(sending) or []
            except Exception:
                if writes:
                    self.latency.observe(time.perf_counter() - started)
                self.breaker.failure()
                self.stats.write_errors += 1
                self.spool.put_back(replayed)
                self.spool.put(writes)
                return False
            if writes:
                self.latency.observe(time.perf_counter() - started)
            self.breaker.success()
            again = {id(w) for w in refused}
            with self._count_lock:
                self.stats.round_trips += 1
                self.stats.replayed += sum(1 for w in replayed if id(w) not in again)
        waiting = self.stream.settle(writes, refused, held, offered=offered)
        self.spool.put(waiting)
        return offered and not waiting
