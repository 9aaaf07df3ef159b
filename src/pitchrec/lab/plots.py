"""The report's figures (matplotlib, Agg backend, PNG files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

_DPI = 110
_QUALITY = (
    ("coverage", "catalogue coverage (run)"),
    ("exposure_gini", "exposure Gini (creators)"),
    ("new_content_ratio", "new-content ratio"),
    ("skill_diversity", "skill diversity (per feed)"),
)


def _color(policies: dict[str, Any], arm: str) -> str:
    """The same colour for an arm in every figure (its order in the summary)."""
    return f"C{list(policies).index(arm) % 10}"


def _bands(ax: Any, x: list[float], policies: dict[str, Any], key: str) -> None:
    for arm, entry in policies.items():
        band = entry.get(key)
        if not band:
            continue
        color = _color(policies, arm)
        ax.plot(x, band["mean"], label=arm, linewidth=1.6, color=color)
        ax.fill_between(x, band["ci_low"], band["ci_high"], alpha=0.2, color=color)


def reward_plot(summary: dict[str, Any], path: Path) -> None:
    """Reward per impression per window, mean over seeds with the 95 % bootstrap band."""
    fig, ax = plt.subplots(figsize=(8, 4.5))
    _bands(ax, summary["curve_impressions"], summary["policies"], "reward_curve")
    ax.set_xlabel("impressions (per run)")
    ax.set_ylabel("likes per impression (window)")
    ax.set_title("Reward per impression over time (95 % bootstrap band over seeds)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)


def regret_plot(summary: dict[str, Any], path: Path) -> None:
    """Left: cumulative expected regret against the oracle on the same stream. Right: the
    cumulative expected gain over legacy-static (where the learners differ)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5))
    x = summary["curve_impressions"]
    _bands(left, x, summary["policies"], "regret_curve")
    left.set_ylabel("cumulative regret vs oracle (expected likes)")
    left.set_title("Regret against the oracle", fontsize=10)
    _bands(right, x, summary["policies"], "gain_curve")
    right.axhline(0.0, color="black", linewidth=0.8)
    right.set_ylabel("cumulative gain vs legacy (expected likes)")
    right.set_title("Gain over legacy-static (symlog)", fontsize=10)
    right.set_yscale("symlog", linthresh=100.0)
    for ax in (left, right):
        ax.set_xlabel("impressions (per run)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, ncol=2)
    fig.suptitle("Cumulative expected regret and gain (95 % bootstrap band over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)


def quality_plot(summary: dict[str, Any], path: Path) -> None:
    """Coverage, Gini, new content and skill diversity per arm, with intervals."""
    arms = list(summary["policies"])
    fig, axes = plt.subplots(1, len(_QUALITY), figsize=(13, 3.8))
    for ax, (key, title) in zip(axes, _QUALITY, strict=True):
        means: list[float] = []
        errors: list[list[float]] = [[], []]
        for arm in arms:
            value = summary["policies"][arm].get(key) or {"mean": 0, "ci_low": 0, "ci_high": 0}
            means.append(value["mean"])
            errors[0].append(max(value["mean"] - value["ci_low"], 0.0))
            errors[1].append(max(value["ci_high"] - value["mean"], 0.0))
        ax.bar(range(len(arms)), means, yerr=errors, capsize=3, color="tab:blue", alpha=0.75)
        ax.set_xticks(range(len(arms)), arms, rotation=60, ha="right", fontsize=8)
        ax.set_title(title, fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)


def spread_plot(summary: dict[str, Any], path: Path) -> bool:
    """Per pool: 5-95 % spread of the heuristic terms vs the policy term, per learning arm.
    False (no file) when no arm has diagnostics."""
    rows = []
    for arm, entry in summary["policies"].items():
        scores = (entry.get("diagnostics") or {}).get("scores") or {}
        for pool, parts in scores.items():
            rows.append((f"{arm} {pool}", parts))
    if not rows:
        return False
    fig, ax = plt.subplots(figsize=(max(8, 0.45 * len(rows)), 5.0))
    width = 0.27
    for k, (part, color) in enumerate(
        (("heuristic", "tab:gray"), ("policy", "tab:orange"), ("learned", "tab:green"))
    ):
        values = [parts.get(part, 0.0) for _, parts in rows]
        ax.bar(
            [i + (k - 1) * width for i in range(len(rows))], values, width, label=part, color=color
        )
    ax.set_xticks(
        range(len(rows)), [label for label, _ in rows], fontsize=7, rotation=60, ha="right"
    )
    ax.set_yscale("symlog", linthresh=0.1)
    ax.set_ylabel("5-95 % spread over the catalogue")
    ax.set_title("Can the policy term reorder a pool? (end of run, first seed)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
    return True
