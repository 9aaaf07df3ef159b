"""Three serving replicas, one archiver, one Redis and one MariaDB on one machine, under a
round-robin load, with one replica SIGKILLed and restarted in the middle.

What is checked:

* client-visible errors happen only on the killed replica, between its kill and its
  readiness again, and every failed request succeeds when retried on another replica;
* the replicas converge on identical policies (n_updates and theta per pool), and they
  learned something;
* zero events lost in MariaDB for what live replicas accepted: every request carries its
  own ``X-Request-ID`` and reads the server-made id from the answer, so the
  ``activity_log.event_id`` of every tracked row is known (``{server request id}:{position}``
  for served feeds, ``v1:{user}:{event_id}`` for
  events). Each expected id is archived exactly once: tracking is written before a
  response leaves, so a replica killed with SIGKILL has written everything it answered
  (:data:`LOSS_WINDOW_SECONDS` is 0; the window logic stays to report a regression).
"""

from __future__ import annotations

import itertools
import random
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis
import sqlalchemy as sa
from replicas import (
    PITCHREC,
    Processes,
    Replica,
    free_port,
    start_archiver,
    start_redis,
)

from pitchrec.archive.archiver import ARCHIVE_GROUP
from pitchrec.legacy.events import stable_event_id
from pitchrec.tracking.store import STREAM_KEY

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

N_REPLICAS = 3
KILLED = 2  # replicas are numbered 1..3
THREADS = 6
LOAD_SECONDS = 15.0
KILL_AT_SECONDS = 5.0
DOWN_SECONDS = 2.0
LOAD_AFTER_READY_SECONDS = 3.0
#: What a SIGKILL may lose: nothing, since tracking is written before the response (an
#: earlier design queued writes for a thread ticking every 20 ms and lost up to 42 rows).
LOSS_WINDOW_SECONDS = 0.0
#: An event refers to a feed at least this old, so that its impression is in Redis.
FEED_AGE_SECONDS = 0.1
DRAIN_TIMEOUT_SECONDS = 30.0
POLICY_TIMEOUT_SECONDS = 5.0
HTTP_TIMEOUT_SECONDS = 10.0
USERS = 300


@dataclass
class Attempt:
    """One HTTP request of the load."""

    op: str  # legacy | feed | events
    replica: int
    request_id: str | None  # feeds: the X-Request-ID sent (the prefix of its rows' ids)
    sent_at: float
    done_at: float = 0.0
    status: int | None = None  # None: a transport error
    error: str | None = None
    ok: bool = False
    ids: list[str] = field(default_factory=list)  # event ids it tracks (events: always)
    retry_of: Attempt | None = None
    retried_by: Attempt | None = None


@dataclass
class Timeline:
    killed_at: float = float("nan")
    restarted_at: float = float("nan")
    ready_at: float = float("nan")


class Load:
    """Round-robin client threads; every attempt is recorded."""

    def __init__(self, replicas: list[Replica]) -> None:
        self.replicas = {replica.index: replica for replica in replicas}
        self.order = [replica.index for replica in replicas]
        self.lock = threading.Lock()
        self.attempts: list[Attempt] = []
        self.feeds: deque[tuple[float, dict[str, Any]]] = deque(maxlen=5_000)
        self.crashes: list[BaseException] = []
        self.stop = threading.Event()
        self._round_robin = itertools.count()
        self._threads: list[threading.Thread] = []

    # -- control ----------------------------------------------------------------------

    def start(self) -> None:
        for number in range(THREADS):
            thread = threading.Thread(target=self._worker, args=(number,), daemon=True)
            self._threads.append(thread)
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(HTTP_TIMEOUT_SECONDS * 3)
        assert not any(thread.is_alive() for thread in self._threads), "a client thread hangs"

    # -- one thread -------------------------------------------------------------------

    def _worker(self, number: int) -> None:
        clients = {
            index: httpx.Client(base_url=replica.base_url, timeout=HTTP_TIMEOUT_SECONDS)
            for index, replica in self.replicas.items()
        }
        rng = random.Random(number)
        try:
            for step in itertools.count():
                if self.stop.is_set():
                    return
                replica = self.order[next(self._round_robin) % len(self.order)]
                op = ("legacy", "feed", "events")[step % 3]
                user = rng.randint(1, USERS)
                events: list[dict[str, Any]] = []
                if op == "events":
                    events = self._events_for_a_feed(rng, f"t{number}-{step}")
                    if not events:
                        op = "feed"
                request_id = f"mr-t{number}-{step}" if op != "events" else None
                first = self._send(clients, op, replica, request_id, user, events)
                if first.ok:
                    continue
                # Retried once, on another replica: a new request for a feed, the same
                # (idempotent) event ids for events.
                other = self.order[(self.order.index(replica) + 1) % len(self.order)]
                retry_id = None if request_id is None else f"{request_id}-retry"
                retry = self._send(clients, op, other, retry_id, user, events)
                retry.retry_of, first.retried_by = first, retry
        except BaseException as exc:  # reported by the test
            self.crashes.append(exc)
        finally:
            for client in clients.values():
                client.close()

    def _events_for_a_feed(self, rng: random.Random, prefix: str) -> list[dict[str, Any]]:
        with self.lock:
            if not self.feeds or time.monotonic() - self.feeds[0][0] < FEED_AGE_SECONDS:
                return []
            _, feed = self.feeds.popleft()
        items = feed["items"]
        chosen = rng.sample(items, k=min(3, len(items)))
        events = []
        for k, item in enumerate(chosen):
            kind = rng.choice(["like", "view"])
            events.append(
                {
                    "event_id": f"{prefix}-{k}",
                    "type": kind,
                    "user_id": feed["user_id"],
                    "item_id": item["id"],
                    "item_type": item["type"],
                    "request_id": feed["request_id"],
                    "position": item["position"],
                    "value": round(rng.uniform(0.1, 1.0), 3) if kind == "view" else None,
                }
            )
        return events

    def _send(
        self,
        clients: dict[int, httpx.Client],
        op: str,
        replica: int,
        request_id: str | None,
        user: int,
        events: list[dict[str, Any]],
    ) -> Attempt:
        client = clients[replica]
        headers = {"X-Request-ID": request_id} if request_id is not None else {}
        attempt = Attempt(op, replica, request_id, time.monotonic())
        if op == "events":
            attempt.ids = [stable_event_id("v1", e["user_id"], e["event_id"]) for e in events]
        try:
            if op == "legacy":
                response = client.post("/api/search/total", json={"SELF_ID": user}, headers=headers)
            elif op == "feed":
                response = client.get("/v1/feed/total", params={"user_id": user}, headers=headers)
            else:
                response = client.post("/v1/events", json={"events": events})
        except httpx.TransportError as exc:
            attempt.done_at = time.monotonic()
            attempt.error = f"{type(exc).__name__}: {exc}"
            with self.lock:
                self.attempts.append(attempt)
            return attempt
        attempt.done_at = time.monotonic()
        attempt.status = response.status_code
        if op == "legacy" and response.status_code == 200:
            assert response.headers["x-request-id"] == request_id
            server_id = response.headers["x-server-request-id"]
            items = response.json()["body"]["items"]
            positions = range(1, len(items) + 1)
            attempt.ids = [stable_event_id(server_id, p) for p in (0, *positions)]
            attempt.ok = True
        elif op == "feed" and response.status_code == 200:
            payload = response.json()
            assert payload["request_id"] == response.headers["x-server-request-id"]
            assert payload["request_id"] != request_id  # server-made, never the client's
            items = payload["items"]
            positions = [item["position"] for item in items]
            attempt.ids = [stable_event_id(payload["request_id"], p) for p in (0, *positions)]
            attempt.ok = True
            if items:
                with self.lock:
                    self.feeds.append((attempt.done_at, payload))
        elif op == "events" and response.status_code == 202:
            assert response.json() == {"accepted": len(events)}
            attempt.ok = True
        with self.lock:
            self.attempts.append(attempt)
        return attempt


# -- fixtures ---------------------------------------------------------------------------


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    started = Processes(tmp_path)
    try:
        yield started
    finally:
        started.close()


def _seed(database_url: str, directory: Path) -> None:
    result = subprocess.run(
        [
            str(PITCHREC),
            "seed",
            "--database-url",
            database_url,
            "--scale",
            "0.02",
            "--seed",
            "9",
            "--truth-out",
            str(directory / "truth.npz"),
        ],
        cwd=directory,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-3000:]


def _app_rows(engine: sa.Engine) -> int:
    with engine.connect() as conn:
        query = sa.text("SELECT COUNT(*) FROM activity_log WHERE log_name = 'app'")
        return int(conn.execute(query).scalar_one())


def _archived_ids(engine: sa.Engine) -> tuple[set[str], list[tuple[str, int]], set[str]]:
    """Archived event ids, ids present more than once, and log names of archived rows."""
    with engine.connect() as conn:
        ids = {
            str(row[0])
            for row in conn.execute(
                sa.text("SELECT event_id FROM activity_log WHERE event_id IS NOT NULL")
            )
        }
        repeated = [
            (str(row[0]), int(row[1]))
            for row in conn.execute(
                sa.text(
                    "SELECT event_id, COUNT(*) FROM activity_log WHERE event_id IS NOT NULL "
                    "GROUP BY event_id HAVING COUNT(*) > 1"
                )
            )
        ]
        names = {
            str(row[0])
            for row in conn.execute(
                sa.text("SELECT DISTINCT log_name FROM activity_log WHERE event_id IS NOT NULL")
            )
        }
    return ids, repeated, names


def _wait_drained(store: redis.Redis, engine: sa.Engine) -> float:
    """Until the stream is empty, nothing is pending and the row count holds for 1 s."""
    started = time.monotonic()
    deadline = started + DRAIN_TIMEOUT_SECONDS
    last, stable_since = -1, time.monotonic()
    while True:
        backlog = int(store.xlen(STREAM_KEY))
        pending = 0
        if backlog == 0 and store.exists(STREAM_KEY):
            pending = int(store.xpending(STREAM_KEY, ARCHIVE_GROUP)["pending"])
        count = _app_rows(engine)
        if count != last:
            last, stable_since = count, time.monotonic()
        if backlog == 0 and pending == 0 and time.monotonic() - stable_since >= 1.0:
            return time.monotonic() - started
        assert time.monotonic() < deadline, f"archiver did not drain: {backlog} in the stream"
        time.sleep(0.2)


def _policies(replicas: list[Replica]) -> list[dict[str, Any]]:
    described = []
    for replica in replicas:
        with httpx.Client(base_url=replica.base_url, timeout=5.0) as client:
            response = client.get("/v1/policies")
            assert response.status_code == 200, response.text
            described.append(response.json())
    return described


def _learned(described: dict[str, Any]) -> tuple[int, dict[str, tuple[int, list[float]]]]:
    pools = {
        name: (int(pool["n_updates"]), list(pool["theta"]))
        for name, pool in described["pools"].items()
    }
    return int(described["version"]), pools


# -- the test ---------------------------------------------------------------------------


def test_three_replicas_one_killed_no_event_lost(
    mariadb_url: str, processes: Processes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    began = time.monotonic()
    _seed(mariadb_url, tmp_path)
    engine = sa.create_engine(mariadb_url, pool_pre_ping=True)
    try:
        baseline = _app_rows(engine)  # the seeded legacy rows (event_id NULL)

        redis_port = free_port()
        start_redis(processes, redis_port)
        redis_url = f"redis://127.0.0.1:{redis_port}/0"
        replicas = [
            Replica(i, free_port(), mariadb_url, redis_url, tmp_path / f"snap-{i}", processes)
            for i in range(1, N_REPLICAS + 1)
        ]
        for replica in replicas:
            replica.start()
        archiver = start_archiver(processes, mariadb_url, redis_url, "arch-1", 200)
        for replica in replicas:
            replica.wait_ready()
        assert archiver.alive(), archiver.diagnostics()
        ready_seconds = time.monotonic() - began

        load = Load(replicas)
        timeline = Timeline()
        victim = replicas[KILLED - 1]
        load_started = time.monotonic()
        load.start()
        try:
            time.sleep(KILL_AT_SECONDS)
            timeline.killed_at = time.monotonic()
            victim.sigkill()
            time.sleep(DOWN_SECONDS)
            timeline.restarted_at = time.monotonic()
            victim.start()
            timeline.ready_at = victim.wait_ready()
            end = max(load_started + LOAD_SECONDS, timeline.ready_at + LOAD_AFTER_READY_SECONDS)
            time.sleep(max(0.0, end - time.monotonic()))
        finally:
            load.finish()
        load_seconds = time.monotonic() - load_started
        assert not load.crashes, load.crashes

        with redis.Redis(host="127.0.0.1", port=redis_port, decode_responses=True) as store:
            time.sleep(1.0)  # the writers flush every 20 ms; give them a margin
            drain_seconds = _wait_drained(store, engine)
        assert archiver.alive(), archiver.diagnostics()
        found, repeated, log_names = _archived_ids(engine)
        app_rows = _app_rows(engine) - baseline

        # -- policies: identical on every replica, and something was learned ----------
        deadline = time.monotonic() + POLICY_TIMEOUT_SECONDS
        while True:
            learned = [_learned(d) for d in _policies(replicas)]
            if all(one == learned[0] for one in learned) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
    finally:
        engine.dispose()

    attempts = load.attempts
    failed = [a for a in attempts if not a.ok]
    first_failures = [a for a in failed if a.retry_of is None]
    retries = [a for a in attempts if a.retry_of is not None]
    k, r, w = timeline.killed_at, timeline.restarted_at, timeline.ready_at

    # Expected ids: every accepted request. Ids that may appear without being expected:
    # those of requests that failed (a replica may have tracked a feed it could not send).
    owner: dict[str, Attempt] = {}
    for attempt in attempts:
        if attempt.ok:
            for event_id in attempt.ids:
                owner.setdefault(event_id, attempt)
    expected = set(owner)
    missing = expected - found
    unexpected = found - expected
    # A feed the killed replica tracked but could not answer has a server-made id the
    # client never saw: such rows are explained by the failed feed requests, at most one
    # request id per failed feed.
    failed_event_ids = {i for a in failed for i in a.ids}
    failed_feeds = sum(1 for a in failed if a.op in ("legacy", "feed"))
    unexplained_ids = {i for i in unexpected if i not in failed_event_ids}
    unexplained_requests = {i.rsplit(":", 1)[0] for i in unexplained_ids}
    unexplained = unexplained_ids if len(unexplained_requests) > failed_feeds else set()

    def in_loss_window(attempt: Attempt) -> bool:
        return (
            attempt.replica == KILLED
            and attempt.sent_at < k
            and attempt.done_at >= k - LOSS_WINDOW_SECONDS
        )

    lost_attempts = {id(owner[i]): owner[i] for i in missing}
    outside_window = sorted(i for i in missing if not in_loss_window(owner[i]))
    window_ids = {i for i, a in owner.items() if in_loss_window(a)}
    oldest_loss_ms = max(((k - a.done_at) * 1000 for a in lost_attempts.values()), default=0.0)

    per_replica = {
        index: (
            sum(1 for a in attempts if a.replica == index),
            sum(1 for a in failed if a.replica == index),
        )
        for index in range(1, N_REPLICAS + 1)
    }
    statuses: dict[str, int] = {}
    for attempt in failed:
        key = str(attempt.status) if attempt.status is not None else "transport error"
        statuses[key] = statuses.get(key, 0) + 1
    n_updates = {name: pool[0] for name, pool in learned[0][1].items()}
    with capsys.disabled():
        print(
            f"\n[multi-replica] replicas ready {ready_seconds:.1f} s after start; load "
            f"{load_seconds:.1f} s; replica {KILLED} killed at +{k - load_started:.2f} s, "
            f"restarted at +{r - load_started:.2f} s, ready at +{w - load_started:.2f} s "
            f"({w - r:.2f} s to ready)\n"
            f"[multi-replica] requests {len(attempts)} (per replica: requests, failed "
            f"{per_replica}); failed {len(failed)} {statuses}; retried {len(retries)}, "
            f"retries ok {sum(a.ok for a in retries)}\n"
            f"[multi-replica] rows expected {len(expected)}, archived ids {len(found)}, "
            f"app rows added {app_rows}; duplicates {len(repeated)}; archiver drained "
            f"{drain_seconds:.1f} s after the load\n"
            f"[multi-replica] SIGKILL loss: {len(missing)} rows of {len(lost_attempts)} "
            f"requests (replica {KILLED} accepted {len(window_ids)} rows in the last "
            f"{LOSS_WINDOW_SECONDS * 1000:.0f} ms before the kill; oldest lost response "
            f"{oldest_loss_ms:.1f} ms before it); {len(unexpected)} rows of failed "
            f"requests archived anyway\n"
            f"[multi-replica] policies v{learned[0][0]} n_updates {n_updates}"
        )

    # -- errors: only the killed replica, only while it was down; every retry succeeded --
    assert attempts, "no request was sent"
    assert all(a.replica == KILLED for a in failed), [
        (a.replica, a.status, a.error) for a in failed if a.replica != KILLED
    ]
    stray = [a for a in failed if not (a.done_at >= k and a.sent_at <= w)]
    assert not stray, [(a.op, a.status, a.error, a.sent_at - k) for a in stray]
    assert all(a.retried_by is not None for a in first_failures)
    assert all(a.ok for a in retries), [(a.replica, a.status, a.error) for a in retries]
    assert len(retries) == len(first_failures)
    assert first_failures, "the killed replica was never hit while down"

    # -- learning: converged on every replica, and non-trivial --------------------------
    assert all(one == learned[0] for one in learned), learned
    assert sum(n_updates.values()) > 0, "no policy learned anything"

    # -- archive: exactly once, nothing lost beyond the SIGKILLed queue ----------------
    assert not repeated, repeated[:10]
    assert log_names == {"app"}, log_names
    assert not unexplained, sorted(unexplained)[:10]
    assert not outside_window, [
        (i, owner[i].replica, owner[i].op, round((k - owner[i].done_at) * 1000, 1))
        for i in outside_window[:10]
    ]
    assert len(missing) <= len(window_ids)
    assert app_rows == len(expected) - len(missing) + len(unexpected)
