"""The collaborative model at request time: the index the snapshot keeps and the fold-in.

The snapshot keeps the ALS item factors and their Gram matrix, not the user factors
(:class:`CollaborativeIndex`, every array memory-mappable); a user's vector is folded in
per request from the user's history and fresh likes (:func:`fold_in`), so a like changes
the next page without retraining, and :func:`affinity` scores every resume with it.
Training (the implicit ALS fit, the interaction weights, the hyper-parameters and the
choices made on the history) is :mod:`pitchrec.models.collaborative`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pitchrec.models.affinity_ratio import DEFAULT_AFFINITY_RATIO

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]


@dataclass(frozen=True)
class CollaborativeIndex:
    """What the request path needs of the model; all arrays memory-mappable.

    ``item_factors`` (n, f) float32, rows aligned with the snapshot's resumes (zeros for
    resumes without interactions); ``gram`` (f, f) float64, the item factors' Gram
    matrix Y^T Y; ``settings`` (5,) float64: regularization, alpha, the ALS weights'
    half-life and the prior's (chosen on the history; inf: no decay), in days, and the
    affinity : prior ratio (chosen on the history, :mod:`.affinity_ratio`);
    ``interactions`` (n,) float64: decayed interaction weight per resume (the popularity
    prior). ``f`` is 0 when there was nothing to learn from.
    """

    item_factors: NDArray[np.float32]
    gram: Floats
    settings: Floats
    interactions: Floats

    @property
    def factors(self) -> int:
        return int(self.item_factors.shape[1])

    @property
    def regularization(self) -> float:
        return float(self.settings[0])

    @property
    def alpha(self) -> float:
        return float(self.settings[1])

    @property
    def prior_half_life_days(self) -> float:
        """The popularity prior's half-life in days (inf: no decay)."""
        return float(self.settings[3])

    @property
    def affinity_ratio(self) -> float:
        """The affinity : prior ratio the build chose (:mod:`.affinity_ratio`); the
        service's configured one for snapshots saved before the choice existed."""
        return float(self.settings[4]) if self.settings.shape[0] > 4 else DEFAULT_AFFINITY_RATIO

    @property
    def affinity_scale(self) -> float:
        """The multiplier of the [0, 1] affinity at serve time: chosen / configured ratio."""
        return self.affinity_ratio / DEFAULT_AFFINITY_RATIO


def fold_in(
    index: CollaborativeIndex,
    rows: Ints,
    weights: Floats,
    skipped_rows: Ints | None = None,
    skips: Floats | None = None,
) -> Floats | None:
    """The user vector (f,) that ALS would give a user with interactions on resume
    ``rows`` (k,) of weights ``weights`` (k,), with the item factors held fixed:
    x = (Y^T Y + Y_u^T (C_u - I) Y_u + lambda I)^-1 Y_u^T C_u 1 (Hu et al., eq. 4).
    ``skipped_rows`` (m,), examined and not liked ``skips`` (m,) times: preference 0 at
    confidence 1 + alpha * skips, as an unobserved resume is 0 at confidence 1; they only
    enter the system's matrix (:func:`fold_in_system`). None without factors or without a
    positive weight."""
    f = index.factors
    keep = weights > 0
    if f == 0 or not keep.any():
        return None
    factors = index.item_factors[rows[keep]].astype(np.float64)  # (k, f)
    confidence = 1.0 + index.alpha * weights[keep]  # (k,)
    system = fold_in_system(index, factors, confidence, skipped_rows, skips)
    vector: Floats = np.asarray(np.linalg.solve(system, factors.T @ confidence), dtype=np.float64)
    return vector


def fold_in_system(
    index: CollaborativeIndex,
    factors: Floats,
    confidence: Floats,
    skipped_rows: Ints | None = None,
    skips: Floats | None = None,
) -> Floats:
    """(f, f) the fold-in's matrix Y^T C_u Y + lambda I for the liked ``factors`` (k, f)
    at ``confidence`` (k,), plus alpha * skips Y_s^T Y_s for ``skipped_rows`` (m,)."""
    system = index.gram + (factors.T * (confidence - 1.0)) @ factors
    if skipped_rows is not None and skips is not None and skipped_rows.shape[0]:
        skipped = index.item_factors[skipped_rows].astype(np.float64)  # (m, f)
        system = system + (skipped.T * (index.alpha * skips)) @ skipped
    system[np.diag_indices(index.factors)] += index.regularization
    matrix: Floats = system
    return matrix


def affinity(index: CollaborativeIndex, vector: Floats | None) -> Floats | None:
    """(n,) predicted preference of every resume for a user vector (f,), or None."""
    if vector is None or index.factors == 0:
        return None
    scores: Floats = (index.item_factors @ vector.astype(np.float32)).astype(np.float64)
    return scores
