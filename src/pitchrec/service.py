"""The one place that wires a snapshot, the pool policies and (later) tracking together.

The API and the CLI only talk to :class:`Recommender`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from pitchrec.domain.feed import Feed, FeedRequest, ItemKind, Pool
from pitchrec.index import snapshot as snapshot_files
from pitchrec.index.build import build_snapshot
from pitchrec.index.snapshot import Snapshot
from pitchrec.legacy_format import legacy_envelope, legacy_items
from pitchrec.policies.base import Policy
from pitchrec.progress import SILENT, Reporter
from pitchrec.ranking.engine import recommend
from pitchrec.ranking.options import SERVICE_DEFAULTS, RankingOptions
from pitchrec.ranking.pool_policies import DEFAULT_REWARD_SCALE, legacy_pool_policies
from pitchrec.sources.blacklist import load_blacklist
from pitchrec.sources.database import make_engine
from pitchrec.sources.loaders import load_sources
from pitchrec.tracking.tracker import FeedContext, Tracker


def snapshot_from_database(
    database_url: str | URL,
    *,
    blacklist_path: Path | None = None,
    reporter: Reporter = SILENT,
    declared_skills: bool = True,
) -> Snapshot:
    """Load the sources and build a snapshot in memory (``declared_skills``: also the
    users' declared skills, D-C20)."""
    engine = make_engine(database_url)
    try:
        blacklist = load_blacklist(blacklist_path)
        source = load_sources(
            engine, blacklist=blacklist, reporter=reporter, declared_skills=declared_skills
        )
    finally:
        engine.dispose()
    with reporter.stage("build snapshot", None):
        return build_snapshot(source)


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

    With a tracker, :meth:`serve` also excludes what the session already got, reads the
    user's taste profile (one round trip), and records the feed (legacy activity, session
    set, impressions, archive; one pipelined round trip).
    """

    def __init__(
        self,
        snapshot: Snapshot,
        policies: Mapping[Pool, Policy] | None = None,
        tracker: Tracker | None = None,
        options: RankingOptions = SERVICE_DEFAULTS,
    ) -> None:
        self._snapshot = snapshot
        self.policies: dict[Pool, Policy] = dict(
            policies or legacy_pool_policies(DEFAULT_REWARD_SCALE)
        )
        self.tracker = tracker
        self.options = options

    def set_policies(self, policies: Mapping[str, Policy]) -> None:
        """Serve new policies (one dict assignment: feeds in flight keep the old ones)."""
        self.policies = {Pool(name): policy for name, policy in policies.items()}

    def serve(self, request: FeedRequest, info: RequestInfo | None = None) -> Feed:
        tracker = self.tracker
        if tracker is None or info is None:
            return self.feed(request)
        state = tracker.request_state(request.user_id, info.session_id)
        if state.seen:
            request = replace(request, exclude=request.exclude | state.seen)
        snapshot = self._snapshot
        feed = recommend(snapshot, request, self.policies, state.profile, self.options)
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
        tracker.record_feed(feed, context, tracker.learner.version)
        return feed

    @classmethod
    def from_snapshot_dir(cls, directory: Path) -> Recommender:
        return cls(snapshot_files.load(directory))

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def swap(self, snapshot: Snapshot) -> None:
        """Serve ``snapshot`` from now on (one reference assignment)."""
        self._snapshot = snapshot

    def snapshot_age_seconds(self) -> float:
        return time.time() - self._snapshot.built_at

    def feed(self, request: FeedRequest) -> Feed:
        return recommend(self._snapshot, request, self.policies, options=self.options)

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
