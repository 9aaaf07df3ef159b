"""A snapshot directory replaced while workers load it is never read half old, half new
(hardening issue, item 12)."""

from __future__ import annotations

import threading
from pathlib import Path

from factories import random_snapshot
from pitchrec.errors import SnapshotError
from pitchrec.index import snapshot as files


def test_concurrent_loads_see_one_whole_snapshot(tmp_path: Path) -> None:
    small = random_snapshot(1, n_resumes=100, n_challenges=5)
    large = random_snapshot(2, n_resumes=300, n_challenges=9)
    directory = files.save(small, tmp_path / "snapshot")
    stop = threading.Event()
    problems: list[str] = []
    loads = [0]

    def write() -> None:
        for i in range(40):
            files.save(large if i % 2 == 0 else small, directory)
        stop.set()

    def read() -> None:
        while not stop.is_set():
            try:
                snapshot = files.load(directory)
            except SnapshotError as exc:
                problems.append(f"load failed: {exc}")
                continue
            n, m = len(snapshot.resumes), len(snapshot.challenges)
            shapes = {
                snapshot.resumes.views.shape[0],
                snapshot.resumes.skills.n_rows,
                snapshot.collab.item_factors.shape[0],
            }
            if (n, m) not in ((100, 5), (300, 9)) or shapes != {n}:
                problems.append(f"mixed: {n} resumes, {m} challenges, arrays {sorted(shapes)}")
            loads[0] += 1

    # One reader thread: np.load parses headers with ast, and CPython 3.11 can fail
    # ("AST constructor recursion depth mismatch") when threads parse at once; worker
    # processes, which is how snapshots are shared, do not share that state.
    threads = [threading.Thread(target=write), threading.Thread(target=read)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert loads[0] > 10
    assert not problems, f"{len(problems)} of {loads[0] + len(problems)} loads: {problems[:3]}"
