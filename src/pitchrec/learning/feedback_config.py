"""What the feedback loop is configured with and counts (:mod:`.feedback`): its periods
and batch size, :class:`LearningConfig` and :class:`FeedbackStats`."""

from __future__ import annotations

from dataclasses import dataclass, field

from pitchrec.learning import profiles
from pitchrec.learning.rewards import DEFAULT_REWARDS
from pitchrec.learning.stats_window import StatsWindow

#: The background thread's tick: spool replay and reward matching.
FLUSH_SECONDS = 0.02
EVENT_BATCH = 1_280  # events matched per round trip
#: The live prior's per-resume statistics sync at most this often in the server: their
#: sync reads and parses two fields per resume with events (32 ms at 2,000 resumes and
#: 536 ms at 40,000 against Redis, bench/live_prior_sync.py, bench/RESULTS.md), and a
#: prior 10 s old is still 60 times fresher than the snapshot's (refreshed every 600 s).
ITEMS_SYNC_SECONDS = 10.0
#: ... and, where a sync takes longer, at most this share of one core: the period
#: stretches to the last sync's duration divided by it.
ITEMS_SYNC_BUDGET = 0.05


@dataclass(frozen=True)
class LearningConfig:
    """``rewards``: event type -> reward (:mod:`pitchrec.learning.rewards`);
    ``taste_profiles``: grow the per-user taste profiles; ``profile_skips``: count the
    skips in them too (what ``RankingOptions.fold_in_skips`` reads; the composition root
    turns it on when a served configuration folds skips in); ``profile_ttl`` in
    seconds."""

    rewards: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_REWARDS))
    taste_profiles: bool = True
    profile_skips: bool = False
    profile_ttl: int = profiles.PROFILE_TTL
    #: Seconds of the learning statistics served (:mod:`.stats_window`); 0: all of them.
    window_seconds: float = 0.0
    #: Seconds an event id is remembered against retries: as long as an impression waits
    #: for its reward (TrackingConfig.impression_ttl), after which nothing learns anyway.
    claim_ttl: int = 7_200

    def stats_window(self) -> StatsWindow | None:
        """The window the learners serve (None: no window)."""
        return StatsWindow(self.window_seconds) if self.window_seconds > 0.0 else None


@dataclass
class FeedbackStats:
    events: int = 0
    events_matched: int = 0
    profile_rewards: int = 0
    #: Events seen before (same user and event id, on any replica): archived once, not
    #: learned from again.
    events_duplicate: int = 0
    #: Events naming another user than the one their impression was served to: ignored.
    events_foreign: int = 0
    #: Rewards of impressions a variant no longer configured served (the experiment
    #: changed since): not learned from, never mixed into another variant's statistics.
    events_variant_gone: int = 0
