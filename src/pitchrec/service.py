"""The composition root: :func:`build_service` wires store, tracker, learner, feedback loop,
recommender and (embedded) archiver from one :class:`ServiceConfig`.

The HTTP runtime, the simulator's variants and the ``feed``/``demo`` commands all build
through it, so what the lab measures is what is served.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pitchrec.domain.events import FeedbackEvent
from pitchrec.domain.experiment import ExperimentSpec
from pitchrec.domain.feed import Feed, FeedRequest, ItemKind, Pool
from pitchrec.index.snapshot import Snapshot
from pitchrec.learning.experiment import ExperimentMonitor
from pitchrec.learning.feedback import FeedbackLoop, LearningConfig
from pitchrec.learning.learner import PolicyFactory, PolicyLearner, variant_namespace
from pitchrec.legacy.envelope import legacy_envelope, legacy_items
from pitchrec.legacy.events import now_iso
from pitchrec.policies.base import Policy
from pitchrec.policies.thompson import ThompsonSampling
from pitchrec.ranking.blend_search import NAMESPACE as BLEND_NAMESPACE
from pitchrec.ranking.blend_search import BlendSearch, blend_policy
from pitchrec.ranking.engine import draw_seed, recommend
from pitchrec.ranking.live_prior import EVIDENCE_POOL, LivePrior, item_policy
from pitchrec.ranking.live_prior import NAMESPACE as ITEMS_NAMESPACE
from pitchrec.ranking.options import RankingOptions
from pitchrec.ranking.pool_policies import (
    DEFAULT_REWARD_SCALE,
    LEGACY_REWARD_SCALE,
    legacy_pool_policies,
    pool_policy_factory,
)
from pitchrec.ranking.retrieval import prepare_retrieval
from pitchrec.ranking.shadow import ShadowConfig, ShadowJob
from pitchrec.ranking.shadow_sampler import ShadowSampler
from pitchrec.ranking.variants import VariantTable, variant_setups
from pitchrec.tracking.memory_store import MemoryStore
from pitchrec.tracking.store import TrackingStore
from pitchrec.tracking.tracker import FeedContext, Tracker, TrackingConfig

if TYPE_CHECKING:
    from pitchrec.archive.embedded import EmbeddedArchiver
    from pitchrec.settings import Settings


@dataclass(frozen=True)
class RequestInfo:
    """What tracking records about a request besides the feed (spec 4.2)."""

    request_id: str
    endpoint: str  # total | discover | flow (legacy) or v1/<kind>
    raw_user: object = 0
    params: dict[str, Any] = field(default_factory=dict)
    session_id: str | None = None


#: Spec 4.3: the legacy ``feed_type`` of a served item, per endpoint.
_FEED_TYPES = {"discover": "resume", "flow": "FW"}


#: Salt of the blend search's draws, apart from the feed's ("blend" in ASCII).
_BLEND_STREAM = 0x626C656E64


class Recommender:
    """Serves feeds from one immutable snapshot; :meth:`swap` replaces it atomically.

    Alone it ranks (:meth:`feed`). Built by :func:`build_service` it also tracks
    (:meth:`serve`): it excludes what the session already got, reads the user's taste
    profile (one round trip) and records the feed (one pipelined round trip). With an
    ``experiment``, :meth:`serve` ranks with the options and policies of the request's
    variant (``variants``: the non-control ones) and the feed says which it was. With a
    ``shadow`` sampler, a sample of the served requests is also drawn again under the
    served and a candidate configuration, off the request path (:mod:`.ranking.shadow`).
    """

    def __init__(
        self,
        snapshot: Snapshot,
        policies: Mapping[Pool, Policy] | None = None,
        *,
        options: RankingOptions | None = None,
        tracker: Tracker | None = None,
        learner: PolicyLearner | None = None,
        experiment: ExperimentMonitor | None = None,
        variants: VariantTable | None = None,
        shadow: ShadowSampler | None = None,
    ) -> None:
        self._snapshot = snapshot
        self.shadow = shadow
        self.experiment = experiment
        self.variants = variants
        self.options = options or RankingOptions.service()
        self.policies: dict[Pool, Policy] = dict(
            policies or legacy_pool_policies(DEFAULT_REWARD_SCALE, self.options.blend_prior())
        )
        self.tracker = tracker
        self.learner = learner
        #: Chooses each tracked request's points of (affinity, prior) when
        #: ``options.blend_search`` (:mod:`pitchrec.ranking.blend_search`).
        self.blend = BlendSearch(self.options) if self.options.searches_blend else None
        #: The prior corrected by the shared per-resume feedback, for requests whose
        #: options have ``live_prior`` (None: the snapshot's prior; :mod:`.ranking.live_prior`).
        self.live: LivePrior | None = None

    def set_policies(self, policies: Mapping[Pool, Policy]) -> None:
        """Serve new policies (one dict assignment: feeds in flight keep the old ones)."""
        self.policies = dict(policies)

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def swap(self, snapshot: Snapshot) -> None:
        """Serve ``snapshot`` from now on (one reference assignment)."""
        self._snapshot = snapshot

    def snapshot_age_seconds(self) -> float:
        return time.time() - self._snapshot.built_at

    def feed(self, request: FeedRequest) -> Feed:
        """The feed for ``request``, untracked."""
        return recommend(self._snapshot, request, self.policies, options=self.options)

    def serve(self, request: FeedRequest, info: RequestInfo | None = None) -> Feed:
        """The feed for ``request``, tracked when this recommender has a tracker and
        ``info`` is given."""
        tracker = self.tracker
        if tracker is None or info is None:
            return self.feed(request)
        state = tracker.request_state(request.user_id, info.session_id)
        if state.seen:
            request = replace(request, exclude=request.exclude | state.seen)
        snapshot = self._snapshot
        shadow = self.shadow
        shadowed = shadow is not None and shadow.sampled(info.request_id, request.kind)
        if shadowed and request.now is None:  # the re-draws rank at the served clock
            request = replace(request, now=time.time())
        options, policies = self.options, self.policies
        experiment, assignment = self.experiment, None
        if experiment is not None:
            assignment = experiment.assign(request.user_id, info.session_id)
            if self.variants is not None and assignment.variant in self.variants:
                options, policies = self.variants.arm(assignment.variant)
        explored = (  # shadow exploration: the deployment's requests only, never a variant's
            shadow is not None
            and shadowed
            and options is self.options
            and shadow.explores(info.request_id)
        )
        blend_arm = None
        if self.blend is not None and options is self.options and not explored:
            request, options, blend_arm = self._searched(self.blend, request)
        live = self.live
        live_prior = None if live is None else live.prior(snapshot)
        if shadow is not None and explored:
            feed = shadow.candidate_feed(snapshot, request, policies, state.profile, live_prior)
        else:
            prior = live_prior if options.live_prior else None
            feed = recommend(
                snapshot, request, policies, options=options, profile=state.profile, prior=prior
            )
        feed_type = _FEED_TYPES.get(info.endpoint)
        context = FeedContext(
            raw_user=info.raw_user,
            endpoint=info.endpoint,
            params=info.params,
            session_id=info.session_id,
            request_id=info.request_id,
            feed_type=(lambda slot: feed_type) if feed_type else (lambda slot: slot),
            urls=_media_urls(snapshot, feed),
            assignment=assignment,
            blend_arm=blend_arm,
        )
        version = self.learner.version if self.learner is not None else 1
        tracker.record_feed(feed, context, version)
        if shadow is not None and shadowed:
            served = "deployment" if assignment is None else assignment.variant
            shadow.offer(
                ShadowJob(
                    snapshot,
                    request,
                    options,
                    policies,
                    self.policies,
                    state.profile,
                    feed,
                    info.request_id,
                    info.endpoint,
                    now_iso(),
                    served,
                    explored,
                    live_prior,
                )
            )
        if experiment is None or assignment is None:
            return feed
        experiment.observe_feed(feed.items, assignment)
        return replace(feed, variant=assignment.variant)

    @staticmethod
    def _searched(
        blend: BlendSearch, request: FeedRequest
    ) -> tuple[FeedRequest, RankingOptions, int]:
        """The request (seeded), the options of the blend arm drawn for it, and the arm's
        statistics key."""
        seed = draw_seed() if request.seed is None else request.seed
        request = replace(request, seed=seed)  # so the response's seed replays the arm
        arm = blend.choose(random.Random(seed ^ _BLEND_STREAM))
        return request, blend.options(arm), blend.arm_id(arm)

    def legacy_response(self, feed: Feed) -> dict[str, Any]:
        """The legacy envelope for ``feed`` (spec 3.3-3.5, 3.8)."""
        return legacy_envelope(feed.request.kind, legacy_items(self._snapshot, feed))


def _media_urls(snapshot: Snapshot, feed: Feed) -> dict[tuple[str, int], str]:
    urls: dict[tuple[str, int], str] = {}
    for item in feed.items:
        if item.kind is ItemKind.RESUME:
            row = snapshot.resumes.row_of(item.item_id)
            url = snapshot.resumes.video.text(row) if row >= 0 else ""
        else:
            row = snapshot.challenges.row_of(item.item_id)
            url = snapshot.challenges.video.text(row) if row >= 0 else ""
        urls[(item.kind.value, item.item_id)] = url
    return urls


@dataclass(frozen=True)
class ServiceConfig:
    """Everything :func:`build_service` needs besides the store.

    ``reward_scale``: LinUCB's learned-term weight (:mod:`pitchrec.ranking.pool_policies`);
    ``learn_online``: serve what is learned (False: feedback is recorded and learned from,
    but the served policies stay at the prior, the legacy-static behaviour);
    ``experiment``: variants served beside this configuration (the control);
    ``shadow``: a candidate configuration scored beside it, never served.
    """

    ranking: RankingOptions = field(default_factory=RankingOptions.service)
    reward_scale: float = DEFAULT_REWARD_SCALE
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    learning: LearningConfig = field(default_factory=LearningConfig)
    learn_online: bool = True
    experiment: ExperimentSpec | None = None
    shadow: ShadowConfig | None = None

    @classmethod
    def legacy(cls) -> ServiceConfig:
        """The original service: legacy ranking, the legacy bandit, no taste profiles,
        nothing learned ever served."""
        return cls(
            ranking=RankingOptions.legacy(),
            reward_scale=LEGACY_REWARD_SCALE,
            tracking=TrackingConfig(taste_profiles=False),
            learning=LearningConfig(taste_profiles=False),
            learn_online=False,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> ServiceConfig:
        return cls(
            ranking=RankingOptions(
                temperature=settings.sampling_temperature or None,
                declared_skills=settings.declared_skills,
                collaborative=settings.collaborative_weight,
                popularity_prior=settings.popularity_prior,
                ranked_fill=settings.ranked_fill,
                au_shares_candidates=settings.au_shares_candidates,
                boost_new=settings.boost_new,
                learned_blend=settings.learned_blend,
                fresh_share=settings.fresh_share,
                fresh_max_impressions=settings.fresh_max_impressions,
                fresh_max_days=settings.fresh_max_days,
                retrieval_candidates=settings.retrieval_candidates,
                skill_novelty_window=settings.skill_novelty_window,
                blend_search=settings.blend_search and not settings.learned_blend,
                live_prior=settings.live_prior,
            ),
            reward_scale=settings.reward_scale,
            tracking=TrackingConfig(
                impression_ttl=settings.impression_ttl_seconds,
                impressions_as_views=settings.impressions_as_views,
                spool_max_bytes=settings.spool_max_bytes,
                taste_profiles=settings.taste_profiles,
            ),
            learning=LearningConfig(
                rewards=dict(settings.rewards), taste_profiles=settings.taste_profiles
            ),
            learn_online=settings.learn_online,
            experiment=settings.experiment,
            shadow=(
                None
                if settings.shadow is None
                else ShadowConfig(
                    settings.shadow,
                    settings.shadow_rate,
                    settings.shadow_draws,
                    explore=settings.shadow_explore,
                    cpu_share=settings.shadow_cpu_share,
                )
            ),
        )


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
) -> Service:
    """Wire a service on ``store``.

    ``policy_factory``: fresh policies at the prior (default: LinUCB at the legacy prior
    with ``config.reward_scale``); ``archive_database``: a database URL that an in-process
    store archives into (the embedded default; a Redis store is archived by
    ``pitchrec archive``); ``snapshot``: serve it at once.
    """
    factory = policy_factory or pool_policy_factory(
        config.reward_scale, config.ranking.blend_prior()
    )
    learner = PolicyLearner(store, factory)
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
                )
    blend = None
    if config.ranking.searches_blend:
        blend = PolicyLearner(store, blend_policy, namespace=BLEND_NAMESPACE)
    items = None
    if config.ranking.live_prior or any(s.options.live_prior for s in setups.values()):
        items = PolicyLearner(store, item_policy, namespace=ITEMS_NAMESPACE)
    feedback = FeedbackLoop(
        tracker,
        learner,
        config.learning,
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
