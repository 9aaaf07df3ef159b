"""The one place that wires a snapshot, the pool policies and (later) tracking together.

The API and the CLI only talk to :class:`Recommender`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

from pitchrec.domain.feed import Feed, FeedRequest, Pool
from pitchrec.index import snapshot as snapshot_files
from pitchrec.index.build import build_snapshot
from pitchrec.index.snapshot import Snapshot
from pitchrec.legacy_format import legacy_envelope, legacy_items
from pitchrec.policies.base import Policy
from pitchrec.progress import SILENT, Reporter
from pitchrec.ranking.engine import recommend
from pitchrec.ranking.pool_policies import legacy_pool_policies
from pitchrec.sources.blacklist import load_blacklist
from pitchrec.sources.database import make_engine
from pitchrec.sources.loaders import load_sources


def snapshot_from_database(
    database_url: str | URL,
    *,
    blacklist_path: Path | None = None,
    reporter: Reporter = SILENT,
) -> Snapshot:
    """Load the sources and build a snapshot in memory."""
    engine = make_engine(database_url)
    try:
        blacklist = load_blacklist(blacklist_path)
        source = load_sources(engine, blacklist=blacklist, reporter=reporter)
    finally:
        engine.dispose()
    with reporter.stage("build snapshot", None):
        return build_snapshot(source)


class Recommender:
    """Serves feeds from one immutable snapshot; :meth:`swap` replaces it atomically."""

    def __init__(self, snapshot: Snapshot, policies: Mapping[Pool, Policy] | None = None) -> None:
        self._snapshot = snapshot
        self.policies: dict[Pool, Policy] = dict(policies or legacy_pool_policies())

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
        return recommend(self._snapshot, request, self.policies)

    def legacy_response(self, feed: Feed) -> dict[str, Any]:
        """The legacy envelope for ``feed`` (spec 3.3-3.5, 3.8)."""
        return legacy_envelope(feed.request.kind, legacy_items(self._snapshot, feed))
