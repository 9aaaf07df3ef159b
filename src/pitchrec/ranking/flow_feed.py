"""The flows-only feed (spec 2.10): :func:`flow_feed` ranks the challenges a request may
show by freshness, the social bonus and uniform noise; the ``FLOW_*`` constants are its
score's terms (:mod:`.explain` explains an item with them)."""

from __future__ import annotations

import time
from collections.abc import Mapping

import numpy as np

from pitchrec.domain.explanation import Explanation
from pitchrec.domain.feed import Feed, FeedItem, FlowMetrics, ItemKind, Pool
from pitchrec.index.scores import SECONDS_PER_DAY
from pitchrec.ranking.features import Scorer
from pitchrec.ranking.options import RankingOptions
from pitchrec.ranking.pools import top_k
from pitchrec.ranking.request_scope import RequestScope, challenge_available, exclusions

# Spec 2.10: flows-only score max(0, 30 (90 - days) / 90) + 30 if followed + U(0, 20).
FLOW_WINDOW_DAYS = 90.0
FLOW_FRESHNESS_POINTS = 30.0
FLOW_SOCIAL_BONUS = 30.0
FLOW_NOISE_HIGH = 20.0


def flow_feed(
    scope: RequestScope, policies: Mapping[Pool, Scorer], options: RankingOptions
) -> Feed:
    """Spec 2.10, with the user's seen challenges excluded (D-C4) and the social bonus
    applied to challenges of followed creators (D-C3). Wraps around when everything is
    excluded."""
    snapshot, request, user, now = scope.snapshot, scope.request, scope.user, scope.now
    challenges = snapshot.challenges
    available = challenge_available(snapshot, user.seen_challenges, exclusions(request))
    if not available.any():
        available = np.ones(len(challenges), dtype=np.bool_)
    rows = np.flatnonzero(available).astype(np.int64)
    created = np.asarray(challenges.created_at)[rows]
    days = np.floor(np.maximum(now - created, 0.0) / SECONDS_PER_DAY)
    creators = np.asarray(challenges.creator)[rows]
    noise = scope.rng.uniform(0.0, FLOW_NOISE_HIGH, size=rows.shape[0])
    scores = (
        np.maximum(0.0, FLOW_FRESHNESS_POINTS * (FLOW_WINDOW_DAYS - days) / FLOW_WINDOW_DAYS)
        + FLOW_SOCIAL_BONUS * np.isin(creators, user.following)
        + noise
    )
    top = top_k(scores, request.size)
    items = tuple(
        FeedItem(
            item_id=int(challenges.id[rows[i]]),
            kind=ItemKind.CHALLENGE,
            position=position,
            slot=Pool.FW,
            pool=Pool.FW,
            creator_id=int(creators[i]),
            score=float(scores[i]),
        )
        for position, i in enumerate(top.tolist(), start=1)
    )
    metrics = FlowMetrics(
        total_flows=len(items),
        available_flows=int(rows.shape[0]),
        unique_creators=len({item.creator_id for item in items}),
        execution_time=round(time.perf_counter() - scope.started, 6),
    )
    explanations: tuple[Explanation, ...] = ()
    if request.explain:
        from pitchrec.ranking.explain import Explainer  # only when asked: off the hot path

        explainer = Explainer(snapshot, user, now, options, policies)
        explanations = explainer.flow(items, rows[top].tolist(), noise[top].tolist())
    return Feed(request, items, metrics, scope.seed, explanations)
