"""Write the simulation report: ``REPORT.md``, the PNG figures and ``results.json``."""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import numpy as np

from pitchrec.lab import plots

FIGURES = {
    "reward": "reward_per_impression.png",
    "regret": "cumulative_regret.png",
    "quality": "feed_quality.png",
    "spread": "score_spread.png",
}
#: The arms of the gap decomposition, best first, and what each one is.
_ARMS_EXPLAINED = {
    "oracle": "knows the truth, bypasses the engine (upper bound)",
    "oracle-engine": "the truth as the policy score, inside the engine's pools",
    "shared-engine": "the mean truth over users (one list for all), inside the engine",
    "taste-engine": "linear model of the 18 features + the TRUE taste match, in engine",
    "linear-engine": "the best fixed linear model of the 18 features, inside the engine",
    "linucb": "the default online learner",
    "legacy": "the legacy prior, never updated",
    "random": "uniformly random unseen resumes",
}


def _ci(value: dict[str, float] | None, digits: int = 4, percent: bool = False) -> str:
    if not value:
        return "n/a"
    scale, unit = (100.0, " %") if percent else (1.0, "")
    mean, low, high = (scale * value[k] for k in ("mean", "ci_low", "ci_high"))
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]{unit}"


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} logical CPUs, Python {platform.python_version()}, "
        f"numpy {np.__version__}"
    )


def _results_table(policies: dict[str, Any]) -> list[str]:
    lines = [
        "| policy | reward / impression, last half | x legacy | x oracle | final regret "
        "| coverage | exposure Gini | new content | fresh share | skill diversity |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for arm, e in policies.items():
        lines.append(
            f"| {arm} | {_ci(e.get('reward'))} | {_ci(e.get('vs_legacy'), 3)} "
            f"| {_ci(e.get('vs_oracle'), 3)} | {_ci(e.get('final_regret'), 0)} "
            f"| {_ci(e.get('coverage'), 1, True)} | {_ci(e.get('exposure_gini'), 3)} "
            f"| {_ci(e.get('new_content_ratio'), 1, True)} "
            f"| {_ci(e.get('fresh_share'), 1, True)} "
            f"| {_ci(e.get('skill_diversity'), 1, True)} |"
        )
    return lines


def _spread_table(policies: dict[str, Any]) -> list[str]:
    lines = [
        "| policy | pool | heuristic terms | policy term | learned x·θ |",
        "|---|---|---|---|---|",
    ]
    for arm, e in policies.items():
        for pool, parts in ((e.get("diagnostics") or {}).get("scores") or {}).items():
            learned = parts.get("learned")
            lines.append(
                f"| {arm} | {pool} | {parts['heuristic']:.2f} | {parts['policy']:.3f} | "
                f"{'n/a' if learned is None else f'{learned:.3f}'} |"
            )
    return lines


def _share(policies: dict[str, Any], arm: str, key: str = "expected_vs_oracle") -> str:
    value = policies.get(arm, {}).get(key)
    return "n/a" if not value else f"{100 * value['mean']:.0f} %"


def _decomposition(policies: dict[str, Any]) -> list[str]:
    lines = ["| arm | what it is | expected reward, share of the oracle |", "|---|---|---|"]
    for arm, text in _ARMS_EXPLAINED.items():
        if arm in policies:
            share = "100 %" if arm == "oracle" else _share(policies, arm)
            lines.append(f"| {arm} | {text} | {share} |")
    return lines


def _targets(targets: dict[str, Any]) -> list[str]:
    if not targets:
        return ["(linucb and legacy were not both run)"]
    lines = []
    legacy = targets.get("linucb_vs_legacy")
    if legacy:
        verdict = "MET" if legacy["met"] else "NOT MET"
        overlap = "overlap" if legacy["intervals_overlap"] else "do not overlap"
        lines.append(
            f"- LinUCB online vs legacy-static: x{legacy['ratio']:.3f} (target "
            f">= x{legacy['target']}, intervals {overlap}): **{verdict}**"
        )
    oracle = targets.get("linucb_vs_oracle")
    if oracle:
        verdict = "MET" if oracle["met"] else "NOT MET"
        lines.append(
            f"- LinUCB online vs oracle: {100 * oracle['ratio']:.1f} % (target >= "
            f"{100 * oracle['target']:.0f} %): **{verdict}**"
        )
    return lines


def _ope_section(ope: dict[str, Any]) -> list[str]:
    lines = [
        "## Off-policy evaluation on the Open Bandit sample",
        "",
        f"`pitchrec evaluate` on campaign `{ope['campaign']}`: {ope['rounds']} rounds, "
        f"{ope['actions']} items, {ope['positions']} positions, {ope['clicks']} clicks "
        f"(on-policy click rate {ope['on_policy_click_rate']:.4f}); {ope['interval']} "
        "95 % intervals. `behavior` is the logging policy itself (its true value is the "
        "on-policy click rate: a sanity check); `greedy_ctr` is epsilon-greedy "
        f"(epsilon {ope['greedy_epsilon']}) on the item CTRs of the first half, evaluated "
        "on the second half. 46 clicks cannot rank policies; this only proves the "
        "importer and estimators end to end on a real public log.",
        "",
        "| target | estimator | value [95 % interval] | effective sample size |",
        "|---|---|---|---|",
    ]
    for target, estimates in ope["targets"].items():
        for kind, e in estimates.items():
            lines.append(
                f"| {target} | {kind} | {e['value']:.5f} [{e['ci_low']:.5f}, "
                f"{e['ci_high']:.5f}] | {e['effective_sample_size']:.0f} |"
            )
    return [*lines, ""]


def write_report(
    summary: dict[str, Any],
    setup: dict[str, Any],
    directory: Path,
    *,
    analysis: str | None = None,
    ope: dict[str, Any] | None = None,
) -> Path:
    """Write results.json, the figures and REPORT.md into ``directory``; returns the report.

    ``setup`` describes the experiment (world, traffic, model, arms, seeds: JSON values);
    ``analysis`` is an optional hand-written markdown section kept verbatim; ``ope`` an
    optional off-policy evaluation summary (from ``pitchrec.lab.offpolicy.obd``).
    """
    directory.mkdir(parents=True, exist_ok=True)
    payload = {"setup": setup, "summary": summary, "ope": ope}
    (directory / "results.json").write_text(json.dumps(payload, indent=1, default=float) + "\n")
    figures = _write_figures(summary, directory)
    policies = summary["policies"]
    lines = [
        *_header_section(summary, setup),
        *_results_section(summary, figures),
        *_gap_section(policies, figures),
    ]
    if ope:
        lines += _ope_section(ope)
    if analysis:
        lines += [analysis.strip(), ""]
    report = directory / "REPORT.md"
    report.write_text("\n".join(lines))
    return report


def _write_figures(summary: dict[str, Any], directory: Path) -> set[str]:
    """Draw the figures; returns the keys of :data:`FIGURES` that were written."""
    written = {"reward", "quality"}
    plots.reward_plot(summary, directory / FIGURES["reward"])
    if any("regret_curve" in e for e in summary["policies"].values()):
        plots.regret_plot(summary, directory / FIGURES["regret"])
        written.add("regret")
    plots.quality_plot(summary, directory / FIGURES["quality"])
    if plots.spread_plot(summary, directory / FIGURES["spread"]):
        written.add("spread")
    return written


def _header_section(summary: dict[str, Any], setup: dict[str, Any]) -> list[str]:
    return [
        "# Does pitchrec learn? Simulated users against the real service path",
        "",
        "Generated by `pitchrec simulate --report-dir` (module `pitchrec.eval`). Every number "
        "is the mean over seeds with a 95 % percentile-bootstrap interval over seeds; "
        "rewards are likes per impression over the last half of each run.",
        "",
        "## Setup",
        "",
        f"- Machine: {_machine()}.",
        f"- Wall time of the whole experiment: {summary['wall_seconds']:.0f} s "
        f"({setup.get('workers', 1)} worker processes).",
        f"- Catalogue: {summary['catalogue_resumes']} eligible resumes.",
        "",
        "```json",
        json.dumps(setup, indent=1),
        "```",
        "",
    ]


def _results_section(summary: dict[str, Any], figures: set[str]) -> list[str]:
    lines = [
        "## Results",
        "",
        *_results_table(summary["policies"]),
        "",
        "Coverage = share of the catalogue served at least once in the run; legacy targets "
        "(per-feed definitions, spec 5.11): coverage 25-35 %, new content 25-35 %, skill "
        "diversity 60-75 %. Fresh share = share of resume impressions that went to a "
        "resume with at most one earlier impression (the exposure guarantee's definition: "
        "new creators' first pitches).",
        "",
        "### Targets of the issue",
        "",
        *_targets(summary.get("targets", {})),
        "",
        f"![reward per impression]({FIGURES['reward']})",
        "",
    ]
    if "regret" in figures:
        lines += [f"![cumulative regret]({FIGURES['regret']})", ""]
    return [*lines, f"![feed quality]({FIGURES['quality']})", ""]


def _segments_table(policies: dict[str, Any]) -> list[str]:
    """Expected likes as a share of the oracle's, per kind of request (:mod:`.segments`)."""
    names = next((list(e["segments"]) for e in policies.values() if e.get("segments")), [])
    if not names:
        return []
    first = next(e["segments"] for e in policies.values() if e.get("segments"))
    shares = " | ".join(f"{100 * first[n]['requests']:.0f} %" for n in names)
    lines = [
        "### By kind of request",
        "",
        "Expected likes of the last half's requests as a share of the oracle's on the same "
        "requests; cold users have no history in the snapshot; later pages know the likes "
        "and skips of the session's earlier pages (`pitchrec/lab/simulation/segments.py`).",
        "",
        "| policy | " + " | ".join(names) + " |",
        "|---|" + "---|" * len(names),
        "| (share of the requests) | " + shares + " |",
    ]
    for arm, e in policies.items():
        segments = e.get("segments") or {}
        cells = [_ci(segments[n]["vs_oracle"], 3) if n in segments else "n/a" for n in names]
        if segments:
            lines.append(f"| {arm} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def _gap_section(policies: dict[str, Any], figures: set[str]) -> list[str]:
    lines = ["## Where the gap comes from", "", *_decomposition(policies), ""]
    lines += _segments_table(policies)
    lines += [
        "### Can the learned part move the ranking?",
        "",
        "5-95 % spread over the whole catalogue of each part of the pool score "
        "(mean over 50 users of the end of the first seed's run). A policy term whose "
        "spread is small against the heuristic spread cannot reorder the pool.",
        "",
        *_spread_table(policies),
        "",
    ]
    if "spread" in figures:
        lines += [f"![score spread]({FIGURES['spread']})", ""]
    return lines
