"""Feed assembly (spec 2.7): walk the slot pattern and fill each slot from its pool.

Rules kept from the legacy: the pattern VMP, AU, AU, VMP, NU, FW for at most 5 cycles;
a 150-attempt cap per slot; the skill-novelty rule once 3 skills have been shown; the
EXPLORE fallback for resume slots, labelled with the slot's pool; FW slots never fall
back.

Fixed (D-C28): when a resume slot finds nothing in its pool nor in EXPLORE, candidates
the skill rule turned away are used rather than leaving the slot empty.

Fixed (D-C5): creator diversity is a true sliding window, so no creator appears twice in
any 12 consecutive items. Fixed (D-C28): a candidate turned away only because its creator
is inside the window is deferred, not consumed, and is tried again first at the next slot
of its pool, so the window cannot starve a slot.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

import numpy as np

from pitchrec.domain.feed import Pool
from pitchrec.index.snapshot import ChallengeIndex, ResumeIndex
from pitchrec.ranking.pools import PoolCandidates

TOTAL_PATTERN = (Pool.VMP, Pool.AU, Pool.AU, Pool.VMP, Pool.NU, Pool.FW)
DISCOVER_PATTERN = (Pool.VMP, Pool.AU, Pool.AU, Pool.VMP, Pool.NU)
#: Spec 2.7 walks 24 // 6 + 1 = 5 cycles for 24 items; for other sizes (the v1 API honours
#: ``size``) the walk gets one spare cycle beyond what the size needs.
CREATOR_WINDOW = 12
MAX_ATTEMPTS = 150
SKILL_NOVELTY_THRESHOLD = 3


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


@dataclass
class _Cursor:
    candidates: PoolCandidates
    rows: list[int]
    creators: list[int]
    is_challenge: bool
    next: int = 0
    deferred: deque[int] = field(default_factory=deque)  # blocked by the creator window
    not_novel: deque[int] = field(default_factory=deque)  # turned away by the skill rule


class _CreatorWindow:
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


class FeedAssembler:
    """Walks the pattern over pools built for one request."""

    def __init__(
        self,
        resumes: ResumeIndex,
        challenges: ChallengeIndex,
        pools: dict[Pool, PoolCandidates],
        size: int,
    ) -> None:
        self._skills = resumes.skills
        self._size = size
        self._cursors: dict[Pool, _Cursor] = {}
        for pool, candidates in pools.items():
            is_challenge = pool is Pool.FW
            creators = challenges.creator if is_challenge else resumes.creator
            self._cursors[pool] = _Cursor(
                candidates,
                candidates.rows.tolist(),
                np.asarray(creators)[candidates.rows].tolist(),
                is_challenge,
            )
        self._placed_resumes: set[int] = set()
        self._placed_challenges: set[int] = set()
        self._shown_skills: set[int] = set()
        self._window = _CreatorWindow(CREATOR_WINDOW)
        self.placements: list[Placement] = []
        #: RankingOptions.ranked_fill: rule-waived ranked candidates before EXPLORE.
        self.ranked_fill = False

    def run(self, pattern: tuple[Pool, ...]) -> list[Placement]:
        cycles = -(-self._size // len(pattern)) + 1
        for _cycle in range(cycles):
            for slot in pattern:
                if len(self.placements) >= self._size:
                    return self.placements
                if slot is Pool.FW:
                    self._fill_flow()
                else:
                    self._fill_resume(slot)
        return self.placements

    def _novel(self, row: int) -> bool:
        if len(self._shown_skills) < SKILL_NOVELTY_THRESHOLD:
            return True
        return any(s not in self._shown_skills for s in self._skills.row(row).tolist())

    def _fill_resume(self, slot: Pool) -> None:
        cursor = self._cursors.get(slot)
        if cursor is not None and self._walk(cursor, slot, attempts=MAX_ATTEMPTS, novelty=True):
            return
        if self.ranked_fill and self._ranked_fallback(slot):
            return
        explore = self._cursors.get(Pool.EXPLORE)
        if explore is not None and self._walk(explore, slot, attempts=None, novelty=False):
            return
        # Last resort (D-C28): what the skill rule turned away, in pattern order, so a
        # small or skill-poor catalogue still fills the feed.
        for pool in (slot, Pool.VMP, Pool.AU, Pool.NU):
            cursor = self._cursors.get(pool)
            if cursor is not None and self._relaxed(cursor, slot):
                return

    def _ranked_fallback(self, slot: Pool) -> bool:
        """The best candidates the skill rule turned away (slot's pool first, then the
        pattern's), then the slot's pool walked on without the rule, before EXPLORE."""
        for pool in (slot, Pool.VMP, Pool.AU, Pool.NU):
            cursor = self._cursors.get(pool)
            if cursor is not None and self._relaxed(cursor, slot):
                return True
        cursor = self._cursors.get(slot)
        if cursor is not None and self._walk(cursor, slot, attempts=None, novelty=False):
            self.placements[-1].novelty_waived = True
            return True
        return False

    def _relaxed(self, cursor: _Cursor, slot: Pool) -> bool:
        for _ in range(len(cursor.not_novel)):
            if self._accept(cursor, cursor.not_novel.popleft(), slot, novelty=False):
                self.placements[-1].novelty_waived = True
                return True
        return False

    def _fill_flow(self) -> None:
        cursor = self._cursors.get(Pool.FW)
        if cursor is not None:
            self._walk(cursor, Pool.FW, attempts=None, novelty=False)

    def _walk(self, cursor: _Cursor, slot: Pool, *, attempts: int | None, novelty: bool) -> bool:
        """Try deferred candidates, then fresh ones; place the first acceptable one."""
        tried = 0
        retry = len(cursor.deferred)
        while retry and (attempts is None or tried < attempts):
            retry -= 1
            tried += 1
            if self._accept(cursor, cursor.deferred.popleft(), slot, novelty):
                return True
        while cursor.next < len(cursor.rows) and (attempts is None or tried < attempts):
            position = cursor.next
            cursor.next += 1
            tried += 1
            if self._accept(cursor, position, slot, novelty):
                return True
        return False

    def _accept(self, cursor: _Cursor, position: int, slot: Pool, novelty: bool) -> bool:
        row = cursor.rows[position]
        placed = self._placed_challenges if cursor.is_challenge else self._placed_resumes
        if row in placed:
            return False
        creator = cursor.creators[position]
        if self._window.blocks(creator):
            cursor.deferred.append(position)
            return False
        if novelty and not self._novel(row):
            cursor.not_novel.append(position)
            return False
        placed.add(row)
        if not cursor.is_challenge:
            self._shown_skills.update(self._skills.row(row).tolist())
        self._window.push(creator)
        pool = cursor.candidates.pool
        self.placements.append(Placement(row, cursor.is_challenge, slot, pool, position))
        return True
