"""Snapshot build and collaborative training time (issue 13).

Loads the sources once, then times ``build_snapshot`` (which trains the collaborative
model inside) and ``train_collaborative`` alone on the same interactions, and, where the
code has it, the popularity prior's half-life choice alone.

    .venv/bin/python bench/training_time.py --database-url sqlite:////tmp/world20.db

Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

from pitchrec.index.build import build_snapshot
from pitchrec.models import collaborative
from pitchrec.sources.database import make_engine
from pitchrec.sources.loaders import load_sources


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--repeat", type=int, default=1, help="times train_collaborative")
    args = parser.parse_args()

    engine = make_engine(args.database_url)
    started = time.perf_counter()
    source = load_sources(engine)
    load_seconds = time.perf_counter() - started
    engine.dispose()

    started = time.perf_counter()
    snapshot = build_snapshot(source)
    build_seconds = time.perf_counter() - started

    resume_ids = snapshot.resumes.id
    train_seconds = []
    for _ in range(args.repeat):
        started = time.perf_counter()
        collab = collaborative.train_collaborative(
            source.interactions, resume_ids, source.loaded_at
        )
        train_seconds.append(round(time.perf_counter() - started, 3))

    half_life_seconds = None
    prior_counts = getattr(collaborative, "popularity_prior_counts", None)
    if prior_counts is not None:  # absent before the half-life choice existed
        started = time.perf_counter()
        prior_counts(source.interactions, resume_ids, source.loaded_at)
        half_life_seconds = round(time.perf_counter() - started, 3)

    result = {
        "machine": f"{platform.machine()} {os.cpu_count()} cpu, {platform.python_version()}",
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "resumes": int(resume_ids.shape[0]),
        "users_with_history": int(snapshot.users.history_users.shape[0]),
        "interactions": len(source.interactions),
        "load_from_database_s": round(load_seconds, 3),
        "build_snapshot_s": round(build_seconds, 3),
        "train_collaborative_s": train_seconds,
        "popularity_prior_counts_s": half_life_seconds,
        "prior_half_life_days": getattr(collab, "prior_half_life_days", None),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
