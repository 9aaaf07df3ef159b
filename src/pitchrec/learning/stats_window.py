"""A sliding window over the shared learning statistics, so learning follows drift.

Without a window, a policy's statistics are its prior plus every reward ever published
(:mod:`pitchrec.policies.deltas`): after months of traffic LinUCB's A matrix and the
blend search's Beta counts are so large that a change in what users like (a new app
screen, a season, a new kind of pitch) moves them about as slowly as the whole history
was long; only bumping ``pitchrec:policy:version`` starts afresh, and it forgets all.

With a window of W seconds, time is cut into *epochs* of W seconds (epoch ``floor(t /
W)``, from each replica's clock) and every published increment goes to its epoch's key
(``...:w{epoch}``). A replica serves its prior plus the current epoch's totals plus the
previous epoch's scaled by the share of the previous epoch still inside the window
(``1 - phase``, phase the elapsed share of the current epoch): the sliding-window
estimate that rate limiters use, which weighs every event of the last W seconds about
1 and nothing older, without a per-event timestamp. Statistics stay commutative
increments, so replicas still never read-modify-write shared state; scaled totals are
valid statistics because every policy's state is additive (a LinUCB A matrix scaled by
0.4 is the A of those rewards weighed 0.4). An epoch key expires :data:`SLACK_EPOCHS`
epochs after it stops being read. Replicas whose clocks differ by a few seconds publish
near a boundary into neighbouring epochs; both are read, so nothing is lost.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SECONDS_PER_DAY = 86_400.0  # the unit of PITCHREC_LEARNING_WINDOW_DAYS
#: Epochs an epoch key outlives the last instant it is read: one (the key is read during
#: its epoch and the next), plus one of slack for clock skew and a late retried batch.
SLACK_EPOCHS = 1.0


@dataclass(frozen=True)
class StatsWindow:
    """A window of ``seconds`` (> 0) over the statistics."""

    seconds: float

    def __post_init__(self) -> None:
        if not self.seconds > 0.0 or math.isinf(self.seconds):
            raise ValueError(f"a statistics window needs a finite length > 0, got {self.seconds}")

    def epoch(self, now: float) -> int:
        """The epoch of unix time ``now``."""
        return math.floor(now / self.seconds)

    def weights(self, now: float) -> tuple[tuple[int, float], ...]:
        """(epoch, weight) pairs to serve at ``now``: the current epoch at 1, the
        previous one at the share of it still inside the window."""
        current = self.epoch(now)
        phase = now / self.seconds - current  # in [0, 1)
        return ((current, 1.0), (current - 1, 1.0 - phase))

    @property
    def ttl(self) -> int:
        """Seconds an epoch key is kept after its last write: its own epoch, the next
        (when it is still read) and :data:`SLACK_EPOCHS`."""
        return math.ceil((2.0 + SLACK_EPOCHS) * self.seconds)


def epoch_key(key: str, epoch: int) -> str:
    """The key of ``key``'s statistics in ``epoch``."""
    return f"{key}:w{epoch}"
