"""How a simulated user reacts to a feed: the documented behaviour model.

For user u and catalogue resume r the *utility* is the synthetic world's own affinity
model (:mod:`pitchrec.lab.world.affinity`, coefficients from the truth file):

    U(u, r) = c_taste   * sum(taste_u[s] for s in true_skills_r) / sqrt(|true_skills_r|)
            + c_city    * [city of r == u's preferred city]
            + c_social  * social_u * [u follows r's creator]      (snapshot social graph)
            + c_quality * quality_r                                  (latent, truth)
            + c_recency * exp(-age_r / freshness_days)               (freshness decay)
            + c_collab  * <factor_u, factor_r>             (latent-factor worlds only)
            + c_popularity * popularity_r                  (latent-factor worlds only)

The last two terms exist when the truth has latent factors (format_version 2: the
collaborative and popular worlds, see :mod:`pitchrec.lab.world.collaborative`); a
skills-world truth has neither. Every coefficient is the one the truth file records, so a
popular world's dominant popularity term is the simulator's too.

The probability that u *engages* with r once examined is

    q(u, r) = sigmoid(intercept + utility_scale * U(u, r)) * fatigue

with ``fatigue = repeat_fatigue ** (earlier impressions of r to u in the run)
* creator_fatigue ** (earlier impressions of r's creator to u in this session)``.

Position bias: the item at 1-based position p is *examined* with probability
``position_continue ** (p - 1)`` (a cascade: the user keeps swiping with a fixed
probability). Reactions, per item: examined and engaged -> a ``like`` event (reward 1);
examined and not engaged -> a ``skip`` event (reward 0); not examined -> no event. The
expected reward of an impression is therefore ``exam(p) * q(u, r)``.

At the default intercept (-4) a random catalogue item is engaged with about 8 % of the
time and a user's 24 truly best items about 50 % (measured on the scale-1 world, seed 7).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray

from pitchrec.lab.world.sim_world import SimWorld

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]
SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True)
class UserModelConfig:
    """Parameters of the behaviour model (every one has a CLI flag)."""

    intercept: float = -4.0  # logit of engagement at zero utility
    utility_scale: float = 1.0  # multiplies U inside the logistic
    position_continue: float = 0.92  # P(examine p+1 | examined p); ~10 of 24 items seen
    creator_fatigue: float = 0.6  # per earlier impression of the same creator in a session
    repeat_fatigue: float = 0.5  # per earlier impression of the same resume to the user
    freshness_days: float = 120.0  # e-folding time of the recency term (the world's value)
    #: Share of a run's requests after which users change their minds (0: never): every
    #: resume takes another's latent factors (:func:`drifted`), so who likes what moves
    #: while each resume's popularity term stays; a test of learning that forgets.
    drift_at: float = 0.0

    def __post_init__(self) -> None:
        for name in ("position_continue", "creator_fatigue", "repeat_fatigue"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {value}")
        if self.freshness_days <= 0:
            raise ValueError("freshness_days must be > 0")
        if not 0.0 <= self.drift_at < 1.0:
            raise ValueError(f"drift_at must be within [0, 1), got {self.drift_at}")


def sigmoid(x: Floats) -> Floats:
    """Logistic function, elementwise, for any shape."""
    out: Floats = 0.5 * (1.0 + np.tanh(0.5 * x))
    return out


@dataclass
class UserState:
    """One simulated user during a run: truth row, follows and exposure counts."""

    row: int  # truth user row
    user_id: int
    base_q: Floats  # (n,) engagement probability before fatigue, for every resume row
    seen_rows: Ints  # (k,) resume rows of the snapshot history (excluded by the engine)
    exposures: dict[int, int]  # resume row -> earlier impressions in the run


def drifted(world: SimWorld, seed: int) -> SimWorld:
    """``world`` after users change their minds: resume factors permuted among resumes
    (a fixed permutation for ``seed``); raises ValueError for a world without factors."""
    if world.resume_factors is None:
        raise ValueError("drift needs a world with latent factors (collaborative or popular)")
    order = np.random.default_rng([0xD21F, seed]).permutation(world.resume_factors.shape[0])
    return replace(world, resume_factors=world.resume_factors[order])


class UserModel:
    """The behaviour model over one :class:`SimWorld`."""

    def __init__(self, world: SimWorld, config: UserModelConfig | None = None) -> None:
        self.world = world
        self.config = config if config is not None else UserModelConfig()

    def utilities(self, user_row: int, now: float) -> Floats:
        """U(u, r) (n,) for truth user row ``user_row`` and every resume row at ``now``."""
        w, c = self.world, self.world.coefficients
        age = np.maximum(now - w.resume_created_at, 0.0)
        recency = np.exp(-age / (self.config.freshness_days * SECONDS_PER_DAY))
        follows = np.isin(w.resume_creator, w.following(int(w.user_id[user_row])))
        utility: Floats = (
            c.get("taste", 0.0) * (w.resume_skills @ w.taste(user_row))
            + c.get("city", 0.0) * (w.resume_city == w.user_city[user_row])
            + c.get("social", 0.0) * w.user_social_weight[user_row] * follows
            + c.get("quality", 0.0) * w.resume_quality
            + c.get("recency", 0.0) * recency
        )
        if w.user_factors is not None and w.resume_factors is not None:
            utility = utility + c.get("collab", 0.0) * (w.resume_factors @ w.user_factors[user_row])
        if w.resume_popularity is not None:
            utility = utility + c.get("popularity", 0.0) * w.resume_popularity
        return utility

    def new_user(self, user_row: int, now: float) -> UserState:
        cfg = self.config
        base = sigmoid(cfg.intercept + cfg.utility_scale * self.utilities(user_row, now))
        user_id = int(self.world.user_id[user_row])
        return UserState(user_row, user_id, base, self.world.history(user_id), {})

    def examination(self, n: int) -> Floats:
        """P(examined) (n,) of positions 1..n."""
        return self.config.position_continue ** np.arange(n, dtype=np.float64)

    def fatigue(self, user: UserState, rows: Ints, session_creators: dict[int, int]) -> Floats:
        """Fatigue multipliers (k,) of resume ``rows`` (k,) shown in this order to ``user``.

        Counts earlier impressions of the same resume (whole run) and of the same creator
        (this session), including earlier positions of the same feed.
        """
        cfg = self.config
        creators = self.world.resume_creator[rows].tolist()
        out = np.empty(rows.shape[0], dtype=np.float64)
        seen_creators = dict(session_creators)
        seen_items: dict[int, int] = {}
        for i, (row, creator) in enumerate(zip(rows.tolist(), creators, strict=True)):
            repeats = user.exposures.get(row, 0) + seen_items.get(row, 0)
            same_creator = seen_creators.get(creator, 0)
            out[i] = cfg.repeat_fatigue**repeats * cfg.creator_fatigue**same_creator
            seen_items[row] = seen_items.get(row, 0) + 1
            seen_creators[creator] = same_creator + 1
        return out

    def expected(self, user: UserState, rows: Ints, session_creators: dict[int, int]) -> Floats:
        """Expected reward (k,) of showing ``rows`` (k,) at positions 1..k."""
        q = user.base_q[rows] * self.fatigue(user, rows, session_creators)
        expected: Floats = self.examination(rows.shape[0]) * q
        return expected

    def react(
        self,
        user: UserState,
        rows: Ints,
        session_creators: dict[int, int],
        uniforms: Floats,
    ) -> tuple[Floats, NDArray[np.bool_], Floats]:
        """Draw the reactions to a feed of resume ``rows`` (k,).

        ``uniforms`` (2, m) with m >= k are the request's common random numbers (row 0:
        examination, row 1: engagement), shared by every policy on the same stream.
        Returns (expected reward (k,), examined (k,), realised reward (k,) in {0, 1}), and
        records the exposures (run and session) in ``user`` / ``session_creators``.
        """
        k = rows.shape[0]
        exam = self.examination(k)
        q = user.base_q[rows] * self.fatigue(user, rows, session_creators)
        # A cascade: examined up to the first failed continuation.
        keep_going = uniforms[0, :k] < self.config.position_continue
        keep_going[:1] = True
        examined = np.cumprod(keep_going).astype(bool)
        engaged = examined & (uniforms[1, :k] < q)
        for row, creator in zip(
            rows.tolist(), self.world.resume_creator[rows].tolist(), strict=True
        ):
            user.exposures[row] = user.exposures.get(row, 0) + 1
            session_creators[creator] = session_creators.get(creator, 0) + 1
        return exam * q, examined, engaged.astype(np.float64)
