"""One validated settings object, built at the edge (CLI, app factory) and passed down.

Environment variables use the ``PITCHREC_`` prefix. For the database the legacy names are
accepted too (spec 5.2), in this order of precedence:

1. ``PITCHREC_DATABASE_URL``;
2. ``MYSQL_HOST``, ``MYSQL_PORT``, ``MYSQL_USER``, ``MYSQL_PASSWORD``, ``MYSQL_DB``;
3. the demo SQLite file ``var/pitchrec-demo.db`` (the embedded default).

No ``.env`` file is read implicitly: the legacy service crashed at import when its
``credentials/.env`` was missing (D-R13), and secrets belong in the environment or a
secret store, not in files next to the code.

The database and Redis URLs carry passwords, so they are read from the environment
(``PITCHREC_DATABASE_URL``, ``PITCHREC_REDIS_URL``) or from a file named by
``PITCHREC_DATABASE_URL_FILE`` / ``PITCHREC_REDIS_URL_FILE`` (a mounted secret; surrounding
whitespace is ignored), never from a command line, where every local user sees them in
``ps``. Setting both forms of one URL is an error.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

from pydantic import AliasChoices, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import URL

from pitchrec.domain.experiment import ExperimentSpec
from pitchrec.ranking.options import (
    DEFAULT_COLLABORATIVE,
    DEFAULT_FRESH_MAX_DAYS,
    DEFAULT_FRESH_MAX_IMPRESSIONS,
    DEFAULT_FRESH_SHARE,
    DEFAULT_POPULARITY_PRIOR,
    DEFAULT_RETRIEVAL_CANDIDATES,
    DEFAULT_SKILL_NOVELTY_WINDOW,
    DEFAULT_TEMPERATURE,
    RankingOptions,
)
from pitchrec.ranking.pool_policies import DEFAULT_REWARD_SCALE
from pitchrec.ranking.shadow import CPU_SHARE, DEFAULT_DRAWS, DEFAULT_RATE, ShadowCandidate
from pitchrec.settings_experiments import (
    check_experiment_variants,
    check_shadow_setting,
    parse_experiment_setting,
    parse_shadow_setting,
)
from pitchrec.settings_secrets import (
    DASHBOARD_TOKEN_MIN_LENGTH,
    DEMO_DATABASE_PATH,
    LegacyMySQLSettings,
    check_dashboard_token,
    demo_database_url,
    read_secret_file,
    read_url_file,
)

__all__ = [
    "DASHBOARD_TOKEN_MIN_LENGTH",
    "DEMO_DATABASE_PATH",
    "LegacyMySQLSettings",
    "Settings",
    "demo_database_url",
    "read_secret_file",
]


class Settings(BaseSettings):
    """Everything pitchrec can be configured with."""

    model_config = SettingsConfigDict(env_prefix="PITCHREC_", extra="ignore")

    database_url: SecretStr | None = None
    #: A file holding the database URL (e.g. a mounted Secret), instead of database_url.
    database_url_file: Path | None = None
    #: Blacklist of media URLs, one per line (spec 1.2.7). None: the packaged empty file.
    blacklist_path: Path | None = None
    redis_url: SecretStr | None = None
    #: A file holding the Redis URL, instead of redis_url.
    redis_url_file: Path | None = None
    #: Serve from this snapshot directory; with a database, builds are written here too.
    snapshot_dir: Path | None = None
    #: With a snapshot directory, also build it from the database (start, reload, refresh).
    build_from_database: bool = False

    # HTTP service.
    #: Prefix of the legacy routes; the legacy ``API_PATH`` variable is read too (spec 3.1).
    api_path: str = Field(
        default="", validation_alias=AliasChoices("PITCHREC_API_PATH", "API_PATH")
    )
    #: Bearer token of the reload routes; unset disables them (D-S2).
    admin_token: SecretStr | None = None
    #: Read-only token of the operator dashboard (``/dashboard``, ``GET /v1/stats``); the
    #: admin token opens it too. At least 16 URL-safe characters, never the admin token.
    dashboard_token: SecretStr | None = None
    #: Allowed CORS origins; empty (the default) sends no CORS headers at all (D-S3).
    cors_origins: list[str] = Field(default_factory=list)
    #: Seconds between snapshot refreshes from the database (D-R10); 0 disables.
    refresh_seconds: float = Field(default=600.0, ge=0.0)
    #: Largest request body accepted, bytes.
    max_body_bytes: int = Field(default=1_000_000, ge=1_024)
    #: Largest exclusion list accepted (ids); more is answered 413.
    max_exclusions: int = Field(default=10_000, ge=1)

    #: /readyz fails while Redis does not answer. Feeds do not need Redis (tracking spools),
    #: so a fleet behind one Redis may prefer false: a Redis outage then does not take
    #: every replica out of its load balancer at once (deploy/k8s sets false).
    ready_requires_redis: bool = True

    # Tracking.
    #: D-C11/D-C12: archive served items as views (the legacy loop: what was served is
    #: not served again after the next load) or as impressions only.
    impressions_as_views: bool = True
    #: Seconds an impression (context, pool, propensity) waits for its reward.
    impression_ttl_seconds: int = Field(default=7_200, ge=60)
    #: Estimated bytes of tracking writes kept in process (per worker) while Redis is
    #: down; the oldest are dropped (and counted) beyond it. 64 MiB: two workers' full
    #: spools fit in the 512Mi pod limit next to their steady RSS (pitchrec.tracking.
    #: tracker.SPOOL_MAX_BYTES). Replaces the entry count ``spool_capacity``, which bounded
    #: nothing (one entry could be a 1,000-event batch, about 0.7 MB).
    spool_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024 * 1024)
    #: Without Redis: estimated bytes of the in-process store's keys (legacy activity
    #: lists, session sets, impressions), per worker; the least recently written keys are
    #: evicted beyond it, as Redis with allkeys-lru would (pitchrec.tracking.memory_store).
    memory_store_max_bytes: int = Field(default=64 * 1024 * 1024, ge=1024 * 1024)
    # Learning (bench/quality/REPORT.md measures each on the simulator).
    #: Heuristic score points per unit of learned reward in LinUCB's pool scores; 1 is the
    #: legacy bandit, whose learned term cannot reorder a pool.
    reward_scale: float = Field(default=DEFAULT_REWARD_SCALE, ge=0.0)
    #: VMP/NU sampling temperature in score points; 0: the legacy draws (proportional to
    #: the score in VMP, uniform in NU).
    sampling_temperature: float = Field(default=DEFAULT_TEMPERATURE, ge=0.0)
    #: Learn each user's taste from rewards (``pitchrec:profile:{user}``, 30-day TTL).
    taste_profiles: bool = True
    #: Serve what the pool policies learn; False keeps serving them at their prior while
    #: rewards are still recorded and learned from (statistics keep growing in Redis), so
    #: switching it back on serves everything learned meanwhile.
    learn_online: bool = True
    #: Serve only the last this many days of the shared learning statistics (a sliding
    #: window, pitchrec.learning.stats_window), so learning follows a change in what
    #: users like; 0: every reward since the policy version was set.
    learning_window_days: float = Field(default=0.0, ge=0.0)
    #: Use the skills users declare in their profile (fix of D-C20).
    declared_skills: bool = True
    #: Score points of the collaborative affinity (ALS factors in the snapshot, the user
    #: folded in from history and fresh likes) in VMP and AU; 0: off (the legacy).
    collaborative_weight: float = Field(default=DEFAULT_COLLABORATIVE, ge=0.0)
    #: Score points of the interaction-popularity prior in VMP and AU; 0: off.
    popularity_prior: float = Field(default=DEFAULT_POPULARITY_PRIOR, ge=0.0)
    #: Fill a slot whose pool the skill-novelty rule exhausted from the best-ranked
    #: candidates the rule turned away, before any uniform EXPLORE draw.
    ranked_fill: bool = True
    #: AU ranks every available resume, not only what VMP and NU left (the legacy gave AU
    #: the leftovers of VMP's 110 and NU's 95 candidates, below the best-scored ones).
    au_shares_candidates: bool = True
    #: NU adds the collaborative affinity and popularity prior too (the legacy: off).
    boost_new: bool = True
    #: The points of (affinity, prior) above are chosen per request among angles around
    #: them, by the likes each angle earns, shared by every replica
    #: (:mod:`pitchrec.ranking.blend_search`); false: fixed points.
    blend_search: bool = True
    #: The prior is corrected by each resume's like rate in the online feedback, shared by
    #: every replica (:mod:`pitchrec.ranking.live_prior`); false (the default, see
    #: RankingOptions.live_prior): the snapshot's prior until the next build.
    live_prior: bool = False
    #: The collaborative fold-in counts the resumes each user skipped as examined and not
    #: liked (RankingOptions.fold_in_skips); false (the default): likes alone.
    fold_in_skips: bool = False
    #: Instead of the search, the pool policies learn how the affinity and the prior
    #: weigh against each other (context columns 18-19, starting from the two weights
    #: above); true turns blend_search off.
    learned_blend: bool = False
    #: New-creator exposure guarantee: every prefix of L resumes of a total or discover
    #: feed holds at least floor(share * L) fresh ones (1/8: 3 of 24); 0: off (the legacy).
    fresh_share: float = Field(default=DEFAULT_FRESH_SHARE, ge=0.0, le=1.0)
    #: A resume is fresh while exhibited fewer times than this (``resumes_exhibited``) ...
    fresh_max_impressions: int = Field(default=DEFAULT_FRESH_MAX_IMPRESSIONS, ge=0)
    #: ... or while younger than this many days. Both 0: nothing is fresh.
    fresh_max_days: float = Field(default=DEFAULT_FRESH_MAX_DAYS, ge=0.0)
    #: Candidate retrieval: a total or discover feed whose available resumes outnumber
    #: this ranks at most this many of them, retrieved per request (the top by affinity,
    #: prior and blend, new, fresh, skill-sharing and followed creators' resumes, a
    #: uniform sample); 0: every resume is ranked (exact scoring, the legacy).
    retrieval_candidates: int = Field(default=DEFAULT_RETRIEVAL_CANDIDATES, ge=0)
    #: The skill-novelty rule (each VMP, AU and NU item brings a skill not yet shown)
    #: remembers the last this many resumes of the feed; 0: the rule off (the default);
    #: ``feed`` (None): the whole feed, as the legacy, which kept the most liked resumes
    #: out of feeds where a few skills cover most of the catalogue.
    skill_novelty_window: int | None = Field(default=DEFAULT_SKILL_NOVELTY_WINDOW, ge=0)
    #: Reward of each event type in [0, 1] (views use their watch fraction).
    rewards: dict[str, float] = Field(
        default_factory=lambda: {"like": 1.0, "save": 1.0, "share": 1.0, "match": 1.0, "skip": 0.0}
    )
    #: An online experiment (README "Experiments"): JSON naming its variants, their
    #: weights and what each changes (:func:`pitchrec.domain.experiment.parse_experiment`).
    #: Unset: no experiment, today's behaviour exactly.
    experiment: Annotated[ExperimentSpec | None, NoDecode] = None
    #: Shadow mode (README "Shadow mode"): a candidate configuration scored on a sample of
    #: requests and never served, as ranking overrides in the lab's and the experiments'
    #: syntax: ``@collaborative=10@boost_new=false``, or JSON ``["collaborative=10"]`` or
    #: ``{"ranking": [...], "reward_scale": 10}``. Unset: no shadow mode.
    shadow: Annotated[ShadowCandidate | None, NoDecode] = None
    #: Share of the total and discover requests shadowed (chosen by a hash of the request
    #: id); each costs 2 x ``shadow_draws`` feed computations on a background thread.
    shadow_rate: float = Field(default=DEFAULT_RATE, ge=0.0, le=1.0)
    #: Re-draws of a shadowed request under each configuration (Monte Carlo of the
    #: item-position probabilities).
    shadow_draws: int = Field(default=DEFAULT_DRAWS, ge=1, le=256)
    #: Shadow exploration: the probability that a shadowed request is served the
    #: candidate's feed, so that the estimates cover what the served configuration never
    #: shows (README "Shadow mode"). 0: the candidate is never served.
    shadow_explore: float = Field(default=0.0, ge=0.0, le=1.0)
    #: Share of the time the shadow thread may compute (it rests in between and drops
    #: what comes meanwhile): what it may take from the feeds sharing the GIL with it.
    shadow_cpu_share: float = Field(default=CPU_SHARE, gt=0.0, le=1.0)

    @field_validator("skill_novelty_window", mode="before")
    @classmethod
    def _parse_novelty_window(cls, value: Any) -> Any:
        """``feed`` (any case) names the whole feed: None."""
        if isinstance(value, str) and value.strip().lower() == "feed":
            return None
        return value

    @field_validator("shadow", mode="before")
    @classmethod
    def _parse_shadow(cls, value: Any) -> ShadowCandidate | None:
        """Parse PITCHREC_SHADOW; a bad one stops start-up saying why."""
        return parse_shadow_setting(value)

    def base_options(self) -> RankingOptions:
        """The service's options with these settings' blend (learned, searched or
        fixed), which experiment variants and the shadow candidate override."""
        return replace(
            RankingOptions.service(),
            learned_blend=self.learned_blend,
            blend_search=self.blend_search and not self.learned_blend,
            live_prior=self.live_prior,
            fold_in_skips=self.fold_in_skips,
        )

    @model_validator(mode="after")
    def _check_shadow(self) -> Settings:
        """The candidate's overrides name real options with acceptable values."""
        if self.shadow is not None:
            check_shadow_setting(self.shadow, self.base_options(), self.reward_scale)
        return self

    @field_validator("experiment", mode="before")
    @classmethod
    def _parse_experiment(cls, value: Any) -> ExperimentSpec | None:
        """Parse PITCHREC_EXPERIMENT (JSON text, or an object); a bad one stops start-up
        with a :class:`ConfigurationError` saying where."""
        return parse_experiment_setting(value)

    @model_validator(mode="after")
    def _check_variants(self) -> Settings:
        """Every variant's ranking overrides name real options with acceptable values, on
        top of these settings (what :func:`pitchrec.service.build_service` will build)."""
        if self.experiment is not None:
            check_experiment_variants(self.experiment, self.base_options(), self.reward_scale)
        return self

    @field_validator(
        "database_url",
        "database_url_file",
        "redis_url",
        "redis_url_file",
        "admin_token",
        "dashboard_token",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @model_validator(mode="after")
    def _read_url_files(self) -> Settings:
        """Fill ``database_url`` / ``redis_url`` from their ``*_FILE``. Raises
        :class:`ConfigurationError` (not a pydantic error, whose text would echo every
        input, passwords included) when both forms are set or the file is unusable."""
        if self.database_url_file is not None:
            self.database_url = read_url_file(
                "PITCHREC_DATABASE_URL", self.database_url, self.database_url_file
            )
        if self.redis_url_file is not None:
            self.redis_url = read_url_file(
                "PITCHREC_REDIS_URL", self.redis_url, self.redis_url_file
            )
        return self

    @model_validator(mode="after")
    def _check_dashboard_token(self) -> Settings:
        """Refuse a dashboard token that is short, not URL-safe or equal to the admin
        token (:func:`pitchrec.settings_secrets.check_dashboard_token`)."""
        if self.dashboard_token is not None:
            check_dashboard_token(self.dashboard_token, self.admin_token)
        return self

    @field_validator("api_path")
    @classmethod
    def _clean_api_path(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith("/"):
            value = "/" + value
        return value

    @property
    def legacy_prefix(self) -> str:
        """The router prefix of the legacy routes: ``API_PATH`` or ``/api`` (spec 3.1)."""
        return self.api_path or "/api"

    def resolved_database_url(self) -> str | URL:
        """The database to use, by the precedence in the module docstring."""
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        legacy = LegacyMySQLSettings().url()
        if legacy is not None:
            return legacy
        return demo_database_url()
