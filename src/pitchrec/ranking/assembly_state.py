"""The state feed assembly (:mod:`.assemble`) walks with: :class:`Placement`, one placed
item; :class:`PoolCursor`, the walk through one pool with its deferred and turned-away
queues; :class:`CreatorWindow`, the creators of the last placed items (the sliding
creator-diversity window, D-C5)."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

from pitchrec.domain.feed import Pool
from pitchrec.ranking.pools import PoolCandidates


@dataclass
class Placement:
    """One placed item: the row in its table, the slot label and the pool it came from,
    and its position in that pool (to find its score and context)."""

    row: int
    is_challenge: bool
    slot: Pool
    pool: Pool
    pool_position: int
    novelty_waived: bool = False  # placed by the last-resort pass (skill rule waived)
    fresh_guaranteed: bool = False  # placed by the fresh-resume exposure guarantee


@dataclass(eq=False)  # compared by identity: field by field, 4.2 us a fresh slot (1.0; timeit)
class PoolCursor:
    candidates: PoolCandidates
    rows: list[int]
    creators: list[int]
    is_challenge: bool
    next: int = 0
    end: int = -1  # where the walk stops (-1: the end of the pool)
    deferred: deque[int] = field(default_factory=deque)  # blocked by the creator window
    not_novel: deque[int] = field(default_factory=deque)  # turned away by the skill rule

    def __post_init__(self) -> None:
        if self.end < 0:
            self.end = len(self.rows)

    def live(self) -> list[int]:
        """Positions not yet consumed (deferred, turned away, or not walked yet), in the
        pool's order (best-ranked first)."""
        earlier = sorted({*self.deferred, *self.not_novel})
        return [*earlier, *range(self.next, self.end)]

    def forget(self, position: int) -> None:
        """Drop ``position`` from the queues (it was placed out of turn)."""
        if position in self.deferred:
            self.deferred.remove(position)
        if position in self.not_novel:
            self.not_novel.remove(position)


class CreatorWindow:
    """The creators of the last ``size - 1`` placed items."""

    def __init__(self, size: int) -> None:
        self._recent: deque[int] = deque(maxlen=size - 1)
        self._counts: Counter[int] = Counter()

    def blocks(self, creator: int) -> bool:
        return self._counts[creator] > 0

    def push(self, creator: int) -> None:
        if self._recent.maxlen == len(self._recent):
            self._counts[self._recent[0]] -= 1
        self._recent.append(creator)
        self._counts[creator] += 1
