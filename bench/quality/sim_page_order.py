"""How much of the simulator's gap to the oracle is the order of the page, not its items?

Runs ``pitchrec simulate`` with the engine's pages reordered, before the user reacts, by
the user's TRUE engagement q(u, r) of each resume (``--order truth``), or unchanged
(``--order none``): the items stay the engine's, only their positions change. The
simulator's users examine position p with probability 0.92^(p-1)
(:mod:`pitchrec.lab.world.user_model`), so the first positions carry most likes. A
diagnostic, not an arm of the service: no ranking knows q.

    .venv/bin/python bench/quality/sim_page_order.py --order truth -- \\
        --database-url sqlite:///var/w-collab.db --truth var/w-collab.truth.npz \\
        --impressions 50000 --seeds 2 --workers 1 --policies 'linucb,oracle' \\
        --report-dir /tmp/page-order-truth

Everything after ``--`` goes to ``pitchrec simulate``; ``--workers 1`` keeps the wrapper
in the process that serves.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np

import pitchrec.lab.simulation.simulator as simulator
from pitchrec.cli import app

_serve_engine = simulator._serve_engine


def _truth_ordered(run: Any, engine: Any, i: int, user: Any, request_id: str) -> Any:
    """The engine's page of request ``i``, sorted by the user's true q, best first."""
    rows, ids = _serve_engine(run, engine, i, user, request_id)
    order = np.argsort(-user.base_q[rows], kind="stable")
    return rows[order], [ids[j] for j in order.tolist()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--order", choices=("truth", "none"), required=True)
    args, rest = parser.parse_known_args()
    if args.order == "truth":
        simulator._serve_engine = _truth_ordered  # type: ignore[assignment]
    sys.argv = ["pitchrec", "simulate", *[a for a in rest if a != "--"]]
    app()


if __name__ == "__main__":
    main()
