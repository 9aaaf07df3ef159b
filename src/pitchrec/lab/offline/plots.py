"""The offline report's figures (matplotlib, Agg backend, PNG files)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt

_DPI = 110
_BARS = (("hit", "hit@k"), ("recall", "recall@k"), ("ndcg", "NDCG@k"), ("mrr", "MRR@k"))


def plot_metric_bars(result: dict[str, Any], path: Path) -> None:
    """One panel per ranking metric at the headline k: a bar per configuration with its
    95 % interval."""
    k = str(result["options"]["k"])
    names = list(result["configs"])
    fig, axes = plt.subplots(1, len(_BARS), figsize=(4 * len(_BARS), 4))
    for ax, (metric, label) in zip(axes, _BARS, strict=True):
        means, lows, highs = [], [], []
        for name in names:
            entry = result["configs"][name]["by_k"][k]["all"][metric]
            means.append(entry["mean"])
            lows.append(entry["mean"] - entry["ci_low"])
            highs.append(entry["ci_high"] - entry["mean"])
        colors = [f"C{i % 10}" for i in range(len(names))]
        ax.bar(range(len(names)), means, yerr=[lows, highs], color=colors, capsize=3)
        ax.set_xticks(range(len(names)), names, rotation=45, ha="right")
        ax.set_title(label.replace("k", k))
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)


def plot_metric_vs_k(result: dict[str, Any], path: Path) -> None:
    """NDCG@k against k for every configuration, with 95 % bands."""
    ks = [int(k) for k in result["options"]["ks"]]
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, (name, entry) in enumerate(result["configs"].items()):
        rows = [entry["by_k"][str(k)]["all"]["ndcg"] for k in ks]
        color = f"C{i % 10}"
        ax.plot(ks, [r["mean"] for r in rows], marker="o", label=name, color=color)
        ax.fill_between(
            ks, [r["ci_low"] for r in rows], [r["ci_high"] for r in rows], alpha=0.15, color=color
        )
    ax.set_xlabel("k (items)")
    ax.set_ylabel("NDCG@k")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=_DPI)
    plt.close(fig)
