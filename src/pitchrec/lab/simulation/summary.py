"""Turn the runs of an experiment into per-arm numbers with 95 % bootstrap intervals.

Intervals resample *seeds* (each seed is one independent user stream shared by all arms),
so they include the stream-to-stream variation; ratios resample the seed pairs together.
"Last half" is the second half of each run's requests. Rewards are realised likes per
impression; ``expected_*`` are the model's expected rewards of the same feeds (less noise).
Regret is against the oracle run on the same stream: the cumulative sum over requests of
(oracle expected reward - arm expected reward); the gain over legacy is the cumulative sum
of (arm expected reward - legacy expected reward), paired by seed.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from pitchrec.lab.simulation.quality import (
    Interval,
    bootstrap_curves,
    bootstrap_mean,
    bootstrap_ratio,
    coverage,
    creator_exposure,
    gini,
)
from pitchrec.lab.simulation.records import RunResult
from pitchrec.lab.simulation.segments import segment_shares
from pitchrec.lab.world.sim_world import SimWorld

Floats = NDArray[np.float64]
CURVE_POINTS = 40  # windows of the reward-over-time and regret curves
TARGET_VS_LEGACY = 1.3  # the targets
TARGET_VS_ORACLE = 0.7


def _late(values: Floats | NDArray[np.int64]) -> Floats:
    v = np.asarray(values, dtype=np.float64)
    return v[v.shape[0] // 2 :]


def _per_impression(run: RunResult, key: str) -> float:
    values = run.realised if key == "realised" else run.expected
    return float(_late(values).sum() / max(_late(run.items).sum(), 1.0))


def _edges(n: int) -> NDArray[np.int64]:
    """CURVE_POINTS + 1 (fewer for short runs) distinct window edges over n requests."""
    return np.unique(np.linspace(0, n, min(CURVE_POINTS, n) + 1).astype(np.int64))


def _windows(run: RunResult, values: Floats) -> Floats:
    """Per-impression averages of ``values`` (R,) over CURVE_POINTS request windows."""
    edges = _edges(len(values))
    sums = np.add.reduceat(values, edges[:-1])
    items = np.add.reduceat(run.items.astype(np.float64), edges[:-1])
    out: Floats = sums / np.maximum(items, 1.0)
    return out


def _cumulative_at_windows(values: Floats) -> Floats:
    edges = _edges(len(values))[1:]
    out: Floats = np.cumsum(values)[edges - 1]
    return out


def _arm_metrics(world: SimWorld, run: RunResult) -> dict[str, float]:
    creators = world.resume_creator
    items = max(float(run.items.sum()), 1.0)
    pool_cov = run.pool_coverage[np.isfinite(run.pool_coverage)]
    return {
        "reward": _per_impression(run, "realised"),
        "expected_reward": _per_impression(run, "expected"),
        "coverage": coverage(run.counts),
        "coverage_last_half": coverage(run.counts_late),
        "exposure_gini": gini(creator_exposure(run.counts, creators)),
        "new_content_ratio": float(run.new_items.sum()) / items,
        "fresh_share": float(run.fresh_items.sum()) / items,
        "skill_diversity": float(run.skill_diversity.mean()) / 100.0,
        "pool_coverage": float(pool_cov.mean()) / 100.0 if pool_cov.size else float("nan"),
    }


def summarise(world: SimWorld, runs: list[RunResult], seconds: float) -> dict[str, Any]:
    """The experiment summary (JSON-ready): per arm the last-half reward per impression
    with its interval, ratios to legacy and oracle, curves, quality metrics, diagnostics."""
    arms = list(dict.fromkeys(run.arm for run in runs))
    by_arm = {arm: sorted((r for r in runs if r.arm == arm), key=lambda r: r.seed) for arm in arms}
    oracle = {r.seed: r for r in by_arm.get("oracle", [])}
    legacy = {r.seed: r for r in by_arm.get("legacy", [])}
    policies: dict[str, Any] = {}
    for arm, arm_runs in by_arm.items():
        metrics = [_arm_metrics(world, r) for r in arm_runs]
        entry: dict[str, Any] = {"seeds": [r.seed for r in arm_runs]}
        for key in metrics[0]:
            values = np.asarray([m[key] for m in metrics])
            entry[key] = bootstrap_mean(values).as_dict() if np.isfinite(values).all() else None
        entry["seconds_per_run"] = float(np.mean([r.seconds for r in arm_runs]))
        entry["impressions_per_run"] = float(np.mean([r.items.sum() for r in arm_runs]))
        curves = np.asarray([_windows(r, r.realised) for r in arm_runs])
        entry["reward_curve"] = _band(curves)
        entry["expected_curve"] = _band(np.asarray([_windows(r, r.expected) for r in arm_runs]))
        for name, base in (("legacy", legacy), ("oracle", oracle)):
            paired = [r for r in arm_runs if r.seed in base]
            if paired and name != arm:
                entry[f"vs_{name}"] = _ratio(paired, base, "realised")
                entry[f"expected_vs_{name}"] = _ratio(paired, base, "expected")
        paired = [r for r in arm_runs if r.seed in oracle]
        if paired and arm != "oracle":
            regret = np.asarray(
                [_cumulative_at_windows(oracle[r.seed].expected - r.expected) for r in paired]
            )
            entry["regret_curve"] = _band(regret)
            entry["final_regret"] = bootstrap_mean(regret[:, -1]).as_dict()
            segments = segment_shares(arm_runs, oracle)
            if segments:
                entry["segments"] = segments
        paired = [r for r in arm_runs if r.seed in legacy]
        if paired and arm != "legacy":
            gain = np.asarray(
                [_cumulative_at_windows(r.expected - legacy[r.seed].expected) for r in paired]
            )
            entry["gain_curve"] = _band(gain)
        if arm_runs[0].diagnostics:
            entry["diagnostics"] = arm_runs[0].diagnostics
        policies[arm] = entry
    some = runs[0]
    impressions = np.cumsum(some.items)[_edges(len(some.items))[1:] - 1]
    return {
        "wall_seconds": seconds,
        "catalogue_resumes": world.n_resumes,
        "curve_impressions": impressions.tolist(),
        "policies": policies,
        "targets": _targets(policies),
    }


def _band(curves: Floats) -> dict[str, list[float]]:
    mean, low, high = bootstrap_curves(curves)
    return {"mean": mean.tolist(), "ci_low": low.tolist(), "ci_high": high.tolist()}


def _ratio(runs: list[RunResult], base: dict[int, RunResult], key: str) -> dict[str, float]:
    num = np.asarray([_per_impression(r, key) for r in runs])
    den = np.asarray([_per_impression(base[r.seed], key) for r in runs])
    return bootstrap_ratio(num, den).as_dict()


def _targets(policies: dict[str, Any]) -> dict[str, Any]:
    """The issue's acceptance targets, evaluated for the linucb arm when present."""
    lin, leg = policies.get("linucb"), policies.get("legacy")
    if lin is None or leg is None:
        return {}
    out: dict[str, Any] = {}
    a = Interval(lin["reward"]["mean"], lin["reward"]["ci_low"], lin["reward"]["ci_high"])
    b = Interval(leg["reward"]["mean"], leg["reward"]["ci_low"], leg["reward"]["ci_high"])
    ratio = lin.get("vs_legacy", {}).get("mean", float("nan"))
    out["linucb_vs_legacy"] = {
        "ratio": ratio,
        "target": TARGET_VS_LEGACY,
        "intervals_overlap": a.overlaps(b),
        "met": bool(ratio >= TARGET_VS_LEGACY and not a.overlaps(b)),
    }
    if "vs_oracle" in lin:
        share = lin["vs_oracle"]["mean"]
        out["linucb_vs_oracle"] = {
            "ratio": share,
            "target": TARGET_VS_ORACLE,
            "met": bool(share >= TARGET_VS_ORACLE),
        }
    return out


def compact(summary: dict[str, Any]) -> dict[str, Any]:
    """The summary without curves and diagnostics (what ``simulate --json`` prints)."""
    keep = (
        "reward",
        "expected_reward",
        "coverage",
        "exposure_gini",
        "new_content_ratio",
        "fresh_share",
        "skill_diversity",
        "pool_coverage",
        "vs_legacy",
        "vs_oracle",
        "segments",
        "final_regret",
        "seconds_per_run",
        "impressions_per_run",
    )
    policies = {
        arm: {k: entry[k] for k in keep if k in entry} for arm, entry in summary["policies"].items()
    }
    return {
        "wall_seconds": summary["wall_seconds"],
        "policies": policies,
        "targets": summary["targets"],
    }
