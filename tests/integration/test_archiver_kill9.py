"""SIGKILL the archiver process mid-work, again and again: no event is lost or duplicated.

Each trial pushes a batch of events, starts ``pitchrec archive``
(small batches, short reclaim idle time), SIGKILLs it after a random 20-300 ms of work,
restarts it under the same consumer name (the own-pending path) or a new one (the
XAUTOCLAIM path), sometimes kills that one too, and lets the last one drain. At the end,
``activity_log`` must hold every event id produced, each exactly once.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import Engine, func, select

from pitchrec.archive.archiver import ARCHIVE_GROUP
from pitchrec.domain.activity import ArchiveRow
from pitchrec.sources.database import make_engine
from pitchrec.sources.migrations import migrate
from pitchrec.sources.schema import activity_log
from pitchrec.tracking.store import STREAM_KEY

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TRIALS = 20
EVENTS_PER_TRIAL = 2000
SEED = 20240501
BATCH_SIZE = 20  # small, so that a kill lands mid-trial and mid-batch
CLAIM_IDLE_MS = 200


def _row(trial: int, i: int) -> ArchiveRow:
    event_id = f"k9-{trial:02d}-{i:05d}"
    event = {"event_type": "video_view", "video_id": i, "feed_type": "VMP", "note": "ñ 日本 🎬"}
    return ArchiveRow(
        event_id=event_id,
        log_name="app",
        description="#video #view #VMP",
        subject_id=i,
        subject_type=None,
        causer_id=trial,
        causer_type=None,
        properties=json.dumps(event, ensure_ascii=False),
        url=f"/api/search/feed/video/{i}",
        created_at="2024-05-01T12:00:00",
    )


class Processes:
    """The archiver subprocesses of a test; all killed at teardown, whatever happens."""

    def __init__(self, database_url: str, redis_url: str, logs: Path) -> None:
        self.database_url = database_url
        self.redis_url = redis_url
        self.logs = logs
        self.started: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, consumer: str, claim_idle_ms: int = CLAIM_IDLE_MS) -> subprocess.Popen[bytes]:
        log_path = self.logs / f"{len(self.started):03d}-{consumer}.log"
        command = [
            str(Path(sys.executable).with_name("pitchrec")),
            "archive",
            "--database-url",
            self.database_url,
            "--redis-url",
            self.redis_url,
            "--consumer",
            consumer,
            "--batch-size",
            str(BATCH_SIZE),
            "--block-ms",
            "100",
            "--claim-idle-ms",
            str(claim_idle_ms),
        ]
        with log_path.open("wb") as out:
            proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        self.started.append((proc, log_path))
        return proc

    def kill_all(self) -> None:
        for proc, _ in self.started:
            if proc.poll() is None:
                proc.kill()
            proc.wait(10)


@pytest.fixture
def processes(mariadb_url: str, redis_url: str, tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(mariadb_url, redis_url, tmp_path)
    try:
        yield procs
    finally:
        procs.kill_all()


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def _group(client: redis.Redis) -> dict[str, Any]:
    groups = client.xinfo_groups(STREAM_KEY)
    return next(g for g in groups if g["name"] == ARCHIVE_GROUP)


def _count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.scalar(select(func.count()).select_from(activity_log)) or 0)


def _final_metrics(log_path: Path) -> dict[str, int]:
    """The counters from the archiver's last log line (JSON, with the counters as extras)."""
    for line in reversed(log_path.read_text(encoding="utf-8").splitlines()):
        if line.startswith("{") and "stopped" in line:
            record = json.loads(line)
            return {k: v for k, v in record.items() if isinstance(v, int)}
    raise AssertionError(f"no final metrics in {log_path}")


def _drained(client: redis.Redis, last_id: str) -> bool:
    group = _group(client)
    return bool(group["pending"] == 0 and group["last-delivered-id"] == last_id)


def _kill_after_some_work(
    proc: subprocess.Popen[bytes], client: redis.Redis, last_id: str, rng: random.Random
) -> None:
    """SIGKILL once the process has started working, after a random 20-300 ms.

    Working: it read new entries (``entries-read`` moves) or acknowledged some that were
    pending (the group's ``pending`` moves); or there is nothing left to do (a previous
    process finished the trial before it was killed).
    """
    group = _group(client)
    before = (group["entries-read"], group["pending"])

    def working() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"archiver exited early with {proc.returncode}")
        group = _group(client)
        return (group["entries-read"], group["pending"]) != before or _drained(client, last_id)

    _wait(working, 30, "the archiver to start working")
    time.sleep(rng.uniform(0.020, 0.300))
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def test_sigkill_loses_and_duplicates_nothing(
    processes: Processes, mariadb_url: str, redis_url: str
) -> None:
    rng = random.Random(SEED)
    t0 = time.monotonic()
    engine = make_engine(mariadb_url)
    migrate(engine)
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    client.xgroup_create(STREAM_KEY, ARCHIVE_GROUP, id="0", mkstream=True)
    expected: set[str] = set()
    totals = {"duplicates": 0, "reclaimed": 0, "kills": 0, "mid_batch": 0, "pending_at_kill": 0}
    try:
        for trial in range(TRIALS):
            rows = [_row(trial, i) for i in range(EVENTS_PER_TRIAL)]
            pipe = client.pipeline(transaction=False)
            for row in rows:
                pipe.xadd(STREAM_KEY, row.fields())  # type: ignore[arg-type]
            last_id = pipe.execute()[-1]
            expected.update(r.event_id for r in rows)

            # Same consumer name on restart in even trials, with reclaiming out of the
            # picture (the own-pending path); a new name in odd trials (the XAUTOCLAIM
            # path); every fourth trial kills the restarted process too.
            names = [f"k9-{trial}-a"]
            names.append(names[0] if trial % 2 == 0 else f"k9-{trial}-b")
            if trial % 4 == 3:
                names.append(f"k9-{trial}-c")
            for name in names[:-1]:
                before = _count(engine)
                _kill_after_some_work(processes.start(name), client, last_id, rng)
                totals["kills"] += 1
                after = _count(engine)
                totals["mid_batch"] += int(len(expected) - EVENTS_PER_TRIAL < after < len(expected))
                totals["pending_at_kill"] += int(
                    client.xpending(STREAM_KEY, ARCHIVE_GROUP)["pending"]
                )
                assert after >= before
                print(f"trial {trial} {name}: {time.monotonic() - t0:.2f}s rows {after - before}")
            same_name = trial % 2 == 0
            last = processes.start(names[-1], 3_600_000 if same_name else CLAIM_IDLE_MS)

            _wait(lambda last_id=last_id: _drained(client, last_id), 60, f"trial {trial} drain")
            # It may have found nothing left to do: let it reach its loop (signal handlers
            # installed) before asking it to stop.
            last_log = processes.started[-1][1]
            _wait(lambda p=last_log: b'"archiver k9-' in p.read_bytes(), 30, "the last archiver")
            assert _count(engine) == len(expected), f"trial {trial}"
            print(f"trial {trial} drained: {time.monotonic() - t0:.2f}s")
            last.send_signal(signal.SIGTERM)
            assert last.wait(15) == 0
            metrics = _final_metrics(last_log)
            totals["duplicates"] += metrics["duplicates"]
            totals["reclaimed"] += metrics["reclaimed"]
            assert metrics["dead_lettered"] == metrics["missing"] == 0
            if same_name:
                assert metrics["reclaimed"] == 0

        with engine.connect() as conn:
            repeated = conn.execute(
                select(activity_log.c.event_id, func.count())
                .group_by(activity_log.c.event_id)
                .having(func.count() > 1)
            ).all()
            archived = set(conn.scalars(select(activity_log.c.event_id)))
        assert repeated == []
        assert archived == expected
        assert _count(engine) == len(expected) == TRIALS * EVENTS_PER_TRIAL
        print(
            f"\nkill -9: {TRIALS} trials, {len(expected)} events archived exactly once; "
            f"{totals['kills']} kills ({totals['mid_batch']} mid-trial, "
            f"{totals['pending_at_kill']} entries pending at kill time), "
            f"{totals['reclaimed']} entries reclaimed, "
            f"{totals['duplicates']} redelivered rows ignored"
        )
        # Both recovery paths ran: XAUTOCLAIM to a new name, and commits that were not
        # acknowledged before the kill.
        assert totals["reclaimed"] > 0
        assert totals["pending_at_kill"] > 0
    finally:
        client.close()
        engine.dispose()
        processes.kill_all()
