"""Online learning shared by every replica.

Each replica learns locally into *accumulator* policies (one per pool), and every
:data:`SYNC_SECONDS` it:

1. publishes what it learned since the last sync as commutative increments
   (HINCRBYFLOAT of the flattened statistics deltas, in one atomic, idempotent Lua call);
2. reads the global totals of every pool;
3. builds fresh *serving* policies at the prior plus the totals, and swaps them in.

Nobody reads-modifies-writes shared state, so no update is lost under concurrency; the
serving policies are never mutated while feeds score with them; a restart loses at most
one sync period of local learning. The statistics live under a version key: an operator
resets learning by bumping the version, or rolls back by setting an older one. With a
:class:`~pitchrec.learning.stats_window.StatsWindow`, the totals served are those of the
window's last seconds only, so learning follows a change in what users like.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping

import numpy as np
from numpy.typing import NDArray

from pitchrec.domain.feed import Pool
from pitchrec.learning.stats_window import StatsWindow, epoch_key
from pitchrec.policies.base import Policy
from pitchrec.policies.deltas import N_UPDATES, flatten_delta, unflatten_delta
from pitchrec.tracking.breakers import CircuitBreaker
from pitchrec.tracking.store import TrackingStore, policy_stats_key

log = logging.getLogger(__name__)

SYNC_SECONDS = 1.0  # publish + pull period; replicas agree within about 2 periods

#: Fresh policies at the prior, one per learning pool.
PolicyFactory = Callable[[], dict[Pool, Policy]]


#: The context width of spec 2.4; policies of another width (``learned_blend``: 20) keep
#: their statistics under their own key, so replicas of both kinds never sum each other's.
LEGACY_DIMENSION = 18


def _stats_key(version: int, pool: Pool, policy: Policy, namespace: str = "") -> str:
    """``pitchrec:policy:v{version}:{pool}``, with ``:d{width}`` for a width other than 18,
    then ``namespace`` (a non-control experiment variant's, :func:`variant_namespace`)."""
    dimension = getattr(policy, "dimension", LEGACY_DIMENSION)
    suffix = "" if dimension in (LEGACY_DIMENSION, None) else f":d{dimension}"  # None: any
    return policy_stats_key(version, f"{pool}{suffix}{namespace}")


def variant_namespace(experiment: str, variant: str) -> str:
    """The key suffix of a non-control variant's statistics: ``:exp:{experiment}:{variant}``
    (the control keeps the keys of a deployment without experiment, and what it learned)."""
    return f":exp:{experiment}:{variant}"


def _weighed(fields: dict[str, float], weight: float) -> dict[str, float]:
    """Statistics ``fields`` scaled by ``weight`` (the count of updates stays whole)."""
    if weight == 1.0:
        return fields
    scaled = {name: weight * value for name, value in fields.items()}
    if N_UPDATES in fields:
        scaled[N_UPDATES] = float(round(scaled[N_UPDATES]))
    return scaled


class PolicyLearner:
    """``namespace``: appended to every statistics key (:func:`variant_namespace`); empty
    for the deployment's own policies. ``window``: serve only the last seconds'
    statistics (None: everything since the version was set); ``clock``: unix seconds,
    which picks the window's epoch."""

    def __init__(
        self,
        store: TrackingStore,
        factory: PolicyFactory,
        breaker: CircuitBreaker | None = None,
        *,
        namespace: str = "",
        window: StatsWindow | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.namespace = namespace
        self.window = window
        self._clock = clock
        self._store = store
        self._factory = factory
        self._breaker = breaker or CircuitBreaker()
        self._lock = threading.Lock()
        self._accumulators = factory()
        self._unpublished: tuple[str, dict[str, dict[str, float]]] | None = None
        self.version = 1
        self.serving: dict[Pool, Policy] = factory()
        self.observed = 0
        self.sync_errors = 0
        #: Rewards whose impression was scored with another context width (recorded
        #: before a change of ``learned_blend``): ignored, never mixed into the stats.
        self.mismatched = 0

    @property
    def pools(self) -> list[Pool]:
        return list(self._accumulators)

    def observe(self, pool: Pool, context: NDArray[np.float64], arm_id: int, reward: float) -> bool:
        """Learn one (context, arm, reward) locally; False for a pool without a policy."""
        policy = self._accumulators.get(pool)
        if policy is None or not policy.learns:
            return False
        contexts = np.asarray(context, dtype=np.float64).reshape(1, -1)
        dimension = getattr(policy, "dimension", None)  # None: any width
        if dimension is not None and contexts.shape[1] != dimension:
            self.mismatched += 1
            return False
        with self._lock:
            policy.update(contexts, np.asarray([arm_id], dtype=np.int64), np.asarray([reward]))
            self.observed += 1
        return True

    def observe_many(
        self, pool: Pool, arm_ids: NDArray[np.int64], rewards: NDArray[np.float64]
    ) -> int:
        """Learn rewards (m,) of arms ``arm_ids`` (m,) locally in one update, for a policy
        that ignores contexts (``dimension`` None: the per-arm tables); returns how many."""
        policy = self._accumulators.get(pool)
        if policy is None or not policy.learns or arm_ids.shape[0] == 0:
            return 0
        if getattr(policy, "dimension", None) is not None:
            raise ValueError(f"the {pool} policy needs contexts: use observe()")
        contexts = np.zeros((arm_ids.shape[0], 1))
        with self._lock:
            policy.update(contexts, arm_ids, rewards)
            self.observed += int(arm_ids.shape[0])
        return int(arm_ids.shape[0])

    def _keys(
        self, version: int, pool: Pool, policy: Policy, now: float
    ) -> list[tuple[str, float]]:
        """(key, weight) of the statistics to serve for ``pool`` at ``now``."""
        key = _stats_key(version, pool, policy, self.namespace)
        if self.window is None:
            return [(key, 1.0)]
        return [(epoch_key(key, epoch), weight) for epoch, weight in self.window.weights(now)]

    def _take_increments(
        self, version: int, now: float
    ) -> tuple[str, dict[str, dict[str, float]]] | None:
        """The local deltas as one batch (kept until published; retried, never re-made:
        a batch stays in the window epoch it was made in)."""
        with self._lock:
            if self._unpublished is not None:
                return self._unpublished
            increments: dict[str, dict[str, float]] = {}
            for pool, policy in self._accumulators.items():
                delta = policy.pending_delta()
                if float(np.asarray(delta.get(N_UPDATES, 0.0))) > 0:
                    key = _stats_key(version, pool, policy, self.namespace)
                    if self.window is not None:
                        key = epoch_key(key, self.window.epoch(now))
                    increments[key] = flatten_delta(delta)
            if not increments:
                return None
            self._unpublished = (uuid.uuid4().hex, increments)
            return self._unpublished

    def sync(self) -> bool:
        """Publish local learning, pull the global totals, swap the serving policies.
        Returns False (and keeps everything for the next try) when the store fails."""
        if not self._breaker.allow():
            return False
        try:
            version = self._store.policy_version()
            if version != self.version:
                self._reset(version)
            now = self._clock()
            batch = self._take_increments(version, now)
            if batch is not None:
                ttl = None if self.window is None else self.window.ttl
                self._store.add_stats(*batch, ttl=ttl)  # idempotent: a retry applies once
                with self._lock:
                    self._unpublished = None
            keys = [
                key
                for pool, policy in self._accumulators.items()
                for key, _ in self._keys(version, pool, policy, now)
            ]
            totals = self._store.read_stats(keys)
        except Exception:
            self._breaker.failure()
            self.sync_errors += 1
            log.warning("policy sync failed; serving the last totals", exc_info=True)
            return False
        self._breaker.success()
        self.serving = self._rebuild(version, totals, now)
        return True

    def _reset(self, version: int) -> None:
        log.info("policy version changed", extra={"from": self.version, "to": version})
        with self._lock:
            self._accumulators = self._factory()
            self._unpublished = None
            self.version = version

    def _rebuild(
        self, version: int, totals: Mapping[str, dict[str, float]], now: float
    ) -> dict[Pool, Policy]:
        policies = self._factory()
        for pool, policy in policies.items():
            for key, weight in self._keys(version, pool, policy, now):
                fields = totals.get(key) or {}
                if fields and weight > 0.0:
                    policy.apply_delta(unflatten_delta(_weighed(fields, weight)))
        return policies

    def describe(self) -> dict[str, object]:
        serving = self.serving
        return {
            "version": self.version,
            "window_seconds": None if self.window is None else self.window.seconds,
            "pools": {
                str(pool): {"kind": policy.name, **policy.describe()}
                for pool, policy in serving.items()
            },
        }
