"""The one short English sentence of an explanation (:mod:`.explain`).

Built from the decomposition (:func:`speakers`): a personal component (affinity, skills,
social tie) carrying at least a tenth of the item's points speaks first, else the largest
positive component; one that cannot be said truthfully about this item and this user (a
skill match without a shared skill name, as for a cold user's flat similarity) gives way
to the next. Names come from the snapshot: skill and city vocabularies, creators' names,
the user's own history. Fallbacks (EXPLORE, the fresh guarantee) say so instead.

"Popular with people who liked X" names the liked resume that contributes most to the
item's collaborative affinity: ALS predicts p_ui = sum_j s_ij c_uj over the user's
preference rows j, s_ij = y_i' W y_j with W the fold-in's (Y'Y + Y_u'(C_u - I)Y_u +
lambda I)^-1 (Hu, Koren and Volinsky 2008, section 5), so the j of the largest positive
s_ij c_uj is the one the recommendation leans on most. Only rows the user really liked
count (:data:`LIKED_WEIGHT`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np
from numpy.typing import NDArray

from pitchrec.domain.explanation import Reason
from pitchrec.domain.feed import FeedItem, ItemKind
from pitchrec.index.scores import NEW_CONTENT_DAYS, age_scores
from pitchrec.index.snapshot import Snapshot
from pitchrec.models.collaborative_index import fold_in_system
from pitchrec.ranking.user_context import UserContext

#: A preference row this heavy is a like: a save (0.8), a match (1.0), a rating of 3 or
#: more ((rating - 1) / 4, index.build.KIND_WEIGHTS) or an online like (1.0); a view
#: (0.3) is not.
LIKED_WEIGHT = 0.5
MAX_NAMES = 3  # skills named in one sentence
MAX_TITLE = 40  # characters of a description used as a title
HIGH_RATING = 4.0
#: The components a sentence can be built from, in order of preference on ties.
SPOKEN = (
    "collaborative_affinity",
    "skill_match",
    "social_tie",
    "freshness",
    "popularity_prior",
    "item_quality",
    "learned",
    "exploration_bonus",
)
#: What is about this user rather than the item alone. A personal reason is said before
#: a larger impersonal one (the popularity prior is up to 60 points of every score in the
#: service) when it carries at least this share of the item's positive points: "Popular
#: right now" alone described 75 % of a total feed's items on the collaborative world.
PERSONAL = ("collaborative_affinity", "skill_match", "social_tie")
PERSONAL_SHARE = 0.1
EXPLORE_SENTENCE = "A random pick to widen your feed"
FRESH_SENTENCE = "New work few people have seen yet"
DEFAULT_SENTENCE = "Picked for variety"
#: What the components that need no names say.
_FIXED = {
    "popularity_prior": "Popular right now",
    "learned": "Boosted by recent feedback",
    "exploration_bonus": "Still learning who likes this",
}


def speakers(components: Mapping[str, float]) -> list[str]:
    """The components a resume's sentence is tried from, in order: the personal ones
    (:data:`PERSONAL`) that carry at least :data:`PERSONAL_SHARE` of the item's positive
    points, largest first; then the other positive ones, largest first; the exploration
    bonus last (it is about the same for every candidate, so it rarely says why this one)."""
    positive = sum(v for v in components.values() if v > 0.0)
    ranked = sorted(
        (c for c in SPOKEN if components[c] > 0.0),
        key=lambda c: (-components[c], SPOKEN.index(c)),
    )
    personal = [c for c in ranked if c in PERSONAL and components[c] >= PERSONAL_SHARE * positive]
    rest = [c for c in ranked if c not in personal and c != "exploration_bonus"]
    return personal + rest + [c for c in ranked if c == "exploration_bonus"]


def _real_city(name: str) -> bool:
    """Not a placeholder of the city normalisation (spec 1.3: Unknown, Other-<country>)."""
    return bool(name) and name != "Unknown" and not name.startswith("Other-")


class Sentences:
    """Sentences for the items of one feed, for one user."""

    def __init__(self, snapshot: Snapshot, user: UserContext, now: float) -> None:
        self._snapshot = snapshot
        self.user = user
        self._now = now
        self._fold: tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]] | None
        self._fold = None
        self._folded = False

    def sentence(
        self,
        item: FeedItem,
        row: int,
        components: Mapping[str, float],
        reason: Reason | None,
    ) -> str:
        if reason is Reason.EXPLORE:
            return EXPLORE_SENTENCE
        if reason is Reason.FRESH_GUARANTEE:
            return FRESH_SENTENCE
        if item.kind is ItemKind.CHALLENGE:
            return self._challenge(row, components)
        for component in speakers(components):
            text = self._resume(component, row)
            if text:
                return text
        return DEFAULT_SENTENCE

    def _challenge(self, row: int, components: Mapping[str, float]) -> str:
        if components["social_tie"] > 0.0:
            return "From someone you follow"
        if components["freshness"] > 0.0:
            days = self._days(self._snapshot.challenges.created_at, row)
            return "New open call this week" if days < 7 else "Recent open call"
        return "An open call picked for variety"

    def _days(self, created_at: NDArray[np.float64], row: int) -> float:
        return float(age_scores(np.asarray(created_at)[row : row + 1], self._now).days[0])

    def _resume(self, component: str, row: int) -> str | None:
        """The sentence ``component`` says about resume ``row``; None if it cannot."""
        fixed = _FIXED.get(component)
        if fixed is not None:
            return fixed
        speak: dict[str, Callable[[int], str | None]] = {
            "collaborative_affinity": self._affinity,
            "skill_match": self._skills,
            "social_tie": self._social,
            "freshness": self._fresh,
            "item_quality": self._quality,
        }
        return speak[component](row)

    def _affinity(self, row: int) -> str | None:
        liked = self.liked_row(row)
        if liked is None:
            return "Liked by people with tastes like yours"
        return f"Popular with people who liked {self._title(liked)}"

    def _skills(self, row: int) -> str | None:
        names = self.shared_skills(row)
        return f"Matches your skills: {', '.join(names)}" if names else None

    def _social(self, row: int) -> str | None:
        if np.isin(int(self._snapshot.resumes.creator[row]), self.user.following):
            return "From someone you follow"
        city = self._shared_city(row)
        return f"From {city}, where you've watched pitches" if city else None

    def _fresh(self, row: int) -> str | None:
        days = self._days(self._snapshot.resumes.created_at, row)
        if days > NEW_CONTENT_DAYS:
            return None
        city = self._shared_city(row)
        if city:
            return f"New from {city}, where you've watched pitches"
        return "New this week" if days < 7 else "Recently posted"

    def _quality(self, row: int) -> str | None:
        rating = float(self._snapshot.resumes.avg_rating[row])
        return f"Rated {rating:.1f} of 5" if rating >= HIGH_RATING else None

    def shared_skills(self, row: int) -> list[str]:
        """Names of the resume's skills that are in the user's skill profile (at most
        :data:`MAX_NAMES`, in the resume's order)."""
        vocab = self._snapshot.vocab.skills
        skills = self._snapshot.resumes.skills.row(row).tolist()
        mask = self.user.skills
        shared = [vocab.text(s) for s in skills if s < mask.shape[0] and mask[s]]
        return [name for name in shared if name][:MAX_NAMES]

    def _shared_city(self, row: int) -> str | None:
        city = int(self._snapshot.resumes.city[row])
        cities = self.user.cities
        if city >= cities.shape[0] or not cities[city]:
            return None
        name = self._snapshot.vocab.cities.text(city)
        return name if _real_city(name) else None

    def _title(self, row: int) -> str | None:
        resumes = self._snapshot.resumes
        creator = resumes.creator_name.text(row).strip()
        if creator:
            return f"{creator}'s pitch"
        description = " ".join(resumes.description.text(row).split())
        if not description:
            return None
        if len(description) > MAX_TITLE:
            description = description[: MAX_TITLE - 1].rstrip() + "…"
        return f"“{description}”"

    def liked_row(self, row: int) -> int | None:
        """The nameable liked resume that contributes most to resume ``row``'s
        collaborative affinity (module docstring), or None."""
        fold = self._fold_in()
        if fold is None:
            return None
        rows, confidence, weights_times_factors = fold
        factors = self._snapshot.collab.item_factors
        contributions = (factors[row].astype(np.float64) @ weights_times_factors) * confidence
        for j in np.argsort(-contributions, kind="stable").tolist():
            if contributions[j] <= 0.0:
                return None
            candidate = int(rows[j])
            if candidate != row and self._title(candidate) is not None:
                return candidate
        return None

    def _fold_in(self) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64]] | None:
        """The user's liked rows (k,), their confidence (k,) and W Y_u' (f, k), once."""
        if self._folded:
            return self._fold
        self._folded = True
        collab = self._snapshot.collab
        user = self.user
        keep = user.preference_weights > 0
        if collab.factors == 0 or not keep.any():
            return None
        rows = user.preference_rows[keep]
        weights = user.preference_weights[keep]
        factors = collab.item_factors[rows].astype(np.float64)  # (k, f)
        confidence = 1.0 + collab.alpha * weights
        system = fold_in_system(collab, factors, confidence, user.skipped_rows, user.skips)
        solved = np.asarray(np.linalg.solve(system, factors.T), dtype=np.float64)  # (f, k)
        liked = weights >= LIKED_WEIGHT
        if not liked.any():
            return None
        self._fold = (rows[liked], confidence[liked], solved[:, liked])
        return self._fold
