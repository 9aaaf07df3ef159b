"""What share of the simulator's oracle could any ranking reach with what it can know?

The simulator (``pitchrec simulate``) scores a feed by its expected likes under the world's
true engagement q(u, r) (:mod:`pitchrec.lab.world.user_model`). Its oracle knows q; a
recommender knows the history, the catalogue and what the user liked so far. This bench
ranks top-24 lists for users drawn as the simulator draws them (probability proportional
to their activity) and reports the expected likes of each ranking as a share of the
oracle's, without the engine's pools and slot pattern (the engine costs about 11 % more:
the ``oracle-engine`` arm):

- ``mean q``: the best ranking that is the same for everyone (the mean of q over users);
- ``snapshot prior``: the build's popularity prior, the same for everyone;
- ``ALS fold-in``: the snapshot's item factors, the user folded in from the history;
- ``prior + ALS, likes|likes+skips, page k``: pages 1..3 of a session ranked by the
  service's points (60 x prior + 30 x affinity), the user folded in over the snapshot's
  factors from the history and the session's likes, or its likes and skips (examined and
  not liked: preference 0 at one interaction's confidence); both variants see the same
  random draws, so the rows are paired;
- ``mean q + ALS, best w``: what the history could teach at best. The same session as
  the row before, ranked by ``log mean q + w x`` the standardised ALS score of the user
  folded in over the snapshot's factors (history, likes and skips), with w picked per
  page from ``BLEND_GRID`` by the truth itself: a popularity known perfectly, the
  factors the history gives, and the blend no learner could do better than. An upper
  bound for any ranking built on those factors;
- ``true item factors``: the world's own resume factors, the user's vector fitted by
  ridge on the history and the likes and skips of pages 1..3 of one session, ranked with
  the true mean q as the prior: the ceiling of a factor model whose items are perfectly
  learned. Page k is compared with the oracle's page k (its best items not yet shown).

Cold users (no history) and warm users apart, since half of the simulator's requests
come from users with no history at all.

    .venv/bin/python bench/quality/sim_ceiling.py --database-url sqlite:///var/w-collab.db \\
        --truth var/w-collab.truth.npz [--users 400]
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pitchrec.domain.profile import EMPTY_PROFILE
from pitchrec.lab.world.sim_world import load_world
from pitchrec.lab.world.user_model import UserModel
from pitchrec.ranking.collaborative import collaborative_affinity, snapshot_prior
from pitchrec.ranking.user_context import user_context

Floats = NDArray[np.float64]
SIZE, PAGES, RIDGE = 24, 3, 1.0
SKIP_TARGET = -0.3  # the ridge's target for a skipped resume (a like is 1)
BLEND_GRID = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)  # weights of the standardised ALS score
#: The simulator's requests by kind (cold page 1, cold later, warm page 1, warm later):
#: ONLINE.md, "Where the simulator's gap to the oracle is", 4 seeds x 100,000 impressions.
REQUEST_MIX = {"cold": (0.20, 0.38), "warm": (0.14, 0.28)}


def _top(scores: Floats, excluded: list[int]) -> NDArray[np.int64]:
    masked = scores.copy()
    masked[excluded] = -np.inf
    return np.argsort(-masked, kind="stable")[:SIZE]


def _record(
    shares: dict[str, list[float]],
    name: str,
    q: Floats,
    exam: Floats,
    rows: NDArray[np.int64],
    excluded: list[int],
) -> None:
    """Append the expected likes of ``rows`` as a share of the oracle's list."""
    oracle = float((exam * q[_top(q, excluded)]).sum())
    shares.setdefault(name, []).append(float((exam * q[rows]).sum()) / oracle)


def _fold_in(index: Any, rows: list[int], confidence: list[float]) -> Floats | None:
    """The ALS user vector (f,) over ``index``'s item factors with preference 1 on the
    rows of positive ``confidence`` and 0 on the others, each weighted 1 + |c| (Hu et al.,
    eq. 4, as :func:`pitchrec.models.collaborative_index.fold_in` for the positives)."""
    if index.factors == 0 or not any(c > 0 for c in confidence):
        return None
    y = index.item_factors[rows].astype(np.float64)  # (k, f)
    c = np.asarray(confidence)
    system = index.gram + (y.T * (index.alpha * np.abs(c))) @ y
    system[np.diag_indices(index.factors)] += index.regularization
    target = (1.0 + index.alpha * np.abs(c)) * (c > 0)
    return np.asarray(np.linalg.solve(system, y.T @ target), dtype=np.float64)


def _als_session(
    world: Any,
    state: Any,
    prior: Floats,
    q: Floats,
    exam: Floats,
    rng: np.random.Generator,
    record: Any,
) -> None:
    """Pages 1..3 of a session ranked by the service's points (60 x prior + 30 x affinity,
    both on [0, 1]), the affinity folded in over the snapshot's ALS factors from the
    history and the session's likes, or its likes and skips (a skip: preference 0 with
    the confidence of one interaction)."""
    index = world.snapshot.collab
    context = user_context(world.snapshot, state.user_id, EMPTY_PROFILE)
    history = context.preference_rows.tolist()
    weights = context.preference_weights.tolist()
    session_seed = int(rng.integers(1 << 31))  # the same draws for both: paired
    for name, skips_count in (("likes", False), ("likes+skips", True)):
        session_rng = np.random.default_rng(session_seed)
        shown, rows, confidence = list(state.seen_rows.tolist()), list(history), list(weights)
        for page in range(1, PAGES + 1):
            scores = 60.0 * prior
            vector = _fold_in(index, rows, confidence)
            if vector is not None:
                raw = index.item_factors @ vector.astype(np.float32)
                span = float(raw.max() - raw.min())
                if span > 0:
                    scores = scores + 30.0 * index.affinity_scale * (raw - raw.min()) / span
            top = _top(scores, shown)
            record(f"prior + ALS, {name}, page {page}", top, shown)
            examined = session_rng.random(SIZE) < exam
            like = examined & (session_rng.random(SIZE) < q[top])
            rows += top[like].tolist()
            confidence += [1.0] * int(like.sum())
            if skips_count:
                rows += top[examined & ~like].tolist()
                confidence += [-1.0] * int((examined & ~like).sum())
            shown += top.tolist()


def _best_blend_session(
    world: Any,
    state: Any,
    log_mean_q: Floats,
    q: Floats,
    exam: Floats,
    rng: np.random.Generator,
    record: Any,
) -> None:
    """Pages 1..3 ranked by ``log_mean_q + w x z``, z the standardised ALS score of the
    user folded in from the history and the session's likes and skips, w the grid's best
    for this user and page by the truth (so an optimistic bound); the session goes on
    from the best page."""
    index = world.snapshot.collab
    context = user_context(world.snapshot, state.user_id, EMPTY_PROFILE)
    shown = list(state.seen_rows.tolist())
    rows, confidence = context.preference_rows.tolist(), context.preference_weights.tolist()
    for page in range(1, PAGES + 1):
        candidates = [_top(log_mean_q, shown)]
        vector = _fold_in(index, rows, confidence)
        if vector is not None:
            raw = (index.item_factors @ vector.astype(np.float32)).astype(np.float64)
            z = (raw - raw.mean()) / (raw.std() + 1e-12)
            candidates += [_top(log_mean_q + w * z, shown) for w in BLEND_GRID[1:]]
        top = max(candidates, key=lambda c: float((exam * q[c]).sum()))
        record(f"mean q + ALS, best w, page {page}", top, shown)
        examined = rng.random(SIZE) < exam
        like = examined & (rng.random(SIZE) < q[top])
        rows += top[like].tolist() + top[examined & ~like].tolist()
        confidence += [1.0] * int(like.sum()) + [-1.0] * int((examined & ~like).sum())
        shown += top.tolist()


def _mixed(value: dict[str, dict[str, list[float]]], prefix: str) -> float | None:
    """The rows ``{prefix}, page k`` weighed by :data:`REQUEST_MIX` (later pages: the
    mean of pages 2..3), as a share of the oracle; None when a row is missing."""
    total = 0.0
    for group, (first, later) in REQUEST_MIX.items():
        pages = [value[group].get(f"{prefix}, page {k}") for k in range(1, PAGES + 1)]
        if any(p is None for p in pages):
            return None
        means = [float(np.mean(p)) for p in pages if p is not None]
        total += first * means[0] + later * float(np.mean(means[1:]))
    return total


def _report(value: dict[str, dict[str, list[float]]], users: int) -> None:
    """Print every row's mean share with a 95 % normal interval, then the mixed rows."""
    print(f"{users} users drawn by activity; share of the oracle's expected likes")
    for group, rows in value.items():
        count = len(rows.get("mean q", []))
        print(f"\n{group} users ({count})")
        for name, shares in rows.items():
            shares_array = np.asarray(shares)
            half = 1.96 * shares_array.std() / np.sqrt(shares_array.shape[0])
            print(f"  {name:30s} {shares_array.mean() * 100:5.1f} % +- {half * 100:.1f}")
    print("\nweighed by the simulator's requests (cold p1, cold later, warm p1, warm later)")
    for prefix in ("prior + ALS, likes+skips", "mean q + ALS, best w", "true item factors"):
        mixed = _mixed(value, prefix)
        if mixed is not None:
            print(f"  {prefix:30s} {mixed * 100:5.1f} %")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--truth", type=Path, required=True)
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    world = load_world(args.database_url, args.truth)
    if world.resume_factors is None:
        raise SystemExit("the truth has no latent factors: a collaborative world is needed")
    model, rng = UserModel(world), np.random.default_rng(args.seed)
    exam = model.examination(SIZE)
    activity = world.user_activity / world.user_activity.sum()
    states = [
        model.new_user(int(row), world.now)
        for row in rng.choice(activity.shape[0], size=args.users, p=activity)
    ]
    log_mean_q = np.log(np.mean([s.base_q for s in states], axis=0))
    prior = np.asarray(snapshot_prior(world.snapshot))
    factors, coefficient = world.resume_factors, world.coefficients.get("collab", 0.0)
    value: dict[str, dict[str, list[float]]] = {"cold": {}, "warm": {}}
    for state in states:
        q, group = state.base_q, "warm" if state.seen_rows.shape[0] else "cold"
        shown: list[int] = state.seen_rows.tolist()
        liked, skipped = list(shown), []

        shares = value[group]

        def record(name: str, rows: NDArray[np.int64], excluded: list[int]) -> None:
            _record(shares, name, q, exam, rows, excluded)  # noqa: B023 (called in-loop)

        record("mean q", _top(log_mean_q, shown), shown)
        record("snapshot prior", _top(prior, shown), shown)
        affinity = collaborative_affinity(
            world.snapshot, user_context(world.snapshot, state.user_id, EMPTY_PROFILE)
        )
        if affinity is not None:
            record("ALS fold-in", _top(affinity, shown), shown)
        _als_session(world, state, prior, q, exam, rng, record)
        _best_blend_session(world, state, log_mean_q, q, exam, rng, record)
        for page in range(1, PAGES + 1):
            scores = log_mean_q
            if liked or skipped:
                rows = liked + skipped
                target = np.r_[np.ones(len(liked)), np.full(len(skipped), SKIP_TARGET)]
                x = factors[rows]
                vector = np.linalg.solve(x.T @ x + RIDGE * np.eye(x.shape[1]), x.T @ target)
                scores = log_mean_q + 0.5 * coefficient * (factors @ vector)
            top = _top(scores, shown)
            record(f"true item factors, page {page}", top, shown)
            examined = rng.random(SIZE) < exam
            like = examined & (rng.random(SIZE) < q[top])
            liked += top[like].tolist()
            skipped += top[examined & ~like].tolist()
            shown += top.tolist()
    _report(value, args.users)


if __name__ == "__main__":
    main()
