"""The shadow sampler: which requests are shadowed, and their logs computed off the request
path (:mod:`.shadow` says what a shadow log is and estimates).

One background thread with a bounded queue computes the logs; a request shadowed while
the queue is full is dropped and counted (``shadow_dropped``); after a log that took t
seconds the thread rests t (1 / cpu_share - 1) seconds (:attr:`ShadowConfig.cpu_share`),
so it computes at most that share of the time and the feeds sharing the GIL with it are
slowed at most that often (bench/RESULTS.md, "Shadow mode"). Errors are counted
(``shadow_errors``) and never reach the feed.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pitchrec.domain.feed import Feed, FeedKind, FeedRequest, Pool
from pitchrec.domain.profile import TasteProfile
from pitchrec.domain.shadow import ShadowLog, item_key
from pitchrec.index.snapshot import Snapshot
from pitchrec.policies.base import Policy
from pitchrec.ranking.engine import recommend
from pitchrec.ranking.options import RankingOptions
from pitchrec.ranking.pool_policies import legacy_pool_policies
from pitchrec.ranking.shadow import (
    ShadowConfig,
    ShadowJob,
    candidate_options,
    draw_counts,
    sampled,
    shadow_seeds,
)

log = logging.getLogger(__name__)


@dataclass
class ShadowStats:
    sampled: int = 0
    logged: int = 0
    dropped: int = 0
    errors: int = 0
    seconds: float = 0.0  # background time spent computing shadow logs


class ShadowSampler:
    """Decides which requests are shadowed and computes their logs off the request path.

    ``base``: the deployment's ranking options and ``reward_scale``, which the candidate
    overrides; ``sink``: where each :class:`ShadowLog` goes (the tracker's
    ``record_shadow``). :meth:`offer` never raises and never waits.
    """

    def __init__(
        self,
        config: ShadowConfig,
        base: RankingOptions,
        reward_scale: float,
        sink: Callable[[ShadowLog], None],
    ) -> None:
        self.config = config
        self.options = candidate_options(base, config.candidate)
        scale = config.candidate.reward_scale
        self.reward_scale = reward_scale if scale is None else scale
        shares = self.options.blend_prior() == base.blend_prior() and scale in (None, reward_scale)
        #: Fixed policies at the candidate's own prior, or None: the deployment's.
        self.policies = (
            None if shares else legacy_pool_policies(self.reward_scale, self.options.blend_prior())
        )
        self.sink = sink
        self.stats = ShadowStats()
        self._queue: queue.Queue[ShadowJob | None] = queue.Queue(config.queue_size)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    @property
    def label(self) -> str:
        return self.config.candidate.label

    def sampled(self, request_id: str, kind: FeedKind) -> bool:
        """Whether this request is shadowed (flow feeds never: no option changes them)."""
        return kind is not FeedKind.FLOW and sampled(request_id, self.config.rate)

    def explores(self, request_id: str) -> bool:
        """Whether this shadowed request is served the candidate (shadow exploration)."""
        return sampled(request_id, self.config.explore, "shadow-explore")

    def candidate_feed(
        self,
        snapshot: Snapshot,
        request: FeedRequest,
        base_policies: Mapping[Pool, Policy],
        profile: TasteProfile,
        live_prior: NDArray[np.float64] | None = None,
    ) -> Feed:
        """The candidate's feed for ``request`` (served when the request explores);
        ``live_prior`` (n,): the served live prior, used if the candidate has one."""
        policies = self.policies if self.policies is not None else base_policies
        prior = live_prior if self.options.live_prior else None
        return recommend(
            snapshot, request, policies, options=self.options, profile=profile, prior=prior
        )

    def offer(self, job: ShadowJob) -> None:
        """Shadow ``job``: queued for the background thread (dropped and counted when the
        queue is full), or computed now with ``inline``. Never raises."""
        try:
            self.stats.sampled += 1
            if self.config.inline:
                self.run(job)
                return
            self._ensure_thread()
            self._queue.put_nowait(job)
        except queue.Full:
            self.stats.dropped += 1
        except Exception:  # shadowing must never fail a feed
            self.stats.errors += 1
            log.warning("shadow offer failed", exc_info=True)

    def run(self, job: ShadowJob) -> ShadowLog | None:
        """Compute and log ``job`` (errors counted, never raised); the log, or None."""
        started = time.perf_counter()
        try:
            record = self.compute(job)
            if record is not None:
                self.sink(record)
                self.stats.logged += 1
            return record
        except Exception:
            self.stats.errors += 1
            log.warning("shadow computation failed", exc_info=True)
            return None
        finally:
            self.stats.seconds += time.perf_counter() - started

    def compute(self, job: ShadowJob) -> ShadowLog:
        """The shadow log of ``job`` (see the module docstring)."""
        draws = self.config.draws
        logging_seeds, target_seeds = shadow_seeds(job.feed.seed, draws)
        served = draw_counts(job, job.options, job.policies, logging_seeds)
        policies = self.policies if self.policies is not None else job.base_policies
        target = draw_counts(job, self.options, policies, target_seeds)
        return ShadowLog(
            request_id=job.request_id,
            user_id=job.request.user_id,
            endpoint=job.endpoint,
            served_config=job.served_config,
            candidate_config=self.label,
            draws=draws,
            seed=job.feed.seed,
            timestamp=job.timestamp,
            items=tuple(item_key(i.kind.value, i.item_id) for i in job.feed.items),
            logging=served,
            target=target,
            explore=self.config.explore,
            explored=job.explored,
        )

    def counters(self) -> dict[str, float]:
        """Gauges for the metrics endpoint."""
        s = self.stats
        return {
            "shadow_sampled": float(s.sampled),
            "shadow_logged": float(s.logged),
            "shadow_dropped": float(s.dropped),
            "shadow_errors": float(s.errors),
            "shadow_seconds": s.seconds,
            "shadow_waiting": float(self._queue.qsize()),
        }

    # -- the background thread --------------------------------------------------------

    def _ensure_thread(self) -> None:
        if self._thread is not None:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._loop, name="pitchrec-shadow", daemon=True
                )
                self._thread.start()

    def _loop(self) -> None:
        rest = 1.0 / self.config.cpu_share - 1.0
        while True:
            job = self._queue.get()
            if job is None:
                return
            started = time.perf_counter()
            self.run(job)
            if self._stopping.wait(rest * (time.perf_counter() - started)):
                return

    def stop(self, timeout: float = 2.0) -> None:
        """Drop what waits and stop the thread (after the job in progress)."""
        thread = self._thread
        if thread is None:
            return
        self._stopping.set()
        while True:
            try:
                self._queue.get_nowait()
            except queue.Empty:
                break
        with contextlib.suppress(queue.Full):  # emptied just above
            self._queue.put_nowait(None)
        thread.join(timeout)
        self._thread = None
