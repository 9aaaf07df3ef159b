"""Engine options: what the service changes in the legacy ranking (settings
PITCHREC_SAMPLING_TEMPERATURE, PITCHREC_DECLARED_SKILLS and the others of
:mod:`pitchrec.settings`)."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

import numpy as np
from numpy.typing import NDArray

#: The service's default VMP/NU sampling temperature in score points (settings:
#: PITCHREC_SAMPLING_TEMPERATURE), chosen on the simulator (bench/quality/ANALYSIS.md).
DEFAULT_TEMPERATURE = 0.3
#: Score points of the collaborative affinity and of the popularity prior (both scaled to
#: [0, 1]) in the service's VMP and AU scores (settings PITCHREC_COLLABORATIVE_WEIGHT,
#: PITCHREC_POPULARITY_PRIOR). Chosen with ``pitchrec evaluate offline`` on both
#: synthetic worlds at scale 1 (bench/quality/OFFLINE.md): among 30/60, 20/40, 40/40 and
#: 60/60 it was best or tied on each world (NDCG@24 11.4 % vs 7.7 % without on the
#: collaborative world, 2.4 % vs 1.8 % on the skills world). Both signals dominate the
#: legacy heuristics (about 10 points) by design: the heuristics only break their ties.
DEFAULT_COLLABORATIVE = 30.0
DEFAULT_POPULARITY_PRIOR = 60.0
#: The new-creator exposure guarantee (settings PITCHREC_FRESH_SHARE,
#: PITCHREC_FRESH_MAX_IMPRESSIONS, PITCHREC_FRESH_MAX_DAYS; :mod:`.assemble`): at least
#: 1 in 8 of a feed's resumes is fresh, i.e. 3 of a discover feed of 24. 1/8 stays under
#: the share the pattern reserves for "new" content (its NU slot, 1 of 5 resume slots)
#: and is about 3 times the share of never-exhibited resumes in the service's feeds
#: without it (3.6-3.9 % on both synthetic worlds, for 6.5-15 % of their catalogues).
#: ``pitchrec evaluate offline`` (scale 1, 1,500 users, discover feeds, issue 14): 1/8
#: took the collaborative world's coverage from 4.6 % to 16.7 % of resumes for 2.0
#: points of hit@24 (39.9 %); 1/4 covered no more (16.7 %) for 5.4 points (:mod:`.assemble`).
DEFAULT_FRESH_SHARE = 0.125
#: A resume is fresh while the app exhibited it fewer times than this (the snapshot's
#: ``exhibited_count``, rows of ``resumes_exhibited``): 1, never exhibited. It is the
#: group the service hides: 15 % of the collaborative world's catalogue at the cut but
#: 3.6 % of its feeds' resumes (legacy 2.6 %). At 3 (40 % of the catalogue, 13 % of the
#: feeds) or 5 the feeds already held about 1/8 or more, so the guarantee barely acted:
#: in 400-odd discover feeds per world the resumes shown covered 13 % and 4 % of the
#: collaborative world's catalogue and 6.5 % and 4.7 % of the skills world's, against
#: 15.6 % and 10.1 % at 1 (4.1 % and 4.4 % without the guarantee).
DEFAULT_FRESH_MAX_IMPRESSIONS = 1
#: A resume is also fresh while younger than this many days; 0: age alone never makes a
#: resume fresh. A new resume starts unexhibited, so it is fresh by the count above until
#: it has been shown; age adds only young resumes that are shown already, and the
#: service's feeds favour those (the prior's recency: resumes under 3 days old were 5 %
#: of the collaborative world's feed items for 2.5 % of its catalogue, 22 % for 4 % on
#: the skills world), so with 3 or 14 days the quota filled with them and the guarantee
#: did not act on the skills world (coverage 4.4-4.7 %, as without it).
DEFAULT_FRESH_MAX_DAYS = 0.0
#: Candidate retrieval's budget in resume rows (settings PITCHREC_RETRIEVAL_CANDIDATES,
#: :mod:`.retrieval`). It applies only where a feed's available resumes outnumber it, so
#: the scale-1 worlds (2,466 resumes in the database, 1,991 eligible) are ranked exactly,
#: as before. At scale 20 (39,829 resumes) 3,000 gives a universe of about 1,600 rows
#: that held every candidate exact scoring put in VMP, NU, AU and the fresh tail over 200
#: requests (bench/retrieval_recall.py; 2,000: fresh tail 99.9 %, 1,000: 62 %), for a feed
#: p50 4 % above 2,000's and 21 % under 4,000's (bench/snapshot_feed_p50.py, medians of
#: 3 interleaved rounds: 8.91, 8.57 and 11.23 ms on the shared 2-core machine).
DEFAULT_RETRIEVAL_CANDIDATES = 3000
#: The service's skill-novelty memory (:mod:`.novelty`): 0, the rule off. Measured
#: offline on five synthetic worlds (bench/quality/OFFLINE.md, fourth round), off minus
#: the legacy rule, paired: hit@24 +0.7 to +4.3 points where a few resumes take most likes,
#: -0.2 [-0.5, +0.2] and -0.1 [-0.6, +0.6] on the other two (windows of 4, 8, 12 resumes
#: in between), for 3-18 % fewer distinct skills on a page of 24. None (a window at least
#: the feed's size too) is the legacy rule.
DEFAULT_SKILL_NOVELTY_WINDOW = 0


@dataclass(frozen=True)
class RankingOptions:
    """What the engine does beyond the legacy ranking. Two presets name every default:
    :meth:`legacy` (the original service, exactly) and :meth:`service` (what pitchrec
    serves unless told otherwise; the settings' defaults).

    ``declared_skills``: count the skills users declare in their profile in their skill
    profile (fix of D-C20, :mod:`pitchrec.ranking.user_context`).

    ``temperature``: how VMP and NU pick n of their top 2n. None: the legacy draws (VMP
    with probability proportional to the score, NU uniformly; scores of 15-25 points make
    both nearly uniform, so a better score barely changes what is shown,
    bench/quality/ANALYSIS.md). t > 0: both draw with weights exp((score - best) / t),
    t in score points.
    """

    temperature: float | None = None
    declared_skills: bool = False
    #: Score points of the collaborative affinity (scaled to [0, 1]) in VMP and AU.
    collaborative: float = 0.0
    #: Score points of the interaction-popularity prior (scaled to [0, 1]) in VMP and AU.
    popularity_prior: float = 0.0
    #: When a slot's pool has nothing the skill-novelty or creator rule accepts, fill it
    #: from the best-ranked candidates those rules turned away (marked novelty_waived)
    #: before any uniform EXPLORE draw; False: the legacy uniform fallback first.
    ranked_fill: bool = False
    #: AU ranks every available candidate, not only what VMP and NU left: assembly
    #: already skips what another slot placed (False: the legacy leftovers).
    au_shares_candidates: bool = False
    #: NU adds the same points as VMP and AU (the prior and the affinity).
    boost_new: bool = False
    #: The affinity and the prior enter the pool policies' contexts (columns 18-19)
    #: instead of fixed points: ``collaborative`` and ``popularity_prior`` become the
    #: prior mean of their learned weights (:meth:`blend_prior`), which rewards move.
    learned_blend: bool = False
    #: The points of (affinity, prior) are chosen per request among angles around these
    #: ones by the likes each angle earns (:mod:`pitchrec.ranking.blend_search`; the
    #: service layer chooses, the engine ranks with fixed points). Not with
    #: ``learned_blend``; nothing to search without points.
    blend_search: bool = False
    #: The prior is corrected by each resume's like rate in the online feedback against
    #: the rate its prior predicts, shared by every replica
    #: (:mod:`pitchrec.ranking.live_prior`; the service layer serves it, the engine ranks
    #: with the prior it is given). Off in both presets: level with frozen policies in
    #: both worlds' replays (bench/quality/ONLINE.md, "Live prior"); an experiment decides.
    live_prior: bool = False
    #: New-creator exposure guarantee: at least this share of each mixed feed's resume
    #: items is fresh (:mod:`.assemble`, :class:`~.assemble.FreshGuarantee`); 0: off.
    fresh_share: float = 0.0
    #: A resume is fresh while its ``exhibited_count`` is below this ... (0: never by
    #: impressions).
    fresh_max_impressions: int = 0
    #: ... or while it is younger than this many days (0: never by age). With both at 0
    #: nothing is fresh: no guarantee and no fresh metrics (the legacy).
    fresh_max_days: float = 0.0
    #: Candidate retrieval (:mod:`.retrieval`): a mixed feed whose available resumes
    #: outnumber this ranks a universe of at most this many rows instead of the whole
    #: catalogue; 0: exact scoring (the legacy).
    retrieval_candidates: int = 0
    #: The skill-novelty rule's memory (:mod:`.novelty`): None, every resume since the
    #: feed's first (the legacy); 0, none (the rule off); w, the last w resumes placed.
    skill_novelty_window: int | None = None
    #: The collaborative fold-in counts the resumes the user skipped (the taste profile's
    #: skips) as examined and not liked (:func:`pitchrec.models.collaborative_index.fold_in`);
    #: False: the liked ones alone.
    fold_in_skips: bool = False

    def __post_init__(self) -> None:
        t = self.temperature
        if t is not None and not (np.isfinite(t) and t > 0):
            raise ValueError("temperature must be finite and > 0, or None")
        for name in ("collaborative", "popularity_prior", "fresh_max_days"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be finite and >= 0")
        if not (np.isfinite(self.fresh_share) and 0.0 <= self.fresh_share <= 1.0):
            raise ValueError("fresh_share must be in [0, 1]")
        if self.fresh_max_impressions < 0:
            raise ValueError("fresh_max_impressions must be >= 0")
        if self.retrieval_candidates < 0:
            raise ValueError("retrieval_candidates must be >= 0")
        if self.skill_novelty_window is not None and self.skill_novelty_window < 0:
            raise ValueError("skill_novelty_window must be None or >= 0")
        if self.blend_search and self.learned_blend:
            raise ValueError("blend_search and learned_blend exclude each other")

    @classmethod
    def legacy(cls) -> RankingOptions:
        """The original service's ranking (D-C20 kept, legacy draws)."""
        return cls(temperature=None, declared_skills=False)

    @classmethod
    def service(cls) -> RankingOptions:
        """What the service runs by default: tempered draws, declared skills, the
        collaborative affinity and popularity prior in VMP, AU and NU, their mix searched
        online by the service (:mod:`pitchrec.ranking.blend_search`), AU ranking every
        available resume, ranked fill, the fresh-resume exposure guarantee, candidate
        retrieval beyond 3,000 available resumes."""
        return cls(
            temperature=DEFAULT_TEMPERATURE,
            declared_skills=True,
            collaborative=DEFAULT_COLLABORATIVE,
            popularity_prior=DEFAULT_POPULARITY_PRIOR,
            ranked_fill=True,
            au_shares_candidates=True,
            boost_new=True,
            blend_search=True,
            fresh_share=DEFAULT_FRESH_SHARE,
            fresh_max_impressions=DEFAULT_FRESH_MAX_IMPRESSIONS,
            fresh_max_days=DEFAULT_FRESH_MAX_DAYS,
            retrieval_candidates=DEFAULT_RETRIEVAL_CANDIDATES,
            skill_novelty_window=DEFAULT_SKILL_NOVELTY_WINDOW,
        )

    @property
    def searches_blend(self) -> bool:
        """The service searches the mix: ``blend_search`` and points to mix (with
        neither the affinity nor the prior there is nothing to search)."""
        return self.blend_search and self.collaborative + self.popularity_prior > 0.0

    @property
    def tracks_fresh(self) -> bool:
        """Some resumes can count as fresh (the feed metrics report them)."""
        return self.fresh_max_impressions > 0 or self.fresh_max_days > 0.0

    @property
    def guarantees_fresh(self) -> bool:
        """The exposure guarantee is on: a share to enforce and something fresh."""
        return self.fresh_share > 0.0 and self.tracks_fresh

    def fresh(
        self, exhibited_count: NDArray[np.int64], days: NDArray[np.float64]
    ) -> NDArray[np.bool_]:
        """(n,) True for the resumes that count as fresh: exhibited fewer than
        ``fresh_max_impressions`` times, or ``days`` (whole days since creation, as
        :func:`pitchrec.index.scores.age_scores`) below ``fresh_max_days``."""
        few: NDArray[np.bool_] = np.asarray(exhibited_count) < self.fresh_max_impressions
        young: NDArray[np.bool_] = np.asarray(days) < self.fresh_max_days
        return few | young

    def blend_prior(self) -> tuple[float, float] | None:
        """Points of (affinity, prior) the policies start from with ``learned_blend``;
        None without it."""
        return (self.collaborative, self.popularity_prior) if self.learned_blend else None

    def overridden(self, assignments: list[str]) -> RankingOptions:
        """These options with ``<field>=<number>`` assignments applied (booleans as 0/1,
        integers as whole numbers), as the lab's ``service@collaborative=10@boost_new=0``
        or ``service@fresh_share=0`` names write them. Raises ValueError naming the known
        fields for anything else. Turning ``learned_blend`` on turns ``blend_search`` off
        unless the assignments set it too (the two exclude each other)."""
        known = {f.name: str(f.type) for f in fields(self)}
        changes: dict[str, float | bool | int] = {}
        for assignment in assignments:
            key, _, text = assignment.partition("=")
            if key not in known or not text:
                raise ValueError(
                    f"{assignment!r} is not <option>=<value> with an option of "
                    f"RankingOptions ({', '.join(known)})"
                )
            try:
                value = float(text)
            except ValueError as exc:
                raise ValueError(f"{text!r} is not a number") from exc
            if "bool" in known[key]:
                changes[key] = bool(value)
            elif known[key] in ("int", "int | None"):
                if not (math.isfinite(value) and value.is_integer()):
                    raise ValueError(f"{key} takes a whole number, not {text!r}")
                changes[key] = int(value)
            else:
                changes[key] = value
        if changes.get("learned_blend") and "blend_search" not in changes:
            changes["blend_search"] = False
        return replace(self, **changes)  # type: ignore[arg-type]

    def weights(self, scores: NDArray[np.float64]) -> NDArray[np.float64] | None:
        """(k,) sampling weights for ``scores`` (k,), or None for the legacy draw."""
        if self.temperature is None or scores.shape[0] == 0:
            return None
        finite = np.where(np.isfinite(scores), scores, -np.inf)
        tempered: NDArray[np.float64] = np.exp((finite - finite.max()) / self.temperature)
        return tempered
