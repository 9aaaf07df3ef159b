"""Shared pieces of the generator: random streams, volumes, time and column helpers."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]
Bools = NDArray[np.bool_]
Objects = NDArray[np.object_]
#: A table as named columns of equal length; values are numpy arrays or Python lists.
Columns = dict[str, Any]

DAY = 86_400
#: Margin kept between generated timestamps and every window edge, so a loader run a few
#: minutes (or hours) after generation sees the same eligible rows and windows.
EDGE = 2 * DAY
MINUTE = 60


def stream(seed: int, name: str) -> np.random.Generator:
    """An independent random stream per component, so one part can change without
    shifting the draws of the others."""
    return np.random.default_rng([seed & 0xFFFF_FFFF_FFFF_FFFF, zlib.crc32(name.encode())])


def count(base: float, scale: float, minimum: int = 1) -> int:
    """``base * scale`` rounded, never below ``minimum``."""
    return max(minimum, round(base * scale))


@dataclass(frozen=True)
class Volumes:
    """Target row counts for one scale (spec numbers at scale 1.0)."""

    users: int
    orgs: int
    eligible_resumes: int
    eligible_challenges: int
    events: int  # user -> resume events of the affinity model (all kinds, all times)
    challenge_events: int
    popularity_views: int  # `views` rows of resumes
    exhibited: int
    connections_recent: int
    scale: float

    @classmethod
    def at(cls, scale: float) -> Volumes:
        if not np.isfinite(scale) or scale <= 0:
            raise ValueError(f"scale must be a positive number, got {scale!r}")
        return cls(
            users=count(198_000, scale, 50),
            orgs=count(900, scale, 3),
            eligible_resumes=count(1_962, scale, 5),
            eligible_challenges=count(94, scale, 3),
            events=count(26_000, scale, 40),
            challenge_events=count(700, scale, 3),
            popularity_views=count(200_000, scale, 100),
            exhibited=count(15_000, scale, 10),
            connections_recent=count(26_000, scale, 20),
            scale=scale,
        )


def ages_to_datetimes(now: np.datetime64, ages: NDArray[Any]) -> list[Any]:
    """Python datetimes ``now - ages`` (seconds); a negative or NaN age gives None."""
    ages_f = np.asarray(ages, dtype=np.float64)
    missing = ~np.isfinite(ages_f) | (ages_f < 0)
    secs = np.where(missing, 0, ages_f).astype(np.int64)
    stamps = (now - secs.astype("timedelta64[s]")).astype("datetime64[us]")
    stamps[missing] = np.datetime64("NaT")
    out: list[Any] = stamps.tolist()
    return out


def weighted_pick(rng: np.random.Generator, weights: Floats, size: int) -> Ints:
    """``size`` indices drawn with replacement proportionally to ``weights``."""
    cdf = np.cumsum(weights, dtype=np.float64)
    picks: Ints = np.searchsorted(cdf, rng.random(size) * cdf[-1], side="right").astype(np.int64)
    return np.minimum(picks, len(weights) - 1)


def csr_from_groups(keys: Ints, n_groups: int) -> tuple[Ints, Ints]:
    """(indptr, order): rows of group g are ``order[indptr[g]:indptr[g+1]]``."""
    order = np.argsort(keys, kind="stable").astype(np.int64)
    indptr = np.zeros(n_groups + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=n_groups), out=indptr[1:])
    return indptr, order


def sample_from_groups(
    rng: np.random.Generator, indptr: Ints, members: Ints, groups: Ints, k: int
) -> tuple[Ints, Bools]:
    """For each entry of ``groups``, ``k`` members drawn with replacement from its group;
    returns (picks [len(groups), k], ok) where ``ok`` is False for empty groups."""
    start = indptr[groups]
    size = indptr[groups + 1] - start
    offs = (rng.random((len(groups), k)) * np.maximum(size, 1)[:, None]).astype(np.int64)
    picks = (
        members[np.minimum(start[:, None] + offs, len(members) - 1)]
        if len(members)
        else (np.zeros((len(groups), k), dtype=np.int64))
    )
    return picks, size > 0


def make_columns(n: int, **cols: object) -> Columns:
    """A table of ``n`` rows: each column an array of length ``n``, or a scalar repeated."""
    out: Columns = {}
    for k, v in cols.items():
        arr = np.asarray(v, dtype=object)
        out[k] = np.full(n, v, dtype=object) if arr.ndim == 0 else arr
    return out


def concat_columns(*parts: Columns) -> Columns:
    """The rows of ``parts`` (tables with the same columns) one after the other."""
    keys = parts[0].keys()
    return {k: np.concatenate([np.asarray(p[k], dtype=object) for p in parts]) for k in keys}


def ids_or_none(ids: np.ndarray, null: np.ndarray) -> Objects:
    """``ids`` as objects, None where ``null`` (same shape) is set."""
    out = ids.astype(object)
    out[null] = None
    return out


def category_labels(eligible: int, mix: tuple[tuple[str, float], ...]) -> list[str]:
    """The category of every row of a catalogue table, before shuffling: ``eligible``
    times "eligible", then for each (name, share) of ``mix`` ``max(1, round(share *
    eligible))`` times ``name``."""
    cats = ["eligible"] * eligible
    for name, share in mix:
        cats += [name] * max(1, round(share * eligible))
    return cats
