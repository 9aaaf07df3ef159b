"""pitchrec: a feed recommender for talent networks.

Rank without the server: build a snapshot from a database of the TalentPitch schema (or
load one ``pitchrec build`` wrote), then ask a :class:`Recommender` for feeds.

>>> import tempfile
>>> import pitchrec
>>> from pitchrec.lab.world import generate_world  # a small synthetic world to rank
>>> from pitchrec.sources.database import make_engine
>>> url = f"sqlite:///{tempfile.mkdtemp()}/world.db"
>>> summary = generate_world(make_engine(url), scale=0.01, seed=7, truth_path=None)
>>> snapshot = pitchrec.snapshot_from_database(url)
>>> recommender = pitchrec.Recommender(snapshot)  # the service's defaults
>>> request = pitchrec.FeedRequest(kind=pitchrec.FeedKind.DISCOVER, size=5, seed=1)
>>> feed = recommender.feed(request)
>>> len(feed.items), feed.items[0].kind.value, feed.items[0].slot.value
(5, 'resume', 'VMP')
>>> again = recommender.feed(request)  # the same request and seed, the same feed
>>> [item.item_id for item in again.items] == [item.item_id for item in feed.items]
True
>>> legacy = pitchrec.Recommender(snapshot, options=pitchrec.RankingOptions.legacy())

``RankingOptions.legacy()`` ranks exactly as the original service did;
``RankingOptions.service()`` (the default) is what ``pitchrec serve`` runs. The names
below are imported on first use, so ``import pitchrec`` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_EXPORTS = {
    "Recommender": "pitchrec.recommender",
    "ServiceConfig": "pitchrec.service",
    "build_service": "pitchrec.service",
    "FeedRequest": "pitchrec.domain.feed",
    "FeedKind": "pitchrec.domain.feed",
    "Feed": "pitchrec.domain.feed",
    "RankingOptions": "pitchrec.ranking.options",
    "Snapshot": "pitchrec.index.snapshot",
    "snapshot_from_database": "pitchrec.index.build",
    "build_snapshot": "pitchrec.index.build",
    "load_snapshot": "pitchrec.index.snapshot",
    "save_snapshot": "pitchrec.index.snapshot",
}
_RENAMED = {"load_snapshot": "load", "save_snapshot": "save"}

__all__ = [
    "Feed",
    "FeedKind",
    "FeedRequest",
    "RankingOptions",
    "Recommender",
    "ServiceConfig",
    "Snapshot",
    "__version__",
    "build_service",
    "build_snapshot",
    "load_snapshot",
    "save_snapshot",
    "snapshot_from_database",
]

if TYPE_CHECKING:
    from pitchrec.domain.feed import Feed, FeedKind, FeedRequest
    from pitchrec.index.build import build_snapshot, snapshot_from_database
    from pitchrec.index.snapshot import Snapshot
    from pitchrec.index.snapshot import load as load_snapshot
    from pitchrec.index.snapshot import save as save_snapshot
    from pitchrec.ranking.options import RankingOptions
    from pitchrec.recommender import Recommender
    from pitchrec.service import ServiceConfig, build_service


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'pitchrec' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), _RENAMED.get(name, name))
    globals()[name] = value
    return value
