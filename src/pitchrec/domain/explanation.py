"""Why an item is in a feed: its score split into named parts (issue 14, item 3).

Imports nothing from pitchrec; built by :mod:`pitchrec.ranking.explain`, which says
which score terms and context features each component holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

#: The components of every explanation, in the order the API lists them. Their values
#: add up to the score explained (to float rounding).
COMPONENTS = (
    "popularity_prior",
    "collaborative_affinity",
    "skill_match",
    "social_tie",
    "freshness",
    "item_quality",
    "learned",
    "exploration_bonus",
    "noise",
    "other",
)
#: The components the learned term is split into (the learned term is not part of itself).
LEARNED_COMPONENTS = tuple(c for c in COMPONENTS if c not in ("learned", "exploration_bonus"))


class Reason(StrEnum):
    """Why an item came from a fallback rather than from its slot's own ranking."""

    EXPLORE = "explore_fallback"  # uniform draw: the slot's pool had nothing acceptable
    RANKED_FILL = "ranked_fill"  # best-ranked candidate the skill-novelty rule turned away
    NOVELTY_WAIVED = "novelty_waived"  # last resort: skill-novelty rule waived
    FRESH_GUARANTEE = "fresh_guarantee"  # placed by the fresh-resume exposure guarantee


@dataclass(frozen=True)
class Explanation:
    """One served item's score, decomposed.

    ``components``: score points by component (keys :data:`COMPONENTS`, in that order),
    summing to ``score``; ``learned``: the ``learned`` component split by what it weighs
    (keys :data:`LEARNED_COMPONENTS`), summing to ``components["learned"]``; ``reason``:
    the fallback that placed the item, None when its slot's ranking did; ``sentence``: one
    short English sentence for the person the feed is for.
    """

    score: float
    components: dict[str, float]
    learned: dict[str, float] = field(default_factory=dict)
    reason: Reason | None = None
    sentence: str = ""
