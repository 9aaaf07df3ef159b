"""What :func:`pitchrec.service.build_service` wires a service from: :class:`ServiceConfig`,
built from the validated :class:`~pitchrec.settings.Settings` or as the legacy service."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pitchrec.domain.experiment import ExperimentSpec
from pitchrec.learning.feedback import LearningConfig
from pitchrec.learning.stats_window import SECONDS_PER_DAY
from pitchrec.ranking.options import RankingOptions
from pitchrec.ranking.pool_policies import DEFAULT_REWARD_SCALE, LEGACY_REWARD_SCALE
from pitchrec.ranking.shadow import ShadowConfig
from pitchrec.tracking.tracker import TrackingConfig

if TYPE_CHECKING:
    from pitchrec.settings import Settings

__all__ = ["ServiceConfig"]


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
                fold_in_skips=settings.fold_in_skips,
            ),
            reward_scale=settings.reward_scale,
            tracking=TrackingConfig(
                impression_ttl=settings.impression_ttl_seconds,
                impressions_as_views=settings.impressions_as_views,
                spool_max_bytes=settings.spool_max_bytes,
                taste_profiles=settings.taste_profiles,
            ),
            learning=LearningConfig(
                rewards=dict(settings.rewards),
                taste_profiles=settings.taste_profiles,
                window_seconds=settings.learning_window_days * SECONDS_PER_DAY,
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
