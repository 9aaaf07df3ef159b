"""The composition root: :func:`build_service` wires store, tracker, learner, feedback loop,
recommender and (embedded) archiver from one :class:`ServiceConfig`.

The HTTP runtime, the simulator's variants and the ``feed``/``demo`` commands all build
through it, so what the lab measures is what is served. The request path it wires,
:class:`~pitchrec.recommender.Recommender`, lives in :mod:`pitchrec.recommender` and is
importable from here too.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pitchrec.domain.events import FeedbackEvent
from pitchrec.domain.feed import Pool
from pitchrec.index.snapshot import Snapshot
from pitchrec.learning.experiment import ExperimentMonitor
from pitchrec.learning.feedback import FeedbackLoop
from pitchrec.learning.learner import PolicyFactory, PolicyLearner, variant_namespace
from pitchrec.policies.base import Policy
from pitchrec.policies.thompson import ThompsonSampling
from pitchrec.ranking.blend_search import NAMESPACE as BLEND_NAMESPACE
from pitchrec.ranking.blend_search import blend_policy
from pitchrec.ranking.live_prior import EVIDENCE_POOL, LivePrior, item_policy
from pitchrec.ranking.live_prior import NAMESPACE as ITEMS_NAMESPACE
from pitchrec.ranking.pool_policies import pool_policy_factory
from pitchrec.ranking.retrieval import prepare_retrieval
from pitchrec.ranking.shadow import candidate_options
from pitchrec.ranking.shadow_sampler import ShadowSampler
from pitchrec.ranking.variants import VariantTable, variant_setups
from pitchrec.recommender import Recommender, RequestInfo
from pitchrec.service_config import ServiceConfig
from pitchrec.tracking.memory_store import MemoryStore
from pitchrec.tracking.store import TrackingStore
from pitchrec.tracking.tracker import Tracker

if TYPE_CHECKING:
    from pitchrec.archive.embedded import EmbeddedArchiver

__all__ = ["Recommender", "RequestInfo", "Service", "ServiceConfig", "build_service"]


class Service:
    """The wired service. The recommender exists once a snapshot is served
    (:meth:`serve_snapshot`); tracking and learning exist from the start."""

    def __init__(
        self,
        config: ServiceConfig,
        store: TrackingStore,
        feedback: FeedbackLoop,
        archiver: EmbeddedArchiver | None,
    ) -> None:
        self.config = config
        self.store = store
        self.feedback = feedback
        self.tracker = feedback.tracker
        self.learner = feedback.learner
        self.archiver = archiver
        self.experiment = feedback.experiment
        self.shadow = (
            None
            if config.shadow is None
            else ShadowSampler(
                config.shadow, config.ranking, config.reward_scale, self.tracker.record_shadow
            )
        )
        self.recommender: Recommender | None = None
        if config.learn_online:
            feedback.on_policies = self._serve_policies
            feedback.on_variant_policies = self._serve_variant_policies
            feedback.on_blend = self._serve_blend
            feedback.on_items = self._serve_items

    def _serve_policies(self, policies: dict[Pool, Policy]) -> None:
        recommender = self.recommender
        if recommender is not None:
            recommender.set_policies(policies)

    def _serve_blend(self, policies: dict[Pool, Policy]) -> None:
        recommender = self.recommender
        if recommender is not None and recommender.blend is not None:
            recommender.blend.set_policies(policies)

    def _serve_items(self, policies: dict[Pool, Policy]) -> None:
        recommender, policy = self.recommender, policies.get(EVIDENCE_POOL)
        if recommender is not None and isinstance(policy, ThompsonSampling):
            recommender.live = LivePrior(policy)

    def _serve_variant_policies(self, name: str, policies: dict[Pool, Policy]) -> None:
        recommender = self.recommender
        if recommender is not None and recommender.variants is not None:
            recommender.variants.set_policies(name, policies)

    def serve_snapshot(self, snapshot: Snapshot) -> Recommender:
        """Serve ``snapshot``: the first call builds the recommender, later ones swap."""
        prepare_retrieval(snapshot, self.config.ranking)  # before it serves a request
        if self.recommender is None:
            self.recommender = Recommender(
                snapshot,
                self.learner.serving,
                options=self.config.ranking,
                tracker=self.tracker,
                learner=self.learner,
                experiment=self.experiment,
                variants=self._variant_table(),
                shadow=self.shadow,
            )
            if self.config.learn_online:
                # What the blend and per-resume learners serve now (their prior before the
                # first sync), as the pool policies and the variants: a new replica then
                # draws the same mixes before and after it syncs an empty store.
                feedback = self.feedback
                if feedback.blend is not None:
                    self._serve_blend(feedback.blend.serving)
                if feedback.items is not None:
                    self._serve_items(feedback.items.serving)
        else:
            self.recommender.swap(snapshot)
        return self.recommender

    def _variant_table(self) -> VariantTable | None:
        """The non-control variants' options, serving what their learners learned."""
        spec = self.config.experiment
        if spec is None:
            return None
        setups = variant_setups(spec, self.config.ranking, self.config.reward_scale)
        table = VariantTable({k: v for k, v in setups.items() if k != spec.control})
        if self.config.learn_online:
            for name, learner in self.feedback.variants.items():
                table.set_policies(name, learner.serving)
        return table

    def record_events(self, events: list[FeedbackEvent]) -> int:
        return self.feedback.record_events(events)

    def counters(self) -> dict[str, float]:
        """Gauges for the metrics endpoint."""
        shadow = self.shadow.counters() if self.shadow is not None else {}
        return {**self.tracker.counters(), **self.feedback.counters(), **shadow}

    def start(self) -> None:
        """Start the feedback thread (and the embedded archiver, which may migrate)."""
        self.feedback.start()
        if self.archiver is not None:
            self.archiver.start()

    def stop(self) -> None:
        """Flush queued tracking and learning, then stop the threads (shadow logs not yet
        computed are dropped)."""
        if self.shadow is not None:
            self.shadow.stop()
        self.feedback.stop()
        if self.archiver is not None:
            self.archiver.stop()


def build_service(
    config: ServiceConfig,
    store: TrackingStore,
    *,
    snapshot: Snapshot | None = None,
    policy_factory: PolicyFactory | None = None,
    archive_database: Any = None,
    clock: Callable[[], float] = time.time,
) -> Service:
    """Wire a service on ``store``.

    ``policy_factory``: fresh policies at the prior (default: LinUCB at the legacy prior
    with ``config.reward_scale``); ``archive_database``: a database URL that an in-process
    store archives into (the embedded default; a Redis store is archived by
    ``pitchrec archive``); ``snapshot``: serve it at once; ``clock``: unix seconds for
    the learners' statistics window (the simulator's clock in the lab).
    """
    factory = policy_factory or pool_policy_factory(
        config.reward_scale, config.ranking.blend_prior()
    )
    window = config.learning.stats_window()
    learner = PolicyLearner(store, factory, window=window, clock=clock)
    spec = config.experiment
    tracker = Tracker(store, replace(config.tracking, tag_feedback=spec is not None))
    monitor = None if spec is None else ExperimentMonitor(spec, store)
    variants: dict[str, PolicyLearner] = {}
    setups = {} if spec is None else variant_setups(spec, config.ranking, config.reward_scale)
    if spec is not None:  # the control learns into today's keys, each variant into its own
        for name, setup in setups.items():
            if name != spec.control:
                variants[name] = PolicyLearner(
                    store,
                    pool_policy_factory(setup.reward_scale, setup.options.blend_prior()),
                    namespace=variant_namespace(spec.name, name),
                    window=window,
                    clock=clock,
                )
    blend = None
    if config.ranking.searches_blend:
        blend = PolicyLearner(
            store, blend_policy, namespace=BLEND_NAMESPACE, window=window, clock=clock
        )
    items = None
    if config.ranking.live_prior or any(s.options.live_prior for s in setups.values()):
        items = PolicyLearner(
            store, item_policy, namespace=ITEMS_NAMESPACE, window=window, clock=clock
        )
    served = [config.ranking, *(s.options for s in setups.values())]
    if config.shadow is not None:
        served.append(candidate_options(config.ranking, config.shadow.candidate))
    skips = any(options.fold_in_skips for options in served)  # kept only if read
    feedback = FeedbackLoop(
        tracker,
        learner,
        replace(config.learning, profile_skips=config.learning.profile_skips or skips),
        variants=variants,
        experiment=monitor,
        blend=blend,
        items=items,
    )
    archiver = None
    if archive_database is not None and isinstance(store, MemoryStore):
        from pitchrec.archive.embedded import EmbeddedArchiver
        from pitchrec.sources.database import make_engine

        archiver = EmbeddedArchiver(store, make_engine(archive_database))
    service = Service(config, store, feedback, archiver)
    if snapshot is not None:
        service.serve_snapshot(snapshot)
    return service
