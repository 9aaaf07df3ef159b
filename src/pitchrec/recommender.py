"""The request path: :class:`Recommender` serves feeds from one immutable snapshot and, once
wired by :func:`pitchrec.service.build_service`, tracks them (session exclusions, the
user's taste profile, the feed recorded), chooses the experiment variant and the blend
arm, serves the live prior and hands sampled requests to the shadow sampler.
"""

from __future__ import annotations

import random
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from pitchrec.domain.feed import Feed, FeedRequest, ItemKind, Pool
from pitchrec.index.snapshot import Snapshot
from pitchrec.learning.experiment import ExperimentMonitor
from pitchrec.learning.learner import PolicyLearner
from pitchrec.legacy.envelope import legacy_envelope, legacy_items
from pitchrec.legacy.events import now_iso
from pitchrec.policies.base import Policy
from pitchrec.ranking.blend_search import BlendSearch
from pitchrec.ranking.engine import draw_seed, recommend
from pitchrec.ranking.live_prior import LivePrior
from pitchrec.ranking.options import RankingOptions
from pitchrec.ranking.pool_policies import DEFAULT_REWARD_SCALE, legacy_pool_policies
from pitchrec.ranking.shadow import ShadowJob
from pitchrec.ranking.shadow_sampler import ShadowSampler
from pitchrec.ranking.variants import VariantTable
from pitchrec.tracking.tracker import FeedContext, Tracker


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
