"""Shadow mode against the simulator's truth, over seeds (bench/quality/SHADOW.md).

For every (seed, exploration, draws): the served arm runs with shadow logging of the
candidate on every request, the estimate is computed from the log, and the candidate runs
on-policy on the same stream (:mod:`pitchrec.lab.simulation.shadow`). Prints one JSON
object per run, then a summary line per setting (coverage of each estimator's interval).

    .venv/bin/python bench/shadow_quality.py --scale 0.1 --requests 400 --seeds 0,1,2,3,4 \
        --explore 0,0.2 --draws 16 --candidate @collaborative=0@popularity_prior=0@fresh_share=0
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from pitchrec.lab.simulation.shadow import ShadowCheck, run_check
from pitchrec.lab.simulation.stream import StreamConfig
from pitchrec.lab.world import generate_world, write_blacklist
from pitchrec.lab.world.sim_world import SimWorld, load_world
from pitchrec.sources.database import make_engine


def world(directory: Path, scale: float, seed: int) -> SimWorld:
    stem = directory / f"shadow-s{scale:g}-w{seed}"
    db, truth, blacklist = (
        Path(f"{stem}.db"),
        Path(f"{stem}.truth.npz"),
        Path(f"{stem}.blacklist.csv"),
    )
    if not db.exists():
        directory.mkdir(parents=True, exist_ok=True)
        engine = make_engine(f"sqlite:///{db}")
        summary = generate_world(engine, scale=scale, seed=seed, truth_path=truth)
        engine.dispose()
        write_blacklist(blacklist, summary.blacklist)
    return load_world(f"sqlite:///{db}", truth, blacklist)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--world-dir", type=Path, default=Path("var/sim"))
    parser.add_argument("--scale", type=float, default=0.1)
    parser.add_argument("--world-seed", type=int, default=5)
    parser.add_argument("--served", default="linucb-profile-learn")
    parser.add_argument("--candidate", default="@collaborative=0@popularity_prior=0@fresh_share=0")
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--pages", type=float, default=1.0, help="Mean pages per session.")
    parser.add_argument("--seeds", default="0,1,2,3,4")
    parser.add_argument("--explore", default="0,0.2")
    parser.add_argument("--draws", default="16")
    parser.add_argument("--truth-draws", type=int, default=0)
    parser.add_argument("--action", default="item")
    args = parser.parse_args()
    sim = world(args.world_dir, args.scale, args.world_seed)
    settings: dict[tuple[float, int], list[dict[str, Any]]] = {}
    for explore in (float(x) for x in args.explore.split(",")):
        for draws in (int(x) for x in args.draws.split(",")):
            for seed in (int(x) for x in args.seeds.split(",")):
                check = ShadowCheck(
                    served=args.served,
                    candidate=args.candidate,
                    seed=seed,
                    stream=StreamConfig(
                        impressions=24 * args.requests, pages_per_session=args.pages
                    ),
                    draws=draws,
                    truth_draws=args.truth_draws,
                    explore=explore,
                    action=args.action,
                )
                started = time.perf_counter()
                result = run_check(sim, check)
                result["wall_seconds"] = time.perf_counter() - started
                result["world"] = {"scale": args.scale, "seed": args.world_seed}
                print(json.dumps(result), flush=True)
                settings.setdefault((explore, draws), []).append(result)
    for (explore, draws), runs in settings.items():
        summary: dict[str, Any] = {"explore": explore, "draws": draws, "runs": len(runs)}
        for estimator in ("ips", "snips", "dr"):
            held = 0
            for run in runs:
                e = run["estimate"]["estimates"][estimator]
                held += e["ci_low"] <= run["candidate_on_policy"]["expected"] <= e["ci_high"]
            summary[f"{estimator}_covers"] = held
        summary["uncovered"] = sum(r["estimate"]["diagnostics"]["uncovered"] for r in runs) / len(
            runs
        )
        print(json.dumps({"summary": summary}), flush=True)


if __name__ == "__main__":
    main()
