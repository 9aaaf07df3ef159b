"""The online replay over HTTP, against Redis (issue 13): does learning raise likes when
everything runs as deployed?

The temporal split of ``pitchrec evaluate replay`` (the snapshot as of the cut, each
held-out user's positives after it), but each arm is a real ``pitchrec serve`` process
serving that snapshot with its own private ``redis-server``. Held-out users are replayed
in a seeded order, one client: ``--pages`` feeds each (``GET /v1/feed/discover``, one
session per user, what the user interacted with before the cut excluded), then ``POST
/v1/events`` with a like for every shown resume the user went on to like after the cut and
a skip for every other one (``--skips all``) or for those above the page's last like only
(``--skips above-last-like``, :func:`pitchrec.lab.offline.replay.answered`), then
``--think`` seconds before the next page (a user reading the page; the server's feedback
thread ticks every 20 ms and publishes what it learned within about 0.1 s).

Arms: ``learn`` (the defaults: events reach the taste profiles and the pool policies,
which are served); ``frozen`` (``PITCHREC_LEARN_ONLINE=false``: profiles learn, the
policies are recorded but served at their prior); ``none`` (no events posted, no taste
profiles). Every arm replays the same users, so the differences are paired (bootstrap
over users, as ``pitchrec evaluate replay``).

    .venv/bin/python bench/replay_http.py --database-url sqlite:///var/w-collab.db \\
        --min-positives 3 --report-dir bench/quality/replay-http

Needs ``redis-server`` on the PATH. Prints the summary as JSON; progress on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from pitchrec.index.snapshot import save
from pitchrec.lab.offline.replay import (
    SKIP_MODELS,
    ReplayOptions,
    ReplayResult,
    answered,
    replay_users,
)
from pitchrec.lab.offline.replay_summary import replay_markdown, runs_record, summarise_replay
from pitchrec.lab.offline.split import Split, temporal_split

HOST = "127.0.0.1"
PITCHREC = Path(sys.executable).parent / "pitchrec"
ARMS = {
    "learn": {},
    "frozen": {"PITCHREC_LEARN_ONLINE": "false"},
    "none": {"PITCHREC_TASTE_PROFILES": "false", "PITCHREC_LEARN_ONLINE": "false"},
}


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


class Served:
    """A private redis-server and a ``pitchrec serve`` on ``snapshot`` using it."""

    def __init__(self, snapshot: Path, directory: Path, env: dict[str, str]) -> None:
        self.redis_port, self.port = free_port(), free_port()
        self.redis = subprocess.Popen(
            [
                *("redis-server", "--port", str(self.redis_port), "--bind", HOST),
                *("--save", "", "--appendonly", "no", "--dir", str(directory)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        variables = {k: v for k, v in os.environ.items() if not k.startswith("PITCHREC_")}
        variables.update(
            PITCHREC_REDIS_URL=f"redis://{HOST}:{self.redis_port}/0",
            PITCHREC_REFRESH_SECONDS="0",
            OMP_NUM_THREADS="1",
            OPENBLAS_NUM_THREADS="1",
            **env,
        )
        self.log = (directory / "server.log").open("wb")
        self.server = subprocess.Popen(
            [
                *(str(PITCHREC), "serve", "--snapshot", str(snapshot), "--host", HOST),
                *("--port", str(self.port), "--workers", "1"),
            ],
            env=variables,
            cwd=directory,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.client = httpx.Client(base_url=f"http://{HOST}:{self.port}", timeout=30.0)
        deadline = time.monotonic() + 120
        while True:
            try:
                if self.client.get("/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if self.server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not become ready (see {directory})")
            time.sleep(0.1)

    def stop(self) -> None:
        self.client.close()
        for process in (self.server, self.redis):
            process.terminate()
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()
        self.log.close()


def replay_over_http(
    served: Served, split: Split, users: np.ndarray, arm: str, args: argparse.Namespace, seed: int
) -> ReplayResult:
    """Likes (users, pages) of one arm: the same loop as the in-process replay."""
    likes = np.zeros((users.shape[0], args.pages))
    for row, user in enumerate(users.tolist()):
        truth = set(split.truth[user].tolist())
        seen = split.seen.get(user, frozenset())
        liked: set[int] = set()
        for page in range(args.pages):
            response = served.client.get(
                "/v1/feed/discover",
                params={
                    "user_id": user,
                    "size": args.page_size,
                    "session_id": f"replay-{seed}-{row}",
                    "seed": seed * 1_000_003 + row * 101 + page,
                    "exclude": ",".join(map(str, sorted(seen))),
                },
            )
            response.raise_for_status()
            body = response.json()
            ids = [item["id"] for item in body["items"] if item["type"] == "resume"]
            hits = [i in truth and i not in liked for i in ids]
            liked.update(i for i, hit in zip(ids, hits, strict=True) if hit)
            likes[row, page] = sum(hits)
            answers = answered(hits, args.skips)
            if arm != "none" and any(a is not None for a in answers):
                events = [
                    {
                        "event_id": f"{body['request_id']}:{position}",
                        "type": "like" if hit else "skip",
                        "user_id": user,
                        "item_id": item,
                        "item_type": "resume",
                        "request_id": body["request_id"],
                        "position": position,
                    }
                    for position, (item, hit) in enumerate(zip(ids, answers, strict=True), 1)
                    if hit is not None
                ]
                posted = served.client.post("/v1/events", json={"events": events})
                posted.raise_for_status()
            time.sleep(args.think)
        if (row + 1) % 25 == 0:
            say(f"  {arm} seed {seed}: {row + 1}/{users.shape[0]} users")
    return ReplayResult(arm, users, likes)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--arms", default="learn,frozen,none")
    parser.add_argument("--users", type=int, default=300)
    parser.add_argument("--pages", type=int, default=5)
    parser.add_argument("--page-size", type=int, default=24)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--min-positives", type=int, default=1)
    parser.add_argument("--holdout-fraction", type=float, default=0.2)
    parser.add_argument("--think", type=float, default=0.15, help="seconds between pages")
    parser.add_argument("--skips", choices=SKIP_MODELS, default="all")
    parser.add_argument("--jobs", type=int, default=1, help="runs (seed x arm) at once")
    parser.add_argument("--report-dir", type=Path)
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="PITCHREC_NAME=VALUE",
        help="a setting for every arm's server (repeatable), e.g. PITCHREC_LEARNED_BLEND=false",
    )
    return parser


def main() -> None:
    parser = _parser()
    args = parser.parse_args()
    arms = args.arms.split(",")
    common: dict[str, str] = {}
    for assignment in args.server_env:
        name, equals, value = assignment.partition("=")
        if not equals or not name.startswith("PITCHREC_"):
            parser.error(f"--server-env takes PITCHREC_NAME=VALUE, not {assignment!r}")
        common[name] = value
    unknown = set(arms) - set(ARMS)
    if unknown:
        parser.error(f"unknown arms {sorted(unknown)}; known: {', '.join(ARMS)}")
    started = time.monotonic()
    say("temporal split and the snapshot as of the cut")
    split = temporal_split(args.database_url, holdout_fraction=args.holdout_fraction)
    options = ReplayOptions(
        users=args.users,
        pages=args.pages,
        page_size=args.page_size,
        min_positives=args.min_positives,
        skips=args.skips,
    )
    with tempfile.TemporaryDirectory(prefix="replay-http-") as tmp:
        snapshot = save(split.snapshot, Path(tmp) / "snapshot")

        def run(seed: int, arm: str) -> ReplayResult:
            users = replay_users(split, options, seed)
            directory = Path(tmp) / f"{arm}-{seed}"
            directory.mkdir()
            say(f"{arm}, seed {seed}: {users.shape[0]} users over HTTP")
            served = Served(snapshot, directory, {**common, **ARMS[arm]})
            try:
                return replay_over_http(served, split, users, arm, args, seed)
            finally:
                served.stop()

        # Each (seed, arm) has its own server and Redis, so runs are independent; the
        # clients mostly sleep (--think), so --jobs 2-4 fit on two cores.
        tasks = [(seed, arm) for seed in range(args.seeds) for arm in arms]
        with ThreadPoolExecutor(max_workers=args.jobs) as pool:
            done = dict(zip(tasks, pool.map(lambda task: run(*task), tasks), strict=True))
    results = {arm: [done[(seed, arm)] for seed in range(args.seeds)] for arm in arms}
    summary = summarise_replay({"service over HTTP": results})
    command = "bench/replay_http.py " + " ".join(sys.argv[1:])
    out: dict[str, Any] = {
        "command": command,
        "wall_seconds": round(time.monotonic() - started, 1),
        "cut": str(split.cut),
        "summary": summary,
    }
    if args.report_dir is not None:
        args.report_dir.mkdir(parents=True, exist_ok=True)
        (args.report_dir / "results.json").write_text(json.dumps(out, indent=1, default=str))
        runs = runs_record({"service over HTTP": results})
        (args.report_dir / "runs.json").write_text(json.dumps(runs) + "\n")
        (args.report_dir / "REPORT.md").write_text(replay_markdown(summary, command, options))
    print(json.dumps(out, indent=1, default=str))


if __name__ == "__main__":
    main()
