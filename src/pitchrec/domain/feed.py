"""Feed vocabulary shared by every layer: kinds, pools, requests, items, feeds.

Imports nothing from pitchrec outside the domain; frozen dataclasses and enums only.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pitchrec.domain.explanation import Explanation


class FeedKind(StrEnum):
    TOTAL = "total"  # resumes and challenges, pattern VMP AU AU VMP NU FW (spec 2.7)
    DISCOVER = "discover"  # resumes only, pattern VMP AU AU VMP NU
    FLOW = "flow"  # challenges only (spec 2.10)


class Pool(StrEnum):
    VMP = "VMP"  # valued / popular
    AU = "AU"  # affine to user
    NU = "NU"  # new
    FW = "FW"  # flows (challenges)
    EXPLORE = "EXPLORE"  # uniform fallback


class ItemKind(StrEnum):
    RESUME = "resume"
    CHALLENGE = "challenge"


#: Spec 2.1: items per response.
DEFAULT_FEED_SIZE = 24


@dataclass(frozen=True)
class FeedRequest:
    """One feed request, already validated.

    ``user_id`` None means anonymous (cold start). ``exclude`` holds ids of either kind
    (spec 2.8: resume and challenge ids are mixed). ``seed`` fixes the request's random
    stream; None draws a fresh one. ``now`` is the request clock (unix seconds), None for
    the wall clock.
    """

    kind: FeedKind
    user_id: int | None = None
    exclude: frozenset[int] = frozenset()
    size: int = DEFAULT_FEED_SIZE
    seed: int | None = None
    now: float | None = None
    #: Also explain every item's score (:attr:`Feed.explanations`); the items are the same.
    explain: bool = False


@dataclass(frozen=True)
class FeedItem:
    """One placed item. ``slot`` is the pattern label the legacy API shows (VMP, AU, NU,
    FW); ``pool`` is where the item really came from (EXPLORE for fallbacks)."""

    item_id: int
    kind: ItemKind
    position: int  # 1-based
    slot: Pool
    pool: Pool
    creator_id: int
    score: float
    #: The 18-feature context the pool's policy scored it with (empty for challenges).
    context: tuple[float, ...] = ()
    #: Probability that the sampling step picked it, when the pool samples (VMP, NU,
    #: EXPLORE); None for deterministic top-k pools.
    propensity: float | None = None
    #: True when the skill-novelty rule was waived to fill the slot (small catalogues).
    novelty_waived: bool = False
    #: True when the fresh-resume exposure guarantee placed it (RankingOptions.fresh_share).
    fresh_guaranteed: bool = False


@dataclass(frozen=True)
class FeedMetrics:
    """The metrics of a total or discover feed (spec 2.11, corrected:
    :mod:`pitchrec.ranking.feed_metrics`). Percentages are 0-100, rounded to 2 places;
    ``type_distribution``: items per kind; ``pool_sizes``: candidates per pool, by the
    pool's lower-case name; ``execution_time`` in seconds.

    With a fresh-resume definition (``RankingOptions.fresh_max_impressions`` or
    ``fresh_max_days``), also ``fresh_items`` (resume items that are fresh),
    ``fresh_ratio`` (their percentage of the resume items) and ``fresh_guaranteed``
    (items the exposure guarantee placed); None otherwise, and then left out of
    :meth:`as_dict` (so the legacy metrics keep their keys)."""

    total_items: int
    type_distribution: dict[str, int]
    unique_creators: int
    creator_diversity: float
    avg_views: float
    avg_rating: float
    execution_time: float
    catalog_coverage: float
    feed_coverage: float
    new_content_ratio: float
    skill_diversity: float
    total_catalog: int
    total_challenges: int
    available_catalog: int
    pool_sizes: dict[str, int]
    fresh_items: int | None = None
    fresh_ratio: float | None = None
    fresh_guaranteed: int | None = None

    def as_dict(self) -> dict[str, object]:
        """The JSON form, keys in the legacy order (then the fresh metrics, when set)."""
        out = {name: getattr(self, name) for name in self.__dataclass_fields__}
        for name in ("fresh_items", "fresh_ratio", "fresh_guaranteed"):
            if out[name] is None:
                del out[name]
        return out


@dataclass(frozen=True)
class FlowMetrics:
    """The metrics of a flow feed (spec 2.10): items, challenges available, distinct
    creators, seconds."""

    total_flows: int
    available_flows: int
    unique_creators: int
    execution_time: float

    def as_dict(self) -> dict[str, object]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


@dataclass(frozen=True)
class Feed:
    request: FeedRequest
    items: tuple[FeedItem, ...]
    metrics: FeedMetrics | FlowMetrics
    seed: int = 0  # the seed actually used, so the response can be reproduced
    #: One per item, in item order, when the request asked (``FeedRequest.explain``).
    explanations: tuple[Explanation, ...] = ()
    #: The experiment variant that served it (None: no experiment is configured).
    variant: str | None = None
