"""The skill-novelty rule of feed assembly (spec 2.7): a VMP, AU or NU item must bring a
skill the feed has not shown yet, once the feed has shown a few.

The legacy rule remembers every skill since the feed's first item. Measured offline
(bench/quality/OFFLINE.md, fourth round), it is what keeps the most liked resumes out of
the feed where a few skills cover most of the catalogue: on the popular world a resume
fifth in both the VMP and AU rankings was turned away from every page of 48 because its
skills were already on the page, and hit@24 fell below a plain most-popular list's.
:class:`SkillNovelty` can also remember only the last ``window`` resumes (a sliding
window, as the creator rule's), or nothing (the rule off).
"""

from __future__ import annotations

from collections import Counter, deque

from pitchrec.index.csr import Csr

#: Below this many distinct skills remembered, every candidate counts as novel (spec 2.7).
SKILL_NOVELTY_THRESHOLD = 3


class SkillNovelty:
    """The skills a feed has shown, as the novelty rule sees them.

    ``window``: None remembers every resume placed (the legacy rule); 0 remembers
    nothing (every candidate is novel); w > 0 the last w resumes placed.
    """

    def __init__(self, window: int | None = None) -> None:
        if window is not None and window < 0:
            raise ValueError("the skill-novelty window must be None or >= 0")
        self._window = window
        self._counts: Counter[int] = Counter()  # skill -> resumes remembered holding it
        self._recent: deque[list[int]] = deque()

    def novel(self, skills: list[int]) -> bool:
        """Does a resume with ``skills`` bring a skill not remembered (or is the rule
        not yet in force)?"""
        if self._window == 0 or len(self._counts) < SKILL_NOVELTY_THRESHOLD:
            return True
        return any(skill not in self._counts for skill in skills)

    def novel_row(self, skills: Csr, row: int) -> bool:
        """:meth:`novel` for the skills of row ``row`` of ``skills``, read only when the
        rule is in force (the service's rule is off: assembly reads no skills)."""
        if self._window == 0 or len(self._counts) < SKILL_NOVELTY_THRESHOLD:
            return True
        return self.novel(skills.row(row).tolist())

    def push_row(self, skills: Csr, row: int) -> None:
        """:meth:`push` of the skills of row ``row`` of ``skills`` (read only if kept)."""
        if self._window != 0:
            self.push(skills.row(row).tolist())

    def push(self, skills: list[int]) -> None:
        """Remember a placed resume's skills (its distinct skills count once each)."""
        if self._window == 0:
            return
        distinct = list(dict.fromkeys(skills))
        self._counts.update(distinct)
        if self._window is None:
            return
        self._recent.append(distinct)
        if len(self._recent) > self._window:
            for skill in self._recent.popleft():
                self._counts[skill] -= 1
                if self._counts[skill] == 0:
                    del self._counts[skill]
