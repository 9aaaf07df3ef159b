"""An experiment: every arm on every seed's stream, in parallel processes, then summarised.

Runs are independent (arm, seed) pairs; with ``workers > 1`` they run in forked processes
that inherit the loaded world (copy-on-write, no reload) and report progress through a
queue.
"""

from __future__ import annotations

import multiprocessing as mp
import queue
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from pitchrec.lab.simulation.records import RunResult
from pitchrec.lab.simulation.simulator import run_arm
from pitchrec.lab.simulation.stream import StreamConfig, make_stream
from pitchrec.lab.simulation.variants import arm_names_valid
from pitchrec.lab.world.sim_world import SimWorld
from pitchrec.lab.world.user_model import UserModelConfig
from pitchrec.progress import SILENT, Reporter

DEFAULT_ARMS = ("legacy", "linucb", "thompson", "uniform", "oracle")


@dataclass(frozen=True)
class ExperimentConfig:
    """What to run: arms x seeds, the traffic, the behaviour model and the sync period."""

    arms: tuple[str, ...] = DEFAULT_ARMS
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    stream: StreamConfig = field(default_factory=StreamConfig)
    user_model: UserModelConfig = field(default_factory=UserModelConfig)
    sync_every: int = 20  # requests between syncs: the server's 1 s at 20 requests/s
    workers: int = 2

    def __post_init__(self) -> None:
        arm_names_valid(self.arms)
        if not self.seeds:
            raise ValueError("at least one seed is needed")
        if self.sync_every < 1 or self.workers < 1:
            raise ValueError("sync_every and workers must be >= 1")


# The world and progress queue of a forked worker (set before the fork, inherited).
_WORLD: SimWorld | None = None
_PROGRESS: Any = None


def _run_one(arm: str, seed: int, config: ExperimentConfig) -> RunResult:
    world = _WORLD
    if world is None:  # pragma: no cover - only when the fork context is unavailable
        raise RuntimeError("worker has no world")
    progress_queue = _PROGRESS

    def progress(n: int) -> None:
        if progress_queue is not None:
            progress_queue.put(n)

    stream = make_stream(world, seed, config.stream)
    return run_arm(
        world,
        stream,
        arm,
        model_config=config.user_model,
        sync_every=config.sync_every,
        progress=progress,
    )


def run_experiment(
    world: SimWorld, config: ExperimentConfig, reporter: Reporter = SILENT
) -> tuple[list[RunResult], float]:
    """All (arm, seed) runs, ordered by arm then seed, and the wall time in seconds."""
    started = time.perf_counter()
    tasks = [(arm, seed) for arm in config.arms for seed in config.seeds]
    total = len(tasks) * config.stream.requests * config.stream.feed_size
    results: dict[tuple[str, int], RunResult] = {}
    with reporter.stage(f"simulate {len(tasks)} runs", total) as advance:
        if config.workers == 1 or len(tasks) == 1:
            for arm, seed in tasks:
                stream = make_stream(world, seed, config.stream)
                results[(arm, seed)] = run_arm(
                    world,
                    stream,
                    arm,
                    model_config=config.user_model,
                    sync_every=config.sync_every,
                    progress=advance,
                )
        else:
            results = _run_parallel(world, config, tasks, advance)
    return [results[t] for t in tasks], time.perf_counter() - started


def _run_parallel(
    world: SimWorld,
    config: ExperimentConfig,
    tasks: list[tuple[str, int]],
    advance: Callable[[int], None],
) -> dict[tuple[str, int], RunResult]:
    global _WORLD, _PROGRESS
    context = mp.get_context("fork")
    progress_queue = context.Queue()
    _WORLD, _PROGRESS = world, progress_queue
    # Longest first: engine arms cost ~10x the bypass arms.
    order = sorted(tasks, key=lambda t: t[0] in ("oracle", "random"))
    results: dict[tuple[str, int], RunResult] = {}
    try:
        with ProcessPoolExecutor(
            max_workers=min(config.workers, len(tasks)),
            mp_context=context,
        ) as pool:
            futures: dict[Future[RunResult], tuple[str, int]] = {
                pool.submit(_run_one, arm, seed, config): (arm, seed) for arm, seed in order
            }
            pending = set(futures)
            while pending:
                _drain(progress_queue, advance, timeout=0.2)
                for future in [f for f in pending if f.done()]:
                    pending.discard(future)
                    results[futures[future]] = future.result()
            _drain(progress_queue, advance, timeout=0.0)
    finally:
        _WORLD, _PROGRESS = None, None
        progress_queue.close()
    return results


def _drain(progress_queue: Any, advance: Callable[[int], None], timeout: float) -> None:
    try:
        advance(int(progress_queue.get(timeout=timeout)) if timeout else 0)
        while True:
            advance(int(progress_queue.get_nowait()))
    except queue.Empty:
        return
