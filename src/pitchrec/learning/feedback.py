"""The feedback loop: feedback events in, learning out.

``record_events`` archives the events durably (one round trip, before the 202) and
queues them. One background thread then, every tick: replays the tracking spool (Redis
was down), looks up the impressions the queued events refer to (one round trip), turns
each matched event into a reward for the pool's policy and, for positive rewards, into
the user's taste profile (:mod:`pitchrec.learning.profiles`), and syncs the learner:
within a tick when something new was learned, every second regardless.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence

import numpy as np

from pitchrec.domain.events import FeedbackEvent, Impression
from pitchrec.domain.feed import ItemKind, Pool
from pitchrec.learning import profiles
from pitchrec.learning.experiment import ExperimentMonitor
from pitchrec.learning.feedback_config import (
    EVENT_BATCH,
    FLUSH_SECONDS,
    ITEMS_SYNC_BUDGET,
    ITEMS_SYNC_SECONDS,
    FeedbackStats,
    LearningConfig,
)
from pitchrec.learning.learner import SYNC_SECONDS, PolicyLearner
from pitchrec.learning.rewards import reward
from pitchrec.legacy.events import stable_event_id
from pitchrec.policies.base import Policy
from pitchrec.tracking.store import event_claim_key, impression_field, impression_key
from pitchrec.tracking.tracker import Tracker

__all__ = [  # the configuration lives in .feedback_config; importers keep this path
    "EVENT_BATCH",
    "FLUSH_SECONDS",
    "ITEMS_SYNC_BUDGET",
    "ITEMS_SYNC_SECONDS",
    "FeedbackLoop",
    "FeedbackStats",
    "LearningConfig",
    "PolicyListener",
    "VariantPolicyListener",
]
log = logging.getLogger(__name__)

#: The blend search's statistics ignore contexts (Thompson sampling per arm).
_NO_CONTEXT = np.zeros(1, dtype=np.float64)
PolicyListener = Callable[[dict[Pool, Policy]], None]
#: Receives a non-control experiment variant's serving policies after each of its syncs.
VariantPolicyListener = Callable[[str, dict[Pool, Policy]], None]


class FeedbackLoop:
    """Turns feedback into learning; ``on_policies`` receives the serving policies after
    every successful sync (None: learning is recorded but never served).

    With an ``experiment``, rewards go to the learner of the variant that served their
    impression (``variants``: the non-control variants' learners; the control's is
    ``learner``), ``on_variant_policies`` receives those variants' policies, and matched
    feedback is counted per variant (:mod:`pitchrec.learning.experiment`)."""

    def __init__(
        self,
        tracker: Tracker,
        learner: PolicyLearner,
        config: LearningConfig | None = None,
        on_policies: PolicyListener | None = None,
        *,
        variants: Mapping[str, PolicyLearner] | None = None,
        experiment: ExperimentMonitor | None = None,
        blend: PolicyLearner | None = None,
        items: PolicyLearner | None = None,
    ) -> None:
        self.tracker = tracker
        self.learner = learner
        self.variants = dict(variants or {})
        self.experiment = experiment
        self.on_variant_policies: VariantPolicyListener | None = None
        #: The blend search's statistics (:mod:`pitchrec.ranking.blend_search`) and who serves them.
        self.blend = blend
        self.on_blend: PolicyListener | None = None
        #: The per-resume statistics of the live prior (:mod:`pitchrec.ranking.live_prior`)
        #: and who serves them.
        self.items = items
        self.on_items: PolicyListener | None = None
        self.config = config or LearningConfig()
        self.on_policies = on_policies
        self.stats = FeedbackStats()
        self._events: deque[FeedbackEvent] = deque()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_sync = 0.0
        self._observed_at_sync = 0
        self._items_due = 0.0  # monotonic time of the next per-resume sync
        #: Set once the thread's first sync was attempted (whatever its outcome): start-up
        #: waits for it, so a new replica serves what the others learned from its first feed.
        self.first_sync = threading.Event()

    def counters(self) -> dict[str, float]:
        """Gauges for the metrics endpoint."""
        return {
            "events_matched": float(self.stats.events_matched),
            "profile_rewards": float(self.stats.profile_rewards),
            "sync_errors": float(self.learner.sync_errors),
            "events_duplicate": float(self.stats.events_duplicate),
            "events_foreign": float(self.stats.events_foreign),
            "events_variant_gone": float(self.stats.events_variant_gone),
            "events_context_mismatch": float(self.learner.mismatched),
        }

    def record_events(self, events: Sequence[FeedbackEvent]) -> int:
        """Archive the events durably, then queue them for the thread, which finds their
        impressions and feeds the learner. Returns how many were accepted."""
        self.tracker.archive_feedback(events)
        self._events.extend(events)
        self.stats.events += len(events)
        return len(events)

    # -- the thread -----------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="pitchrec-feedback", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Flush what is queued (and publish the learning), then stop the thread."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._thread = None

    def _run(self) -> None:
        self.sync_now()  # the shared learning first, before any tick (see ``first_sync``)
        while True:
            self._wake.wait(timeout=FLUSH_SECONDS)
            self._wake.clear()
            self.process_once()
            if self.experiment is not None:
                self.experiment.tick()
            if self._stop.is_set():
                self.process_once()
                self.sync_now()
                return
            since = time.monotonic() - self._last_sync
            fresh = self.learner.observed != self._observed_at_sync
            # Publish new learning within a tick (pull every second regardless), so other
            # replicas see a reward within about one sync period.
            if since >= SYNC_SECONDS or (fresh and since >= 5 * FLUSH_SECONDS):
                self.sync_now(items=time.monotonic() >= self._items_due)

    def sync_now(self, *, items: bool = True) -> None:
        """Publish and pull what every learner learned; ``items``: the live prior's
        per-resume statistics too (the server's loop asks only every
        :data:`ITEMS_SYNC_SECONDS`; a caller that syncs once per period, as the lab's
        instruments, always)."""
        self._last_sync = time.monotonic()
        self._observed_at_sync = self.learner.observed
        try:
            if self.learner.sync() and self.on_policies is not None:
                self.on_policies(self.learner.serving)
            for name, learner in self.variants.items():
                if learner.sync() and self.on_variant_policies is not None:
                    self.on_variant_policies(name, learner.serving)
            blend = self.blend
            if blend is not None and blend.sync() and self.on_blend is not None:
                self.on_blend(blend.serving)
            if items and self.items is not None:
                self._sync_items(self.items)
        finally:
            self.first_sync.set()

    def _sync_items(self, learner: PolicyLearner) -> None:
        started = time.monotonic()
        if learner.sync() and self.on_items is not None:
            self.on_items(learner.serving)
        took = time.monotonic() - started
        self._items_due = started + max(ITEMS_SYNC_SECONDS, took / ITEMS_SYNC_BUDGET)

    def process_once(self) -> bool:
        """Replay what the tracking spool holds, then learn from the queued events. False
        when Redis still refuses the spooled writes."""
        ok = self.tracker.replay_spool()
        while self._events:
            batch = [self._events.popleft() for _ in range(min(EVENT_BATCH, len(self._events)))]
            self._learn(batch)
        return ok

    def _learn(self, events: list[FeedbackEvent]) -> None:
        breaker, store = self.tracker.breaker, self.tracker.store
        candidates = [e for e in events if e.request_id]
        if not candidates or not breaker.allow():
            return
        try:
            fresh, firsts = self._first_arrivals(candidates)
            if not fresh:
                return
            lookups = [
                (impression_key(e.request_id or ""), impression_field(e.item_type, e.item_id))
                for e in fresh
            ]
            found = store.read_impressions(lookups)
        except Exception:
            breaker.failure()
            return
        increments: dict[str, dict[str, float]] = {}
        credited = 0
        evidence: list[tuple[int, float]] = []  # (resume id, reward) for the live prior
        for event, raw, first in zip(fresh, found, firsts, strict=True):
            credited += self._learn_one(
                event, self._impression(event, raw), first, increments, evidence
            )
        items = self.items
        if items is not None and evidence:  # one update per batch (about 0.1 ms each)
            ids, amounts = zip(*evidence, strict=True)
            items.observe_many(items.pools[0], np.asarray(ids, dtype=np.int64), np.asarray(amounts))
        if self.experiment is not None:
            self.tracker.record_counters(*self.experiment.take_counters())
        if increments:
            try:
                store.add_profiles(increments, self.config.profile_ttl)
            except Exception:
                breaker.failure()  # the bandit learned; this taste evidence is lost
                return
            self.stats.profile_rewards += credited

    def _learn_one(
        self,
        event: FeedbackEvent,
        impression: Impression | None,
        first: bool,
        increments: dict[str, dict[str, float]],
        evidence: list[tuple[int, float]],
    ) -> int:
        """Learn from one matched event (its variant's policy, the taste profile, the
        experiment's counters; a resume's reward is appended to ``evidence``); returns
        the profile credits it added."""
        if impression is None:
            return 0
        if self.experiment is not None:
            self.experiment.observe_feedback(event, impression, first)
        amount = reward(event.type, event.value, self.config.rewards)
        if amount is None:
            return 0
        if impression.context and self._observe(impression, event, amount):
            self.stats.events_matched += 1
        blend = self.blend
        if impression.blend_arm is not None and blend is not None:  # its one table
            blend.observe(blend.pools[0], _NO_CONTEXT, impression.blend_arm, amount)
        if event.item_type == ItemKind.RESUME.value:  # any pool's
            evidence.append((event.item_id, amount))
        if not self.config.taste_profiles:
            return 0
        return profiles.credit(
            increments, event, impression, amount, skips=self.config.profile_skips
        )

    def _first_arrivals(
        self, events: list[FeedbackEvent]
    ) -> tuple[list[FeedbackEvent], list[bool]]:
        """The events no replica has learned from yet (one round trip), first copies only,
        and for each whether it is the first of its type on its impression (with an
        experiment: claimed in the same round trip; :meth:`ExperimentMonitor.once_key`)."""
        keys = [event_claim_key(stable_event_id("v1", e.user_id, e.event_id)) for e in events]
        experiment = self.experiment
        once = [experiment.once_key(e) if experiment else None for e in events]
        extra = [key for key in once if key is not None]
        claimed = self.tracker.store.claim_events(keys + extra, self.config.claim_ttl)
        arrivals, once_claimed = claimed[: len(keys)], iter(claimed[len(keys) :])
        self.stats.events_duplicate += arrivals.count(False)
        firsts = [next(once_claimed) if key is not None else False for key in once]
        kept = [i for i, first in enumerate(arrivals) if first]
        return [events[i] for i in kept], [firsts[i] for i in kept]

    def _impression(self, event: FeedbackEvent, raw: str | None) -> Impression | None:
        """The event's impression when it exists, is readable and was served to the
        event's user (anonymous feeds are user 0's, as the legacy API's default)."""
        if raw is None:
            return None
        try:
            impression = Impression.from_json(raw)
        except (ValueError, KeyError, TypeError):
            log.warning("unreadable impression ignored", extra={"event_id": event.event_id})
            return None
        served_to = 0 if impression.user_id is None else impression.user_id
        if served_to != event.user_id:
            self.stats.events_foreign += 1
            return None
        return impression

    def _observe(self, impression: Impression, event: FeedbackEvent, amount: float) -> bool:
        try:
            pool = Pool(impression.pool)
        except ValueError:
            return False
        learner = self._learner_of(impression)
        if learner is None:
            self.stats.events_variant_gone += 1
            return False
        context = np.asarray(impression.context, dtype=np.float64)
        return learner.observe(pool, context, event.item_id, amount)

    def _learner_of(self, impression: Impression) -> PolicyLearner | None:
        """The learner of the policies that scored ``impression``: the control's (the
        deployment's) unless a non-control variant of the running experiment served it;
        None when a variant that is no longer configured did."""
        if impression.assignment is None:
            return self.learner
        experiment = self.experiment
        assignment = experiment.current(impression) if experiment is not None else None
        if experiment is None or assignment is None:
            return None
        if assignment.variant == experiment.spec.control:
            return self.learner
        return self.variants.get(assignment.variant)
