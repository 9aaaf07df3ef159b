"""One shadowed feed with its outcome: what the slate estimators (:mod:`.slate`) read.

Built by :mod:`.shadow_log` from a shadow log joined with its feedback events.
"""

from __future__ import annotations

from dataclasses import dataclass

from pitchrec.domain.shadow import ShadowLog


@dataclass(frozen=True)
class ShadowFeed:
    """One shadowed feed with its outcome: ``rewards`` (K,) and ``examined`` (K,) per
    served position (any feedback event at it)."""

    log: ShadowLog
    rewards: tuple[float, ...]
    examined: tuple[bool, ...]

    @property
    def cluster(self) -> str:
        user = self.log.user_id
        return f"u:{user}" if user else f"f:{self.log.request_id}"
