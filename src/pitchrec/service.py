"""The composition root: :func:`build_service` wires store, tracker, learner, feedback loop,
recommender and (embedded) archiver from one :class:`ServiceConfig`.

The HTTP runtime, the simulator's variants and the ``feed``/``demo`` commands all build
through it, so what the lab measures is what is served.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pitchrec.domain.events import FeedbackEvent
from pitchrec.domain.feed import Feed, FeedRequest, ItemKind, Pool
from pitchrec.index.snapshot import Snapshot
from pitchrec.learning.feedback import FeedbackLoop, LearningConfig
from pitchrec.learning.learner import PolicyFactory, PolicyLearner
from pitchrec.legacy.envelope import legacy_envelope, legacy_items
from pitchrec.policies.base import Policy
from pitchrec.ranking.engine import recommend
from pitchrec.ranking.options import RankingOptions
from pitchrec.ranking.pool_policies import (
    DEFAULT_REWARD_SCALE,
    LEGACY_REWARD_SCALE,
    legacy_pool_policies,
    pool_policy_factory,
)
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


class Recommender:
    """Serves feeds from one immutable snapshot; :meth:`swap` replaces it atomically.

    Alone it ranks (:meth:`feed`). Built by :func:`build_service` it also tracks
    (:meth:`serve`): it excludes what the session already got, reads the user's taste
    profile (one round trip) and records the feed (one pipelined round trip).
    """

    def __init__(
        self,
        snapshot: Snapshot,
        policies: Mapping[Pool, Policy] | None = None,
        *,
        options: RankingOptions | None = None,
        tracker: Tracker | None = None,
        learner: PolicyLearner | None = None,
    ) -> None:
        self._snapshot = snapshot
        self.options = options or RankingOptions.service()
        self.policies: dict[Pool, Policy] = dict(
            policies or legacy_pool_policies(DEFAULT_REWARD_SCALE, self.options.blend_prior())
        )
        self.tracker = tracker
        self.learner = learner

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
        feed = recommend(
            snapshot, request, self.policies, options=self.options, profile=state.profile
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
        )
        version = self.learner.version if self.learner is not None else 1
        tracker.record_feed(feed, context, version)
        return feed

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
    but the served policies stay at the prior, the legacy-static behaviour).
    """

    ranking: RankingOptions = field(default_factory=RankingOptions.service)
    reward_scale: float = DEFAULT_REWARD_SCALE
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    learning: LearningConfig = field(default_factory=LearningConfig)
    learn_online: bool = True

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
        self.recommender: Recommender | None = None
        if config.learn_online:
            feedback.on_policies = self._serve_policies

    def _serve_policies(self, policies: dict[Pool, Policy]) -> None:
        recommender = self.recommender
        if recommender is not None:
            recommender.set_policies(policies)

    def serve_snapshot(self, snapshot: Snapshot) -> Recommender:
        """Serve ``snapshot``: the first call builds the recommender, later ones swap."""
        if self.recommender is None:
            self.recommender = Recommender(
                snapshot,
                self.learner.serving,
                options=self.config.ranking,
                tracker=self.tracker,
                learner=self.learner,
            )
        else:
            self.recommender.swap(snapshot)
        return self.recommender

    def record_events(self, events: list[FeedbackEvent]) -> int:
        return self.feedback.record_events(events)

    def counters(self) -> dict[str, float]:
        """Gauges for the metrics endpoint."""
        return {**self.tracker.counters(), **self.feedback.counters()}

    def start(self) -> None:
        """Start the feedback thread (and the embedded archiver, which may migrate)."""
        self.feedback.start()
        if self.archiver is not None:
            self.archiver.start()

    def stop(self) -> None:
        """Flush queued tracking and learning, then stop the threads."""
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
    tracker = Tracker(store, config.tracking)
    feedback = FeedbackLoop(tracker, learner, config.learning)
    archiver = None
    if archive_database is not None and isinstance(store, MemoryStore):
        from pitchrec.archive.embedded import EmbeddedArchiver
        from pitchrec.sources.database import make_engine

        archiver = EmbeddedArchiver(store, make_engine(archive_database))
    service = Service(config, store, feedback, archiver)
    if snapshot is not None:
        service.serve_snapshot(snapshot)
    return service
