"""Explanations: every served item's score split into named components that add up to it
(issue 14, item 3; ``GET /v1/feed/{kind}?explain=true``).

Computed only when the request asks (``FeedRequest.explain``), after assembly, for the
placed items alone, from what the engine already holds: the item's context (the features
its policy scored), the exact policies that scored it, the request clock and the user's
context. Two things cannot be recomputed and are carried by the pools
(:class:`~.pools.PoolCandidates`): the uniform noise drawn into a score, and the policy's
score itself (needed only when the policy's bonus was a random draw, below).

What a score is made of (:mod:`.pools`, :mod:`.engine`), d the item's age in whole days:

- VMP: 2.2 engagement + 1.6 popularity + 1.8 quality + 1.4 [d <= 45] + boost + policy
- NU: 2.5 exp(-d/28) + 1.8 attribute diversity + 1.4 rarity/100 + 0.8 new boost (1.5 if
  d <= 30, else 1) + U(0, 0.6) + boost (with ``boost_new``) + policy
- AU: 3.5 skill similarity + 3.0 extended match + 1.1 popularity + 1.4 quality
  + 0.9 exp(-d/28) + 0.9 rarity/100 + 0.9 [d <= 45] + boost + policy
- FW in total feeds: U(0, 40) + (60 - d); flow feeds (spec 2.10): max(0, 30 (90 - d)/90)
  + 30 if the user follows the creator + U(0, 20); EXPLORE: 0 (a uniform draw)
- boost (without ``learned_blend``): popularity_prior points x the prior + collaborative
  points x the affinity (:mod:`.collaborative`)
- policy, LinUCB: reward_scale x.theta + alpha sqrt(x' A^-1 x) + bonus, theta the scoring
  theta. x.theta is split per feature: reward_scale x_j theta0_j (theta0 the policy's
  prior mean, the learned blend's starting weights; 0 otherwise) goes to the feature's
  component; reward_scale x_j (theta_j - theta0_j) is what feedback taught, the
  ``learned`` component (split by feature component in ``Explanation.learned``).
  alpha sqrt(x' A^-1 x) and the legacy bonus are the ``exploration_bonus``. The bonus is
  recomputed when it is a constant (0.7 until the policy saw 10 rewards, always so for
  policies rebuilt from the shared totals); when it was a random draw it is the carried
  policy score minus the other terms. Any other policy: its whole score is ``learned``.

Components, by context column (:mod:`.features`, spec 2.4) and score term:

- ``popularity_prior``: engagement (0), popularity (3), views (9), rating count (14),
  likes (15), times exhibited (16), the popularity prior (19 / boost)
- ``collaborative_affinity``: the affinity (18 / boost)
- ``skill_match``: skill similarity (5), extended match (6)
- ``social_tie``: city match (7), follows the creator (8), the flow feed's follow bonus
- ``freshness``: temporal (1), the age terms, FW's and flows' freshness points
- ``item_quality``: quality (2), attribute diversity (4), rating (10), rarity (11),
  quality gate (12)
- ``noise``: the uniform draws, and the noise column (17)
- ``other``: the user's influence (13; the same for every item)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pitchrec.domain.explanation import COMPONENTS, LEARNED_COMPONENTS, Explanation, Reason
from pitchrec.domain.feed import FeedItem, ItemKind, Pool
from pitchrec.index.scores import age_scores
from pitchrec.index.snapshot import Snapshot
from pitchrec.policies.linucb import LinUCB
from pitchrec.ranking.assemble import Placement
from pitchrec.ranking.collaborative import collaborative_affinity, popularity_prior
from pitchrec.ranking.engine import FLOW_FRESHNESS_POINTS, FLOW_SOCIAL_BONUS, FLOW_WINDOW_DAYS
from pitchrec.ranking.features import EXTENDED_MATCH, N_BLEND_FEATURES, SKILL_SIMILARITY, Scorer
from pitchrec.ranking.options import RankingOptions
from pitchrec.ranking.pools import FW_FRESH_DAYS, PoolCandidates
from pitchrec.ranking.sentences import Sentences
from pitchrec.ranking.user_context import UserContext

Floats = NDArray[np.float64]

#: The component of each context column of :mod:`.features` (module docstring).
FEATURE_COMPONENTS = (
    "popularity_prior",  # 0 engagement
    "freshness",  # 1 temporal
    "item_quality",  # 2 quality
    "popularity_prior",  # 3 popularity
    "item_quality",  # 4 attribute diversity
    "skill_match",  # 5 skill similarity
    "skill_match",  # 6 extended match
    "social_tie",  # 7 city match
    "social_tie",  # 8 follows the creator
    "popularity_prior",  # 9 views
    "item_quality",  # 10 rating
    "item_quality",  # 11 rarity
    "item_quality",  # 12 quality gate
    "other",  # 13 the user's influence
    "popularity_prior",  # 14 rating count, set-relative
    "popularity_prior",  # 15 likes, set-relative
    "popularity_prior",  # 16 times exhibited, set-relative
    "noise",  # 17 noise
    "collaborative_affinity",  # 18 learned blend: affinity
    "popularity_prior",  # 19 learned blend: popularity prior
)
_INDEX = {name: i for i, name in enumerate(COMPONENTS)}
_FEATURE_INDEX = np.asarray([_INDEX[c] for c in FEATURE_COMPONENTS], dtype=np.int64)
assert len(FEATURE_COMPONENTS) == N_BLEND_FEATURES

#: (component, weight, term) of each pool's fixed heuristic, as :mod:`.pools` adds them.
POOL_TERMS: dict[Pool, tuple[tuple[str, float, str], ...]] = {
    Pool.VMP: (
        ("popularity_prior", 2.2, "engagement"),
        ("popularity_prior", 1.6, "popularity"),
        ("item_quality", 1.8, "quality"),
        ("freshness", 1.4, "is_new"),
    ),
    Pool.NU: (
        ("freshness", 2.5, "temporal"),
        ("item_quality", 1.8, "diversity"),
        ("item_quality", 1.4, "rarity"),
        ("freshness", 0.8, "new_boost"),
    ),
    Pool.AU: (
        ("skill_match", 3.5, "skill_similarity"),
        ("skill_match", 3.0, "extended_match"),
        ("popularity_prior", 1.1, "popularity"),
        ("item_quality", 1.4, "quality"),
        ("freshness", 0.9, "temporal"),
        ("item_quality", 0.9, "rarity"),
        ("freshness", 0.9, "is_new"),
    ),
}


#: (features, components) one-hot: which component each context column counts in.
_GROUPS = np.zeros((N_BLEND_FEATURES, len(COMPONENTS)))
_GROUPS[np.arange(N_BLEND_FEATURES), _FEATURE_INDEX] = 1.0


#: Only drawn from when a policy's bonus is random (the draw is discarded).
_SCRATCH = np.random.default_rng(0)


@dataclass(frozen=True)
class _Linear:
    """A LinUCB's scoring terms, read once per feed: weights in score points (d,)."""

    prior: Floats  # reward_scale * theta0
    learned: Floats  # reward_scale * (theta - theta0)
    alpha: float
    a_inv: Floats
    bonus: float | None  # the constant bonus; None when it is drawn per candidate

    @classmethod
    def of(cls, policy: LinUCB) -> _Linear:
        config = policy.config
        theta = policy.scoring_theta()
        theta0 = np.zeros_like(theta)
        if config.prior_mean is not None:
            theta0 = np.asarray(config.prior_mean, dtype=np.float64)
        # bonus() returns a float without drawing when the bonus is a constant.
        bonus = policy.bonus(1, _SCRATCH)
        return cls(
            config.reward_scale * theta0,
            config.reward_scale * (theta - theta0),
            config.alpha,
            policy.A_inv,
            bonus if isinstance(bonus, float) else None,
        )


class Explainer:
    """Explains the items of one feed; built per explained request. Vectorised per pool:
    one numpy pass per pool, then a dict and a sentence per item."""

    def __init__(
        self,
        snapshot: Snapshot,
        user: UserContext,
        now: float,
        options: RankingOptions,
        policies: Mapping[Pool, Scorer],
    ) -> None:
        self._snapshot = snapshot
        self._now = now
        self._options = options
        self._policies = policies
        self._boost: tuple[Floats, Floats | None] | None = None
        if not options.learned_blend and (options.collaborative or options.popularity_prior):
            prior = options.popularity_prior * popularity_prior(snapshot)
            affinity = collaborative_affinity(snapshot, user) if options.collaborative else None
            self._boost = (prior, None if affinity is None else options.collaborative * affinity)
        self.sentences = Sentences(snapshot, user, now)

    def mixed(
        self,
        items: Sequence[FeedItem],
        pools: Mapping[Pool, PoolCandidates],
        placements: Sequence[Placement],
    ) -> tuple[Explanation, ...]:
        """One explanation per item of a total or discover feed."""
        n, width = len(items), len(COMPONENTS)
        parts, learned = np.zeros((n, width)), np.zeros((n, width))
        rows = np.asarray([p.row for p in placements], dtype=np.int64)
        noise = np.zeros(n)
        policy_scores = np.full(n, np.nan)
        for i, placement in enumerate(placements):
            candidates = pools[placement.pool]
            if candidates.noise is not None:
                noise[i] = candidates.noise[placement.pool_position]
            if candidates.policy_scores is not None:
                policy_scores[i] = candidates.policy_scores[placement.pool_position]
        item_pools = np.asarray([item.pool.value for item in items])
        fw = np.flatnonzero(item_pools == Pool.FW.value)
        if fw.shape[0]:
            days = self._days(self._snapshot.challenges.created_at, rows[fw])
            parts[fw, _INDEX["freshness"]] = FW_FRESH_DAYS - days
            parts[fw, _INDEX["noise"]] = noise[fw]
        for pool in POOL_TERMS:
            at = np.flatnonzero(item_pools == pool.value)
            if at.shape[0]:
                contexts = np.asarray([items[i].context for i in at.tolist()], dtype=np.float64)
                pool_parts, pool_learned = np.zeros((at.shape[0], width)), np.zeros_like(parts[at])
                self._resume_terms(pool, rows[at], contexts, noise[at], pool_parts)
                self._policy_terms(pool, contexts, policy_scores[at], pool_parts, pool_learned)
                parts[at], learned[at] = pool_parts, pool_learned
        return tuple(
            self._explanation(item, int(rows[i]), parts[i], learned[i])
            for i, item in enumerate(items)
        )

    def flow(
        self, items: Sequence[FeedItem], rows: Sequence[int], noise: Sequence[float]
    ) -> tuple[Explanation, ...]:
        """One explanation per item of a flow feed: challenge ``rows`` and the noise
        drawn into each item's score."""
        n, width = len(items), len(COMPONENTS)
        parts = np.zeros((n, width))
        at = np.asarray(rows, dtype=np.int64)
        days = self._days(self._snapshot.challenges.created_at, at)
        parts[:, _INDEX["freshness"]] = np.maximum(
            0.0, FLOW_FRESHNESS_POINTS * (FLOW_WINDOW_DAYS - days) / FLOW_WINDOW_DAYS
        )
        creators = np.asarray([item.creator_id for item in items], dtype=np.int64)
        followed = np.isin(creators, self.sentences.user.following)
        parts[:, _INDEX["social_tie"]] = FLOW_SOCIAL_BONUS * followed
        parts[:, _INDEX["noise"]] = np.asarray(noise, dtype=np.float64)
        none = np.zeros(width)
        return tuple(
            self._explanation(item, int(at[i]), parts[i], none) for i, item in enumerate(items)
        )

    def _days(self, created_at: NDArray[np.float64], rows: NDArray[np.int64]) -> Floats:
        return age_scores(np.asarray(created_at)[rows], self._now).days

    def _resume_terms(
        self, pool: Pool, rows: NDArray[np.int64], contexts: Floats, noise: Floats, parts: Floats
    ) -> None:
        """The pool's fixed heuristic, its boost and its noise, into ``parts`` (m, C) of
        the pool's items at resume ``rows`` (m,), scored with ``contexts`` (m, d)."""
        resumes = self._snapshot.resumes
        age = age_scores(np.asarray(resumes.created_at)[rows], self._now)
        terms = {
            "engagement": np.asarray(resumes.engagement)[rows],
            "popularity": np.asarray(resumes.popularity)[rows],
            "quality": np.asarray(resumes.quality)[rows],
            "diversity": np.asarray(resumes.attribute_diversity)[rows],
            "rarity": np.asarray(resumes.rarity)[rows] / 100.0,
            "is_new": age.is_new.astype(np.float64),
            "temporal": age.temporal,
            "new_boost": age.boost,
            "skill_similarity": contexts[:, SKILL_SIMILARITY],
            "extended_match": contexts[:, EXTENDED_MATCH],
        }
        for component, weight, term in POOL_TERMS[pool]:
            parts[:, _INDEX[component]] += weight * terms[term]
        parts[:, _INDEX["noise"]] += noise
        if self._boost is not None and (pool is not Pool.NU or self._options.boost_new):
            prior, affinity = self._boost
            parts[:, _INDEX["popularity_prior"]] += prior[rows]
            if affinity is not None:
                parts[:, _INDEX["collaborative_affinity"]] += affinity[rows]

    def _policy_terms(
        self, pool: Pool, x: Floats, policy_scores: Floats, parts: Floats, learned: Floats
    ) -> None:
        """The pool policy's scores of contexts ``x`` (m, d), into ``parts`` (m, C) and
        the learned term by component into ``learned`` (m, C)."""
        policy = self._policies[pool]
        if not isinstance(policy, LinUCB):  # not decomposable: its whole score is learned
            assert not np.isnan(policy_scores).any(), "the pool carries no policy scores"
            parts[:, _INDEX["learned"]] += policy_scores
            learned[:, _INDEX["other"]] += policy_scores
            return
        linear = _Linear.of(policy)
        groups = _GROUPS[: x.shape[1]]
        prior = (x * linear.prior) @ groups
        taught = (x * linear.learned) @ groups
        parts += prior
        learned += taught
        parts[:, _INDEX["learned"]] += taught.sum(axis=1)
        width = linear.alpha * np.sqrt(np.maximum(np.einsum("ij,ij->i", x @ linear.a_inv, x), 0))
        if linear.bonus is not None:
            exploration = width + linear.bonus
        else:  # drawn per candidate: what the policy's score holds beyond the rest
            assert not np.isnan(policy_scores).any(), "the pool carries no policy scores"
            exploration = policy_scores - (prior.sum(axis=1) + taught.sum(axis=1))
        parts[:, _INDEX["exploration_bonus"]] += exploration

    def _explanation(self, item: FeedItem, row: int, parts: Floats, learned: Floats) -> Explanation:
        components = dict(zip(COMPONENTS, parts.tolist(), strict=True))
        taught = dict(zip(COMPONENTS, learned.tolist(), strict=True))
        by_component = {c: taught[c] for c in LEARNED_COMPONENTS}
        reason = self._reason(item)
        sentence = self.sentences.sentence(item, row, components, reason)
        return Explanation(item.score, components, by_component, reason, sentence)

    def _reason(self, item: FeedItem) -> Reason | None:
        if item.fresh_guaranteed:
            return Reason.FRESH_GUARANTEE
        if item.pool is Pool.EXPLORE and item.kind is ItemKind.RESUME:
            return Reason.EXPLORE
        if item.novelty_waived:
            return Reason.RANKED_FILL if self._options.ranked_fill else Reason.NOVELTY_WAIVED
        return None
