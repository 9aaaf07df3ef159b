"""Issue 14, item 1, done: two variants, a simulated population, the sequential interval
separating them and the guardrail stopping the worse one, on real processes.

Two ``pitchrec serve`` replicas share a private Redis and serve a seeded collaborative
world (scale 0.1, about 200 resumes) with an experiment: ``control`` (the service's
defaults) and ``all-fresh``, the new-creator exposure guarantee pushed to every resume
slot (``fresh_share=1``: every resume of a feed is one the app never exhibited).

The simulated users are the lab's behaviour model on the world's hidden ground truth
(:mod:`pitchrec.lab.world.user_model`): for each *served* resume a user likes it with its
true engagement probability ``q(u, r)`` and skips it otherwise, posting likes and skips
to ``POST /v1/events`` with the served ``request_id``. The users never see the variant
label: ``all-fresh`` loses likes only because what it serves is less engaging (measured
on this world before the test: about 0.26 likes per impression for the control's feeds,
0.15 for ``all-fresh``'s).

The test polls ``GET /v1/experiments`` (alternating replicas) until the always-valid
interval of (all-fresh - control) lies below 0 and the guardrail has stopped
``all-fresh``; then every ``all-fresh`` user is served the control on both replicas,
their impressions say so, and ``pitchrec archive`` has put the variant into
``activity_log.properties``.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
import redis
import sqlalchemy as sa
from replicas import PITCHREC, Processes, Replica, free_port, start_archiver, start_redis

from pitchrec.domain.experiment import assign, parse_experiment
from pitchrec.lab.world.sim_world import load_world
from pitchrec.lab.world.user_model import UserModel

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EXPERIMENT: dict[str, Any] = {
    "name": "e2e-fresh",
    "variants": {
        "control": {"weight": 1},
        "all-fresh": {"weight": 1, "ranking": ["@fresh_share=1"]},
    },
    "min_impressions": 300,
    "effect_size": 0.05,
}
SPEC = parse_experiment(EXPERIMENT)
WORSE = "all-fresh"
FEED_SIZE = 24
POLL_EVERY_FEEDS = 10
SIMULATION_TIMEOUT_SECONDS = 180.0


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    started = Processes(tmp_path)
    try:
        yield started
    finally:
        started.close()


def _seed(database_url: str, directory: Path) -> Path:
    truth = directory / "truth.npz"
    command = [str(PITCHREC), "seed", "--database-url", database_url, "--scale", "0.1"]
    command += ["--seed", "3", "--world", "collaborative", "--truth-out", str(truth)]
    result = subprocess.run(command, cwd=directory, capture_output=True, timeout=180, check=False)
    assert result.returncode == 0, result.stderr.decode(errors="replace")[-3000:]
    return truth


class Population:
    """The simulated users: true engagement probabilities of every resume (lab truth)."""

    def __init__(self, database_url: str, truth: Path, seed: int = 11) -> None:
        self.world = load_world(database_url, truth)
        self.model = UserModel(self.world)
        self.rng = np.random.default_rng(seed)
        self.row_of_id = {int(u): row for row, u in enumerate(self.world.user_id.tolist())}

    def someone(self) -> int:
        """A user of the world with an account (never the anonymous 0)."""
        return int(self.world.user_id[self.rng.integers(len(self.world.user_id))])

    def reactions(self, user: int, feed: dict[str, Any]) -> list[dict[str, Any]]:
        """A like or a skip for every served resume, drawn from the truth alone."""
        q = self.model.new_user(self.row_of_id[user], self.world.now).base_q
        ids = np.asarray([item["id"] for item in feed["items"]], dtype=np.int64)
        rows = self.world.rows_of(ids)
        events = []
        for item, row in zip(feed["items"], rows.tolist(), strict=True):
            liked = row >= 0 and self.rng.random() < q[row]
            events.append(
                {
                    "event_id": f"{feed['request_id']}:{item['id']}",
                    "type": "like" if liked else "skip",
                    "user_id": user,
                    "item_id": item["id"],
                    "item_type": item["type"],
                    "request_id": feed["request_id"],
                    "position": item["position"],
                }
            )
        return events


def _variant(report: dict[str, Any], name: str) -> dict[str, Any]:
    return next(v for v in report["variants"] if v["name"] == name)


def test_the_guardrail_stops_the_worse_variant(
    processes: Processes, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.monotonic()
    database_url = f"sqlite:///{tmp_path / 'world.db'}"
    truth = _seed(database_url, tmp_path)
    redis_port = free_port()
    start_redis(processes, redis_port)
    redis_url = f"redis://127.0.0.1:{redis_port}/0"
    env = {"PITCHREC_EXPERIMENT": json.dumps(EXPERIMENT)}
    replicas = [
        Replica(i, free_port(), database_url, redis_url, tmp_path / "snapshot", processes, env=env)
        for i in (1, 2)
    ]
    replicas[0].start()  # builds the snapshot; the second maps it
    replicas[0].wait_ready(60)
    replicas[1].start()
    replicas[1].wait_ready(60)
    start_archiver(processes, database_url, redis_url, "e2e", 200)
    population = Population(database_url, truth)
    clients = [httpx.Client(base_url=r.base_url, timeout=10.0) for r in replicas]
    ready = time.monotonic()

    served_before: dict[str, int] = {}
    report: dict[str, Any] = {}
    feeds = 0
    deadline = time.monotonic() + SIMULATION_TIMEOUT_SECONDS
    try:
        while True:
            client = clients[feeds % 2]
            user = population.someone()
            response = client.get(f"/v1/feed/discover?user_id={user}&size={FEED_SIZE}")
            assert response.status_code == 200, response.text
            feed = response.json()
            assigned = assign(SPEC, user, None).variant
            # Each user is served the variant the hash assigns, until the guardrail stops
            # all-fresh (the replicas may do so between two of the test's polls).
            moved_already = feed["variant"] != assigned
            assert not moved_already or (assigned, feed["variant"]) == (WORSE, "control")
            served_before[feed["variant"]] = served_before.get(feed["variant"], 0) + 1
            events = population.reactions(user, feed)
            posted = client.post("/v1/events", json={"events": events})
            assert posted.status_code == 202, posted.text
            feeds += 1
            if feeds % POLL_EVERY_FEEDS == 0 or moved_already:
                report = clients[(feeds // POLL_EVERY_FEEDS) % 2].get("/v1/experiments").json()
                worse = _variant(report, WORSE)
                if worse["status"] == "stopped":
                    break
            assert time.monotonic() < deadline, f"no stop after {feeds} feeds: {report}"
        simulated = time.monotonic()

        worse, control = _variant(report, WORSE), _variant(report, "control")
        difference = worse["difference"]
        # The sequential interval separates them: all-fresh is below the control.
        assert difference["high"] < 0, difference
        assert worse["like_rate"] < control["like_rate"]
        assert min(worse["impressions"], control["impressions"]) >= SPEC.min_impressions
        assert worse["stopped_reason"].startswith("guardrail: like rate below control")
        assert report["series"][WORSE] and report["series"]["control"]

        # Every all-fresh user is now served the control, by both replicas.
        moved = [u for u in range(1, 2_000) if assign(SPEC, u, None).variant == WORSE][:20]
        store = redis.Redis.from_url(redis_url, decode_responses=True)
        stopped_at = time.monotonic()
        for index, user in enumerate(moved):
            for client in clients:
                while True:  # a replica refreshes the stop list every 2 s
                    feed = client.get(f"/v1/feed/discover?user_id={user}&size=6").json()
                    if feed["variant"] == "control" or time.monotonic() - stopped_at > 10:
                        break
                    time.sleep(0.1)
                assert feed["variant"] == "control", (index, feed["variant"])
                stored = store.hgetall(f"pitchrec:imp:{feed['request_id']}")
                tags = {
                    (json.loads(v)["variant"], json.loads(v)["assigned"]) for v in stored.values()
                }
                assert tags == {("control", WORSE)}
        # ... and, now that both replicas have the stop, their feeds count neither as the
        # control nor as all-fresh (up to then a replica that had not refreshed its stop
        # list yet, at most 2 s, still served all-fresh).
        before = clients[0].get("/v1/experiments").json()
        for user in moved:
            for client in clients:
                assert (
                    client.get(f"/v1/feed/discover?user_id={user}").json()["variant"] == "control"
                )
        after = clients[1].get("/v1/experiments").json()
        for name in (WORSE, "control"):
            assert _variant(after, name)["impressions"] == _variant(before, name)["impressions"]
        metrics = clients[1].get("/metrics").text
        assert f'pitchrec_experiment_variant_stopped{{variant="{WORSE}"}} 1.0' in metrics

        # The archiver puts the variant into activity_log.properties (no new column).
        engine = sa.create_engine(database_url)
        try:
            rows = _archived_properties(engine, expected=1)
        finally:
            engine.dispose()
        assert {(p["variant"], p.get("assigned")) for p in rows} >= {
            ("control", "control"),
            (WORSE, WORSE),
            ("control", WORSE),
        }
    finally:
        for client in clients:
            client.close()
    with capsys.disabled():
        print(
            f"\n[e2e experiment] start {ready - started:.1f} s, {feeds} feeds to the stop in "
            f"{simulated - ready:.1f} s ({served_before}); "
            f"like rates control {control['like_rate']:.3f}, {WORSE} {worse['like_rate']:.3f}, "
            f"difference {difference['estimate']:+.3f} "
            f"[{difference['low']:+.3f}, {difference['high']:+.3f}] after "
            f"{worse['impressions']} / {control['impressions']} impressions; "
            f"total {time.monotonic() - started:.1f} s"
        )


def _archived_properties(engine: sa.Engine, expected: int) -> list[dict[str, Any]]:
    """The properties of archived rows that carry a variant, once the archiver has
    written at least ``expected`` of each kind (waits up to 30 s)."""
    deadline = time.monotonic() + 30
    query = sa.text("SELECT properties FROM activity_log WHERE properties LIKE '%\"variant\"%'")
    while True:
        with engine.connect() as connection:
            rows = [json.loads(row[0]) for row in connection.execute(query)]
        kinds = {(p["variant"], p.get("assigned")) for p in rows}
        if len(kinds) >= 3 or time.monotonic() > deadline:
            assert len(rows) >= expected
            return rows
        time.sleep(0.5)
