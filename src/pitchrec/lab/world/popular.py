"""The popular world: the collaborative model with a dominant global popularity.

``generate_world(..., kind="popular")`` is :mod:`.collaborative` in every respect (latent
factors, time axis, exposure, event kinds, random streams: the same seed draws the same
factors, popularity and activity periods) except the coefficient set :data:`POPULAR`:
the popularity term dominates the utility and personal taste (latent factors, skills,
city) is weak, so likes concentrate on few resumes. It stands in for deployments whose
app showed much the same feed to everyone, where a plain most-popular list is hard to
beat (on real held-out data a most-popular list reached hit@24 84 %, NDCG@24 24.4 %), to
check that defaults tuned on one world still hold there.
"""

from __future__ import annotations

from pitchrec.lab.world.collaborative import LatentModel

#: Utility coefficients (design choice, calibrated). Popularity dominates: its term has
#: std 3.5 against 1.0 for the latent taste (``collab``) and, scaled from the collaborative
#: world's measured spreads (scale 1, seed 7), about 0.05 for taste, 0.08 for city and
#: 0.23 for quality; taste, city and social are a quarter to a half of the collaborative
#: world's. Calibrated with ``pitchrec evaluate offline`` on the scale-1 world (holdout
#: 0.2, k 24), popularity hit@24 / NDCG@24 at popularity 3.0, 3.5, 4.0, 5.0: seed 7
#: 57.7/22.8, 63.8/26.2, 69.3/29.4, 55.4/23.1 (item-kNN 54.0 and ALS 44.3 at 3.5); seeds
#: 8 and 9 at 3.5: 93.6/54.6 and 88.9/33.3 (real data: 84/24.4). Above 4 the held-out
#: likes pile onto whichever hit appeared just before the cut (at 5.0, seed 7: a resume
#: 0.2 days old takes a third of them, 77th in the training counts), so the list worsens.
POPULAR_COEFFICIENTS: dict[str, float] = {
    "taste": 1.0,
    "city": 0.25,
    "social": 1.0,
    "quality": 1.0,
    "recency": 0.5,
    "collab": 1.0,
    "popularity": 3.5,
}
#: Log-popularity spread of the aggregate tables (design choice, as the collaborative
#: world's POP_SIGMA: the top 10 % of eligible resumes hold the same share of the ``views``
#: rows as of the user-attributed interactions, 0.91 measured at scale 1, seed 7).
POPULAR_POP_SIGMA = 3.0

#: The popular world's parameters.
POPULAR = LatentModel("popular", POPULAR_COEFFICIENTS, POPULAR_POP_SIGMA)
