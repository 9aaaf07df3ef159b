"""A user's taste profile learned online: the resumes the user rewarded, and how much,
and the resumes the user skipped.

The engine reads the rewarded ones as extra preference rows next to the snapshot history
(spec 2.2), so features 5-7 (skill similarity, extended match, city) become personal
after a user's first likes, without waiting for a snapshot rebuild. The skipped ones only
enter the collaborative fold-in, as resumes the user examined and did not like
(:func:`pitchrec.models.collaborative_index.fold_in`). Where both come from and how they are
stored: :mod:`pitchrec.learning.profiles`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray


def _empty_ids() -> NDArray[np.int64]:
    return np.zeros(0, dtype=np.int64)


def _empty_weights() -> NDArray[np.float64]:
    return np.zeros(0, dtype=np.float64)


@dataclass(frozen=True)
class TasteProfile:
    """``resume_ids`` (k,) and their summed rewards ``weights`` (k,), heaviest first;
    ``skipped_ids`` (m,) and their skip counts ``skips`` (m,), most skipped first. The
    length of a profile is its rewarded resumes: skips alone do not make a user warm."""

    resume_ids: NDArray[np.int64] = field(default_factory=_empty_ids)
    weights: NDArray[np.float64] = field(default_factory=_empty_weights)
    skipped_ids: NDArray[np.int64] = field(default_factory=_empty_ids)
    skips: NDArray[np.float64] = field(default_factory=_empty_weights)

    def __post_init__(self) -> None:
        if self.resume_ids.shape != self.weights.shape or self.resume_ids.ndim != 1:
            raise ValueError("resume_ids and weights must be 1-D arrays of one length")
        if self.skipped_ids.shape != self.skips.shape or self.skipped_ids.ndim != 1:
            raise ValueError("skipped_ids and skips must be 1-D arrays of one length")

    def __len__(self) -> int:
        return int(self.resume_ids.shape[0])


EMPTY_PROFILE = TasteProfile()
