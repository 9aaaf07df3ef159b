"""LinUCB with one shared linear model, Sherman-Morrison updates and an optional legacy bonus.

Model: reward ≈ xᵀθ for a context x (d,), whatever the arm; arm ids are ignored (put arm
features in the context if they matter). State: A = ridge·I + Σ x xᵀ (d, d), b = Σ r x (d,),
A_inv (d, d) kept equal to A⁻¹ by rank-1 Sherman-Morrison updates, recomputed exactly every
``recompute_every`` rows and after every applied delta. θ = A_inv·b.

Score of a candidate x: reward_scale·xᵀθ + alpha·sqrt(xᵀ A_inv x) [+ bonus].

``reward_scale`` converts the learned estimate (rewards per impression, about 0-1) into
the units of the pools' fixed heuristic scores (spreads of 2.6-7.9 points, measured in
bench/quality/ANALYSIS.md), so that what is learned can reorder a pool. It multiplies the
estimate only: at the prior θ = 0, and the score is the legacy one whatever the scale.

The optional bonus reproduces the legacy bandit (spec 2.5): a constant ``legacy_bonus``
(0.7) while fewer than ``bonus_min_history`` (10) rewards have been seen by this instance,
then beta·Var(last ``bonus_window`` (50) rewards)·``bonus_scale`` (1.3)·U(0, 1), U drawn
per candidate as ``rng.random(n)``. The reward window is local to the instance (it is not
additive, so it is not part of the delta); ``export_state`` carries it in ``local``. With
the prior (A = I, b = 0) and the bonus on, the score is exactly alpha·‖x‖₂ + 0.7.

Not reproduced from the legacy: its never-called update recomputed A_inv as (A + 0.001·I)⁻¹
(spec 2.5); here A_inv is always A⁻¹, so incremental and exact inverses agree.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pitchrec.policies.base import Float64Array, Int64Array, PolicyBase
from pitchrec.policies.deltas import DeltaValue, StatsDelta

LEGACY_BONUS = 0.7  # spec 2.5, scoring step 4: constant bonus while the history is short


@dataclass(frozen=True)
class LinUCBConfig:
    """LinUCB hyper-parameters; the defaults are plain LinUCB, ``legacy()`` the legacy one."""

    dimension: int = 18  # the 18 ranking features in use
    alpha: float = 1.0
    ridge: float = 1.0  # prior precision: A starts at ridge·I (legacy: I)
    recompute_every: int | None = 1000  # exact inverse after this many rows; None: never
    legacy_bonus: float | None = None  # spec 2.5: 0.7; None disables the bonus term
    beta: float = 0.0  # spec 2.5, per instance: 0.8 / 0.7 / 0.9
    bonus_min_history: int = 10  # spec 2.5
    bonus_window: int = 50  # spec 2.5
    bonus_scale: float = 1.3  # spec 2.5
    reward_scale: float = 1.0  # multiplies xᵀθ only (module docstring); legacy: 1
    #: θ before any data (d,): b starts at ridge·prior_mean, so θ = prior_mean until
    #: rewards pull it away (a prior in the mean, not in the exploration bonus). None: 0.
    prior_mean: tuple[float, ...] | None = None
    #: Columns whose weights keep the prior's norm: rewards choose their direction (how
    #: the columns weigh against each other, negative weights clipped to 0), not their
    #: total. Why: a regression on likes per impression shrinks every weight toward the
    #: like rate (under 1 % in the replay of bench/quality/ONLINE.md), which would hand the
    #: ranking back to the fixed heuristics the weights are added to.
    pinned_norm: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.dimension < 1:
            raise ValueError("dimension must be >= 1")
        if not (np.isfinite(self.alpha) and self.alpha >= 0):
            raise ValueError("alpha must be finite and >= 0")
        if not (np.isfinite(self.ridge) and self.ridge > 0):
            raise ValueError("ridge must be finite and > 0")
        if self.recompute_every is not None and self.recompute_every < 1:
            raise ValueError("recompute_every must be >= 1 or None")
        if not (np.isfinite(self.reward_scale) and self.reward_scale >= 0):
            raise ValueError("reward_scale must be finite and >= 0")
        if self.bonus_window < 1 or not 0 <= self.bonus_min_history <= self.bonus_window:
            raise ValueError("need 0 <= bonus_min_history <= bonus_window and bonus_window >= 1")
        if self.prior_mean is not None and (
            len(self.prior_mean) != self.dimension or not np.isfinite(self.prior_mean).all()
        ):
            raise ValueError("prior_mean must hold `dimension` finite values")
        if self.pinned_norm and (
            self.prior_mean is None or not all(0 <= c < self.dimension for c in self.pinned_norm)
        ):
            raise ValueError("pinned_norm needs a prior_mean and columns in [0, dimension)")

    @classmethod
    def legacy(
        cls, alpha: float, beta: float, dimension: int = 18, reward_scale: float = 1.0
    ) -> LinUCBConfig:
        """The legacy bandit's configuration (spec 2.5) for one (alpha, beta) pair; with
        ``reward_scale`` > 1, the same prior with the learned estimate weighted up."""
        return cls(
            dimension=dimension,
            alpha=alpha,
            beta=beta,
            legacy_bonus=LEGACY_BONUS,
            reward_scale=reward_scale,
        )


class LinUCB(PolicyBase):
    """Shared-parameter LinUCB; see the module docstring for the model and the bonus."""

    name = "linucb"

    def __init__(self, config: LinUCBConfig | None = None) -> None:
        super().__init__()
        self.config = config if config is not None else LinUCBConfig()
        d = self.config.dimension
        self._A: Float64Array = self.config.ridge * np.eye(d)
        self._b: Float64Array = np.zeros(d)
        if self.config.prior_mean is not None:
            self._b = self.config.ridge * np.asarray(self.config.prior_mean, dtype=np.float64)
        self._A_inv: Float64Array = np.eye(d) / self.config.ridge  # legacy: I itself
        self._dA: Float64Array = np.zeros((d, d))
        self._db: Float64Array = np.zeros(d)
        self._since_recompute = 0
        self._rewards: deque[float] = deque(maxlen=self.config.bonus_window)

    @property
    def dimension(self) -> int:
        return self.config.dimension

    @property
    def A(self) -> Float64Array:  # noqa: N802 - the textbook name
        """A (d, d), read-only view."""
        return _readonly(self._A)

    @property
    def b(self) -> Float64Array:
        """b (d,), read-only view."""
        return _readonly(self._b)

    @property
    def A_inv(self) -> Float64Array:  # noqa: N802 - the textbook name
        """A⁻¹ (d, d) as maintained incrementally, read-only view."""
        return _readonly(self._A_inv)

    def theta(self) -> Float64Array:
        """θ = A_inv·b (d,)."""
        return self._A_inv @ self._b

    def scoring_theta(self) -> Float64Array:
        """θ as scores use it (d,): the ``pinned_norm`` columns clipped at 0 and rescaled
        to the prior's norm (the prior's own values when nothing positive is left)."""
        theta = self.theta()
        columns = list(self.config.pinned_norm)
        if not columns or self.config.prior_mean is None:
            return theta
        prior = np.asarray(self.config.prior_mean, dtype=np.float64)[columns]
        learned = np.maximum(theta[columns], 0.0)
        norm = float(np.linalg.norm(learned))
        theta = theta.copy()
        theta[columns] = learned * (np.linalg.norm(prior) / norm) if norm > 0.0 else prior
        return theta

    def recompute_inverse(self) -> None:
        """Set A_inv = A⁻¹ exactly (A is symmetric positive definite), dropping any drift."""
        inverse = np.linalg.solve(self._A, np.eye(self.config.dimension))
        self._A_inv = (inverse + inverse.T) / 2.0
        self._since_recompute = 0

    def bonus(self, n: int, rng: np.random.Generator) -> Float64Array | float:
        """The legacy bonus for n candidates: a scalar, or (n,) drawn from ``rng``.

        Zero when ``legacy_bonus`` is None; draws nothing from ``rng`` unless the adaptive
        branch is taken.
        """
        cfg = self.config
        if cfg.legacy_bonus is None or len(self._rewards) < cfg.bonus_min_history:
            return self._bonus_bound()  # 0 or the constant 0.7
        return self._bonus_bound() * rng.random(n)

    def _score(self, x: Float64Array, ids: Int64Array, rng: np.random.Generator) -> Float64Array:
        """UCB scores (n,) of contexts x (n, d): reward_scale·x·θ + alpha·sqrt(rowwise
        xᵀ A_inv x) + bonus.

        The quadratic form is the row-wise dot of ``x @ A_inv`` with ``x``.
        """
        expected = x @ (self.config.reward_scale * self.scoring_theta())
        # einsum over the row pairs: about 2x faster than (x @ A_inv * x).sum(1) for
        # n = 2000, d = 18 (measured, one BLAS thread).
        quadratic = np.maximum(np.einsum("ij,ij->i", x @ self._A_inv, x), 0.0)
        scores: Float64Array = expected + self.config.alpha * np.sqrt(quadratic)
        return scores + self.bonus(x.shape[0], rng)

    def score_upper_bound(self, contexts: Float64Array) -> Float64Array:
        """(n,) values no :meth:`score` of ``contexts`` (n, d) can exceed, for any rng draw.

        A starts at ridge·I and only gains positive semi-definite terms, so
        xᵀA⁻¹x <= ||x||² / ridge. Costs one matrix-vector product and one row norm
        instead of the (n, d) x (d, d) product: callers that keep a top-k use it to score
        exactly only the rows that can make the top (relative slack 1e-9 covers the
        rounding of the incrementally updated inverse).
        """
        x = np.asarray(contexts, dtype=np.float64)
        cfg = self.config
        norms = np.sqrt(np.einsum("ij,ij->i", x, x) / cfg.ridge)
        bound: Float64Array = x @ (cfg.reward_scale * self.scoring_theta()) + cfg.alpha * norms * (
            1.0 + 1e-9
        )
        return bound + self._bonus_bound() + 1e-12

    def _bonus_bound(self) -> float:
        cfg = self.config
        if cfg.legacy_bonus is None:
            return 0.0
        if len(self._rewards) < cfg.bonus_min_history:
            return cfg.legacy_bonus
        variance = float(np.var(np.fromiter(self._rewards, dtype=np.float64)))
        return cfg.beta * variance * cfg.bonus_scale

    def _update(self, x: Float64Array, ids: Int64Array, rewards: Float64Array) -> None:
        """Fold rows x (m, d), rewards (m,) in: A += xᵀx, b += xᵀr, A_inv by Sherman-Morrison.

        A batch of more than d rows is folded in with one exact inverse instead (cheaper
        than m rank-1 updates, and drift-free).
        """
        gram = x.T @ x
        moment = x.T @ rewards
        self._A += gram
        self._b += moment
        self._dA += gram
        self._db += moment
        self._rewards.extend(rewards.tolist())
        if x.shape[0] > self.config.dimension:
            self.recompute_inverse()
            return
        a_inv = self._A_inv
        for row in x:
            u = a_inv @ row
            a_inv -= np.outer(u, u) / (1.0 + row @ u)
        self._since_recompute += x.shape[0]
        every = self.config.recompute_every
        if every is not None and self._since_recompute >= every:
            self.recompute_inverse()

    def _pending(self, *, reset: bool) -> StatsDelta:
        delta: StatsDelta = {"A": self._dA.copy(), "b": self._db.copy()}
        if reset:
            self._dA[:] = 0.0
            self._db[:] = 0.0
        return delta

    def _check_delta(self, delta: Mapping[str, DeltaValue]) -> tuple[Float64Array, Float64Array]:
        d = self.config.dimension
        unknown = set(delta) - {"A", "b"}
        if unknown:
            raise ValueError(f"unexpected LinUCB delta keys {sorted(unknown)}")
        d_a = np.asarray(delta.get("A", np.zeros((d, d))), dtype=np.float64)
        d_b = np.asarray(delta.get("b", np.zeros(d)), dtype=np.float64)
        if d_a.shape != (d, d) or d_b.shape != (d,):
            raise ValueError(f"LinUCB delta needs A ({d}, {d}) and b ({d},)")
        if not (np.isfinite(d_a).all() and np.isfinite(d_b).all()):
            raise ValueError("LinUCB delta must be finite")
        return d_a, d_b

    def _set_pending(self, delta: Mapping[str, DeltaValue]) -> None:
        d_a, d_b = self._check_delta(delta)
        self._dA = d_a.copy()
        self._db = d_b.copy()

    def _apply(self, delta: Mapping[str, DeltaValue]) -> None:
        d_a, d_b = self._check_delta(delta)
        self._A += d_a
        self._b += d_b
        self.recompute_inverse()

    def _export_arrays(self) -> dict[str, NDArray[Any]]:
        return {
            "A": self._A.copy(),
            "b": self._b.copy(),
            "A_inv": self._A_inv.copy(),
        }

    def _export_local(self) -> dict[str, NDArray[Any]]:
        return {
            "reward_window": np.fromiter(self._rewards, dtype=np.float64),
            "since_recompute": np.asarray(self._since_recompute, dtype=np.int64),
        }

    def _import_arrays(self, arrays: Mapping[str, NDArray[Any]]) -> None:
        d = self.config.dimension
        a = np.array(arrays["A"], dtype=np.float64)
        b = np.array(arrays["b"], dtype=np.float64)
        a_inv = np.array(arrays["A_inv"], dtype=np.float64)
        if a.shape != (d, d) or a_inv.shape != (d, d) or b.shape != (d,):
            raise ValueError(f"LinUCB state needs A, A_inv ({d}, {d}) and b ({d},)")
        self._A, self._b, self._A_inv = a, b, a_inv

    def _import_local(self, local: Mapping[str, NDArray[Any]]) -> None:
        window = np.asarray(local.get("reward_window", np.empty(0)), dtype=np.float64)
        if window.ndim != 1:
            raise ValueError("LinUCB reward_window must be 1-D")
        self._since_recompute = int(local.get("since_recompute", 0))
        self._rewards = deque(window.tolist(), maxlen=self.config.bonus_window)

    def describe(self) -> dict[str, object]:
        info = self._describe_common()
        info.update(
            dimension=self.config.dimension,
            alpha=self.config.alpha,
            reward_scale=self.config.reward_scale,
            theta=self.theta().tolist(),
            scoring_theta=self.scoring_theta().tolist(),
            legacy_bonus=self.config.legacy_bonus,
            rewards_in_window=len(self._rewards),
        )
        return info


def _readonly(array: Float64Array) -> Float64Array:
    view = array.view()
    view.flags.writeable = False
    return view
