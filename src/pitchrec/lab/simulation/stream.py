"""The simulated traffic: who asks for a feed, in which session, with which random numbers.

A stream depends only on (world, seed, config), never on the policy, so every arm of an
experiment serves the very same requests and the users react with the very same random
numbers (common random numbers: differences between arms are due to the feeds alone).

Sessions: a user drawn with probability proportional to the truth ``user_activity``
requests ``pages`` consecutive feeds (pages ~ Geometric(1 / pages_per_session), so the mean
is ``pages_per_session``) within one ``session_id``; the engine excludes what the session
already got. Requests are ``seconds_per_request`` simulated seconds apart.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from pitchrec.lab.world.sim_world import SimWorld

Ints = NDArray[np.int64]
_STREAM_TAG = 0x5EED_57
_REACTION_TAG = 0x5EED_8EAC


@dataclass(frozen=True)
class StreamConfig:
    """Traffic parameters (every one has a CLI flag)."""

    impressions: int = 200_000  # target resume impressions per arm and seed
    feed_size: int = 24  # items per request (spec 2.1)
    pages_per_session: float = 3.0  # mean feeds requested per session
    seconds_per_request: float = 1.0  # simulated clock step between requests

    def __post_init__(self) -> None:
        if self.impressions < 1 or self.feed_size < 1:
            raise ValueError("impressions and feed_size must be >= 1")
        if self.pages_per_session < 1.0:
            raise ValueError("pages_per_session must be >= 1")
        if self.seconds_per_request < 0.0:
            raise ValueError("seconds_per_request must be >= 0")

    @property
    def requests(self) -> int:
        return -(-self.impressions // self.feed_size)


@dataclass(frozen=True)
class Stream:
    """R requests: ``user_row`` (R,) truth user rows, ``session`` (R,) session numbers
    (non-decreasing), ``feed_seed`` (R,) the engine's request seeds, and the ``seed``."""

    seed: int
    user_row: Ints
    session: Ints
    feed_seed: Ints
    config: StreamConfig

    def __len__(self) -> int:
        return int(self.user_row.shape[0])

    def new_session(self, i: int) -> bool:
        return i == 0 or int(self.session[i]) != int(self.session[i - 1])

    def uniforms(self, i: int) -> NDArray[np.float64]:
        """The reaction random numbers (2, feed_size) of request ``i``."""
        rng = np.random.default_rng([_REACTION_TAG, self.seed, i])
        return rng.random((2, self.config.feed_size))

    def now(self, world_now: float, i: int) -> float:
        return world_now + i * self.config.seconds_per_request


def make_stream(world: SimWorld, seed: int, config: StreamConfig) -> Stream:
    """The stream of ``config.requests`` requests for experiment seed ``seed``."""
    rng = np.random.default_rng([_STREAM_TAG, seed])
    weights = np.maximum(world.user_activity, 0.0)
    if weights.sum() <= 0:
        raise ValueError("no user has a positive activity")
    p = weights / weights.sum()
    n = config.requests
    users: list[NDArray[np.int64]] = []
    sessions: list[NDArray[np.int64]] = []
    total, session = 0, 0
    while total < n:
        batch = max(16, n // 2)
        who = rng.choice(world.n_users, size=batch, p=p).astype(np.int64)
        pages = rng.geometric(1.0 / config.pages_per_session, size=batch).astype(np.int64)
        users.append(np.repeat(who, pages))
        sessions.append(np.repeat(np.arange(session, session + batch, dtype=np.int64), pages))
        total += int(pages.sum())
        session += batch
    user_row = np.concatenate(users)[:n]
    return Stream(
        seed=seed,
        user_row=user_row,
        session=np.concatenate(sessions)[:n],
        feed_seed=rng.integers(0, 2**62, size=n, dtype=np.int64),
        config=config,
    )
