"""The reward model q (n, K) of the doubly robust estimator (:mod:`.estimators`), fitted
on the log itself and cross-fitted: each round is predicted by a model that did not see it
(:func:`fit_reward_model`)."""

from __future__ import annotations

from typing import Literal

import numpy as np

from pitchrec.lab.offpolicy.logged_feedback import (
    Floats,
    Ints,
    LoggedFeedback,
    OffPolicyInputError,
    reward_bounds,
)


def fit_reward_model(
    data: LoggedFeedback,
    *,
    kind: Literal["mean", "ridge"] = "mean",
    folds: int = 2,
    ridge: float = 1.0,
    prior_strength: float = 1.0,
    seed: int = 0,
) -> Floats:
    """Cross-fitted reward predictions q (n, K): each round is predicted by a model fitted
    on the other folds.

    ``"mean"``: per-action mean reward shrunk to the global mean with ``prior_strength``
    pseudo-rounds; ``"ridge"``: per-action ridge regression on [contexts, 1], which needs
    more training rounds than coefficients (d + 1) for every action in every fold and
    raises :class:`OffPolicyInputError` naming the actions otherwise (it never falls back
    to the mean silently: ask for ``kind="mean"``). Predictions are clipped to
    :func:`reward_bounds`.
    """
    n, k = len(data), data.n_actions
    if folds < 2:
        raise OffPolicyInputError("folds must be >= 2")
    if kind not in ("mean", "ridge"):
        raise OffPolicyInputError(f"unknown reward model kind {kind!r}: use 'mean' or 'ridge'")
    fold = np.random.default_rng(seed).integers(0, folds, size=n)
    out = np.zeros((n, k))
    x = np.column_stack([data.contexts, np.ones(n)])
    for f in range(folds):
        train, test = fold != f, fold == f
        a, r = data.actions[train], data.rewards[train]
        if kind == "ridge":
            out[test] = _ridge_fold(x[train], a, r, x[test], k, ridge=ridge, fold=f)
            continue
        overall = float(r.mean()) if r.size else 0.0
        counts = np.bincount(a, minlength=k).astype(np.float64)
        sums = np.bincount(a, weights=r, minlength=k)
        out[test] = (sums + prior_strength * overall) / (counts + prior_strength)
    clipped: Floats = np.clip(out, *reward_bounds(data.rewards))
    return clipped


def _ridge_fold(
    x_train: Floats, a: Ints, r: Floats, x_test: Floats, k: int, *, ridge: float, fold: int
) -> Floats:
    """One fold's ridge predictions (n_test, K) from training rows ``x_train`` (m, d + 1)
    with actions ``a`` (m,) and rewards ``r`` (m,); raises when an action cannot be fitted."""
    p = x_train.shape[1]
    if ridge < 0 or not np.isfinite(x_train).all():
        raise OffPolicyInputError(
            "ridge reward model needs ridge >= 0 and finite contexts "
            f"(ridge={ridge:g}, finite contexts: {bool(np.isfinite(x_train).all())})"
        )
    counts = np.bincount(a, minlength=k)
    short = np.flatnonzero(counts <= p)
    if short.size:
        listed = ", ".join(f"action {int(j)}: {int(counts[j])}" for j in short[:5])
        raise OffPolicyInputError(
            f"ridge reward model cannot be fitted in fold {fold}: {short.size} of {k} actions "
            f"have at most {p} training rounds for {p} coefficients ({listed}"
            f"{', ...' if short.size > 5 else ''}); use kind='mean', fewer folds or more data"
        )
    out = np.empty((x_test.shape[0], k))
    for action in range(k):
        rows = a == action
        gram = x_train[rows].T @ x_train[rows] + ridge * np.eye(p)
        try:
            beta = np.linalg.solve(gram, x_train[rows].T @ r[rows])
        except np.linalg.LinAlgError as exc:
            raise OffPolicyInputError(
                f"ridge reward model: singular system for action {action} in fold {fold} "
                f"(ridge={ridge:g}; collinear or constant contexts need ridge > 0)"
            ) from exc
        out[:, action] = x_test @ beta
    return out
