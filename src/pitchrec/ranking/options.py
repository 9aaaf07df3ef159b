"""Engine options: what the service changes in the legacy ranking (settings
PITCHREC_SAMPLING_TEMPERATURE and PITCHREC_DECLARED_SKILLS)."""

from __future__ import annotations

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

    def __post_init__(self) -> None:
        t = self.temperature
        if t is not None and not (np.isfinite(t) and t > 0):
            raise ValueError("temperature must be finite and > 0, or None")
        for name in ("collaborative", "popularity_prior"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0.0):
                raise ValueError(f"{name} must be finite and >= 0")

    @classmethod
    def legacy(cls) -> RankingOptions:
        """The original service's ranking (D-C20 kept, legacy draws)."""
        return cls(temperature=None, declared_skills=False)

    @classmethod
    def service(cls) -> RankingOptions:
        """What the service runs by default: tempered draws, declared skills, the
        collaborative affinity and popularity prior in VMP, AU and NU with learned
        weights, AU ranking every available resume, ranked fill."""
        return cls(
            temperature=DEFAULT_TEMPERATURE,
            declared_skills=True,
            collaborative=DEFAULT_COLLABORATIVE,
            popularity_prior=DEFAULT_POPULARITY_PRIOR,
            ranked_fill=True,
            au_shares_candidates=True,
            boost_new=True,
            learned_blend=True,
        )

    def blend_prior(self) -> tuple[float, float] | None:
        """Points of (affinity, prior) the policies start from with ``learned_blend``;
        None without it."""
        return (self.collaborative, self.popularity_prior) if self.learned_blend else None

    def overridden(self, assignments: list[str]) -> RankingOptions:
        """These options with ``<field>=<number>`` assignments applied (booleans as 0/1),
        as the lab's ``service@collaborative=10@boost_new=0`` names write them. Raises
        ValueError naming the known fields for anything else."""
        known = {f.name: str(f.type) for f in fields(self)}
        changes: dict[str, float | bool] = {}
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
            changes[key] = bool(value) if "bool" in known[key] else value
        return replace(self, **changes)  # type: ignore[arg-type]

    def weights(self, scores: NDArray[np.float64]) -> NDArray[np.float64] | None:
        """(k,) sampling weights for ``scores`` (k,), or None for the legacy draw."""
        if self.temperature is None or scores.shape[0] == 0:
            return None
        finite = np.where(np.isfinite(scores), scores, -np.inf)
        tempered: NDArray[np.float64] = np.exp((finite - finite.max()) / self.temperature)
        return tempered
