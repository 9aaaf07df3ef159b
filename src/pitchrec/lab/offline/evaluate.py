"""Configurations side by side on one temporal split.

Engine configurations go through the real feed path (pools, slot pattern, creator
window), built by :func:`pitchrec.service.build_service` exactly as served, with the
request clock at the cut; the baselines (:mod:`.baselines`) rank plain top-k lists. Each
configuration produces, per seed and evaluated user, a list of ``max(ks)`` items; the
metrics at a smaller k read its first k items (what a user scrolls past first).

The parts: what is compared (:mod:`.evaluate_options`: configuration names,
:class:`OfflineOptions`), the lists each configuration shows (:mod:`.evaluate_lists`,
optionally in forked workers) and the JSON result (:mod:`.evaluate_summary`). Their public
names are importable from here too.
"""

from __future__ import annotations

from typing import Any

from pitchrec.lab.offline.evaluate_lists import ConfigLists, collect_lists
from pitchrec.lab.offline.evaluate_options import (
    DEFAULT_CONFIGS,
    ENGINE_CONFIGS,
    OVERRIDE_SEPARATOR,
    OfflineOptions,
    engine_config,
)
from pitchrec.lab.offline.evaluate_summary import (
    BOOTSTRAP_SEED,
    LIST_METRICS,
    catalogue_metrics,
    list_metrics,
    per_user_metrics,
    summarise,
)
from pitchrec.lab.offline.split import Split
from pitchrec.progress import SILENT, Reporter

__all__ = [
    "BOOTSTRAP_SEED",
    "DEFAULT_CONFIGS",
    "ENGINE_CONFIGS",
    "LIST_METRICS",
    "OVERRIDE_SEPARATOR",
    "ConfigLists",
    "OfflineOptions",
    "catalogue_metrics",
    "collect_lists",
    "engine_config",
    "evaluate_offline",
    "list_metrics",
    "per_user_metrics",
    "summarise",
]


def evaluate_offline(
    split: Split, options: OfflineOptions, reporter: Reporter = SILENT, workers: int = 1
) -> dict[str, Any]:
    """Run every configuration on ``split`` (in ``workers`` processes) and summarise
    (see :func:`.evaluate_summary.summarise`)."""
    users, collected = collect_lists(split, options, reporter, workers)
    return summarise(split, options, users, collected)
