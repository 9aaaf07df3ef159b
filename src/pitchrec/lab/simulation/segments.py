"""Where each arm stands against the oracle, by kind of request.

Half of the simulator's requests come from users without history, whose first page
nothing personal can rank (``bench/quality/sim_ceiling.py``); within a session, each page
knows the likes and skips of the pages before it. So a share of the oracle over all
requests mixes requests an engine cannot do much about with those where it can. This
module splits the last half of each run's requests into :data:`SEGMENTS`, by whether the
user has a history in the snapshot and by the page in the session, and gives for each the
arm's expected likes as a share of the oracle's on the very same requests (the stream is
shared by every arm: :mod:`.stream`), with a 95 % bootstrap interval over seeds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pitchrec.lab.simulation.quality import bootstrap_ratio
from pitchrec.lab.simulation.records import RunResult

Mask = NDArray[np.bool_]
#: name -> which requests of a run (R,) from its ``warm`` (R,) and ``page`` (R,).
SEGMENTS: dict[str, Callable[[Mask, NDArray[np.int64]], Mask]] = {
    "cold, page 1": lambda warm, page: ~warm & (page == 1),
    "cold, later pages": lambda warm, page: ~warm & (page > 1),
    "warm, page 1": lambda warm, page: warm & (page == 1),
    "warm, later pages": lambda warm, page: warm & (page > 1),
}


def segment_shares(runs: list[RunResult], oracle: dict[int, RunResult]) -> dict[str, Any]:
    """Per segment: ``requests``, its share of the last-half requests (mean over seeds),
    and ``vs_oracle``, the runs' expected likes over the oracle's on the same requests (a
    bootstrap interval over the seed pairs; None when a seed has none of them). ``runs``:
    one arm's runs; ``oracle``: the oracle's run per seed. Empty when no run has an oracle
    run or the per-request segments (runs of an older simulator)."""
    paired = [r for r in runs if r.seed in oracle and r.page.shape[0] == r.expected.shape[0]]
    if not paired:
        return {}
    out: dict[str, Any] = {}
    for name, select in SEGMENTS.items():
        shares, numerators, denominators = [], [], []
        for run in paired:
            start = run.expected.shape[0] // 2
            mask = select(run.warm[start:], run.page[start:])
            shares.append(float(mask.mean()))
            numerators.append(float(run.expected[start:][mask].sum()))
            denominators.append(float(oracle[run.seed].expected[start:][mask].sum()))
        ratio = None  # a seed with no such request (or no expected like) has no share
        if min(denominators) > 0.0:
            ratio = bootstrap_ratio(np.asarray(numerators), np.asarray(denominators)).as_dict()
        out[name] = {"requests": float(np.mean(shares)), "vs_oracle": ratio}
    return out
