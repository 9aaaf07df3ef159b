"""A user's taste profile learned online: the resumes the user rewarded, and how much.

The engine reads it as extra preference rows next to the snapshot history (spec 2.2), so
features 5-7 (skill similarity, extended match, city) become personal after a user's
first likes, without waiting for a snapshot rebuild. Where it comes from and how it is
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
    """``resume_ids`` (k,) and their summed rewards ``weights`` (k,), heaviest first."""

    resume_ids: NDArray[np.int64] = field(default_factory=_empty_ids)
    weights: NDArray[np.float64] = field(default_factory=_empty_weights)

    def __post_init__(self) -> None:
        if self.resume_ids.shape != self.weights.shape or self.resume_ids.ndim != 1:
            raise ValueError("resume_ids and weights must be 1-D arrays of one length")

    def __len__(self) -> int:
        return int(self.resume_ids.shape[0])


EMPTY_PROFILE = TasteProfile()
