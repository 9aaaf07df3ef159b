"""The running experiment of a replica: assignment, the shared stop list, the guardrail,
per-variant counting of feedback, and the report.

Shared state lives in the tracking store (Redis when configured, the in-process store
otherwise, with the same semantics): per-variant counters (``pitchrec:exp:{name}:total``
and hourly buckets) grown by every replica's feeds (in the feed's own pipeline) and
feedback (the feedback thread's round trip), and the stopped variants
(``pitchrec:exp:{name}:stopped``, HSETNX). The request path reads neither: it assigns
against :attr:`ExperimentMonitor.stopped`, which the feedback thread refreshes every
:data:`MONITOR_SECONDS` in one round trip (the counters' totals and the stop list), when
it also applies the guardrail. So every replica serves a stopped variant's users the
control within about :data:`MONITOR_SECONDS` of the first replica's decision.

Feedback counts once per impression: the first like, save or view of an impression (per
user), claimed with SET NX in the round trip that claims the events, so a client that
sends two likes with two event ids does not count twice, and the like rate stays a
Bernoulli mean (what :mod:`.sequential` assumes). The variant comes from the impression,
never from the client.

Each process also keeps local counts (impressions, feedback, watch fractions by variant,
pool and position bucket) for its Prometheus series; their labels are bounded: variants
from the settings, pools from the enum, positions bucketed.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from pitchrec.domain.events import FeedbackEvent, Impression
from pitchrec.domain.experiment import Assignment, ExperimentSpec, assign, position_bucket
from pitchrec.domain.feed import FeedItem
from pitchrec.learning.experiment_report import (
    ExperimentReport,
    StopRecord,
    build_series,
    guardrail_verdict,
    parse_totals,
)
from pitchrec.tracking.breakers import CircuitBreaker
from pitchrec.tracking.experiment_writes import Counters, counter_increments
from pitchrec.tracking.store import (
    EXPERIMENT_TTL,
    TrackingStore,
    experiment_hour,
    experiment_key,
    impression_field,
)

log = logging.getLogger(__name__)

#: Seconds between refreshes of the stop list and guardrail checks (one round trip).
MONITOR_SECONDS = 2.0
#: Hourly buckets a report shows: the last 7 days.
REPORT_HOURS = 7 * 24
#: Feedback counted per variant, and the counter field it grows.
COUNTED = {"like": "likes", "save": "saves", "view": "views"}


Labels3 = tuple[str, str, str]  # variant, pool, position bucket
Labels4 = tuple[str, str, str, str]  # variant, pool, position bucket, feedback type


class LocalCounts:
    """This process's experiment counts for Prometheus (thread-safe)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.impressions: Counter[Labels3] = Counter()
        self.feedback: Counter[Labels4] = Counter()
        self.watch: defaultdict[Labels3, float] = defaultdict(float)  # summed watch fractions

    def snapshot(self) -> tuple[dict[Labels3, float], dict[Labels4, float], dict[Labels3, float]]:
        """Copies of (impressions, feedback, watch), taken together."""
        with self.lock:
            return (
                {k: float(v) for k, v in self.impressions.items()},
                {k: float(v) for k, v in self.feedback.items()},
                dict(self.watch),
            )


class ExperimentMonitor:
    """One replica's view of the experiment ``spec`` over ``store``."""

    def __init__(
        self,
        spec: ExperimentSpec,
        store: TrackingStore,
        breaker: CircuitBreaker | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.spec = spec
        self._store = store
        self._breaker = breaker or CircuitBreaker()
        self._clock = clock
        #: Variants the guardrail stopped (on any replica), as last read.
        self.stopped: frozenset[str] = frozenset()
        self.local = LocalCounts()
        self.refresh_errors = 0
        self._next_refresh = 0.0
        self._pending: list[tuple[Counters, dict[str, int]]] = []
        self._totals_key = experiment_key(spec.name, "total")
        self._stopped_key = experiment_key(spec.name, "stopped")

    # -- request path (no I/O) -------------------------------------------------------

    def assign(self, user_id: int | None, session_id: str | None) -> Assignment:
        return assign(self.spec, user_id, session_id, self.stopped)

    def observe_feed(self, items: Sequence[FeedItem], assignment: Assignment) -> None:
        """Count a served feed's items in this process's series (counted feeds only)."""
        if not assignment.counted:
            return
        keys = [(assignment.variant, i.pool.value, position_bucket(i.position)) for i in items]
        with self.local.lock:
            self.local.impressions.update(keys)

    # -- feedback thread -------------------------------------------------------------

    def once_key(self, event: FeedbackEvent) -> str | None:
        """The claim that makes ``event`` the first of its type on its impression (None:
        not a counted type, or no impression named)."""
        if event.type not in COUNTED or not event.request_id:
            return None
        item = impression_field(event.item_type, event.item_id)
        part = f"once:{event.type}:{event.user_id}:{event.request_id}:{item}"
        return experiment_key(self.spec.name, part)

    def current(self, impression: Impression) -> Assignment | None:
        """The impression's assignment when it belongs to this experiment (an impression
        served under another, or before one, has none here)."""
        assignment = impression.assignment
        if assignment is None or assignment.experiment != self.spec.name:
            return None
        return assignment

    def observe_feedback(self, event: FeedbackEvent, impression: Impression, first: bool) -> None:
        """Count ``event`` (already matched to ``impression`` and its user) for the
        impression's variant: in the shared counters when it is the first of its type on
        the impression (``first``) and the impression counts; locally as well."""
        assignment = self.current(impression)
        counted = COUNTED.get(event.type)
        if assignment is None or counted is None or not (first and assignment.counted):
            return
        amounts: dict[str, int | float] = {f"{assignment.variant}:{counted}": 1}
        watch = 0.0
        if event.type == "view" and event.value is not None:
            watch = float(event.value)
            amounts[f"{assignment.variant}:watch"] = watch
        self._pending.append(
            counter_increments(self.spec.name, _hour_of(impression.ts, self._clock()), amounts)
        )
        bucket = position_bucket(impression.position)
        with self.local.lock:
            self.local.feedback[(assignment.variant, impression.pool, bucket, event.type)] += 1
            if event.type == "view":
                self.local.watch[(assignment.variant, impression.pool, bucket)] += watch

    def take_counters(self) -> tuple[Counters, dict[str, int]]:
        """The counter increments observed since the last call, merged."""
        counters: Counters = {}
        ttls: dict[str, int] = {}
        for increments, key_ttls in self._pending:
            for key, fields in increments.items():
                target = counters.setdefault(key, {})
                for name, amount in fields.items():
                    target[name] = target.get(name, 0) + amount
            ttls.update(key_ttls)
        self._pending.clear()
        return counters, ttls

    def tick(self) -> None:
        """Refresh the stop list and apply the guardrail, at most every MONITOR_SECONDS."""
        now = time.monotonic()
        if now >= self._next_refresh:
            self._next_refresh = now + MONITOR_SECONDS
            self.refresh()

    def refresh(self) -> bool:
        """Read the totals and the stop list (one round trip), stop every variant the
        guardrail condemns (HSETNX, rarely), and serve the stop list from now on."""
        if not self._breaker.allow():
            return False
        try:
            totals_fields, stopped_fields = self._store.read_hashes(
                [self._totals_key, self._stopped_key]
            )
            stopped = set(stopped_fields)
            totals = parse_totals(totals_fields, self.spec.names)
            control = totals[self.spec.control]
            now = self._clock()
            for name in self.spec.names:
                if name == self.spec.control or name in stopped:
                    continue
                verdict = guardrail_verdict(self.spec, totals[name], control, now)
                if verdict is not None:
                    self._store.set_field_once(
                        self._stopped_key, name, verdict.to_json(), EXPERIMENT_TTL
                    )
                    log.warning(
                        "experiment variant stopped",
                        extra={"experiment": self.spec.name, "variant": name},
                    )
                    stopped.add(name)
        except Exception:
            self._breaker.failure()
            self.refresh_errors += 1
            log.warning("experiment refresh failed; keeping the last stop list", exc_info=True)
            return False
        self._breaker.success()
        self.stopped = frozenset(stopped)
        return True

    # -- report ----------------------------------------------------------------------

    def report(self) -> ExperimentReport:
        """The experiment's numbers from the shared counters (one round trip: totals, stop
        list and the last :data:`REPORT_HOURS` hourly buckets)."""
        now = self._clock()
        last = experiment_hour(now)
        starts = [last - 3600 * i for i in range(REPORT_HOURS - 1, -1, -1)]
        keys = [self._totals_key, self._stopped_key]
        keys += [experiment_key(self.spec.name, f"h:{start}") for start in starts]
        totals_fields, stopped_fields, *hour_fields = self._store.read_hashes(keys)
        names = self.spec.names
        totals = parse_totals(totals_fields, names)
        hours = [
            (start, parse_totals(f, names)) for start, f in zip(starts, hour_fields, strict=True)
        ]
        stopped = {
            name: StopRecord.from_json(raw) for name, raw in stopped_fields.items() if name in names
        }
        self.stopped = frozenset(stopped_fields)
        return ExperimentReport(self.spec, totals, stopped, build_series(self.spec, totals, hours))


def _hour_of(timestamp: str, now: float) -> int:
    """The counter bucket of an impression served at ``timestamp`` (naive UTC ISO-8601):
    its likes count in the hour of the impression, so an hour's like rate is the rate of
    what was served that hour. ``now``'s hour when it cannot be read."""
    try:
        served = datetime.fromisoformat(timestamp).replace(tzinfo=UTC).timestamp()
    except ValueError:
        served = now
    return experiment_hour(served)
