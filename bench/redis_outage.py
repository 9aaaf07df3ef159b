"""A long Redis outage at full load (issue 15): what the serving pods keep, refuse and
lose, and how much memory they take meanwhile.

``pitchrec serve --workers 2`` (a MariaDB world of its own, seeded here) tracks to a
private ``redis-server`` through a TCP proxy; ``pitchrec archive`` reads the stream
through the same proxy into ``activity_log``. ``--clients`` closed-loop clients each ask
for a v1 feed (a warm user, a session per five feeds) and post 1-3 feedback events
about it, with event ids of their own. After ``--before`` seconds the proxy goes down
(open connections cut, new ones closed at once: Redis is gone for every process) for
``--duration`` seconds (default 600), then comes back, the load goes on for ``--after``
seconds, and the bench waits for the archiver to drain.

Every POST /v1/events is accounted for by its event ids (``v1:{user}:{event_id}`` in
``activity_log.event_id``), and every served feed by its rows (``{request_id}:{position}``):

* accepted: answered 2xx; refused: any other status or a transport error;
* kept: accepted while Redis was down (so spooled by a worker) and in ``activity_log``
  after the drain; lost: accepted (any time) and not in ``activity_log`` after the drain
  (the target is 0); duplicated: an event id archived more than once.

The RSS (VmRSS) of the server's processes (the uvicorn parent and each worker) is sampled
every second; peaks are reported per process and for their sum (the pod's 512 MiB limit).
Spool drops are read from the workers' log lines ("tracking spool full").

    .venv/bin/python bench/redis_outage.py [--duration 600] [--clients 8] [--scale 1]

Needs redis-server on the PATH and MariaDB on 127.0.0.1:3306 (root, no password; a
database ``pitchrec_bench_outage_<hex>`` is created and dropped; ``--mariadb`` changes
the server). Nothing else of the machine's Redis or MariaDB is touched. Prints one JSON
object; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import http.client
import json
import multiprocessing
import os
import platform
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import pymysql
import redis

PITCHREC = Path(sys.executable).parent / "pitchrec"
HOST = "127.0.0.1"
MiB = 1 << 20


def say(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


# -- the proxy: up or down ---------------------------------------------------------------


async def _pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError, OSError):
        while data := await src.read(1 << 16):
            dst.write(data)
            await dst.drain()
    dst.close()


async def _cut_when_down(up: Synchronized[int], open_writers: set[asyncio.StreamWriter]) -> None:
    while True:
        await asyncio.sleep(0.02)
        if not up.value and open_writers:
            for writer in list(open_writers):
                with contextlib.suppress(Exception):
                    writer.transport.abort()
            open_writers.clear()


def _proxy_main(listen: int, upstream: tuple[str, int], up: Synchronized[int]) -> None:
    """Forward ``listen`` to ``upstream`` while ``up.value``; while down, close every open
    connection and close new ones at once (the clients see Redis gone)."""
    open_writers: set[asyncio.StreamWriter] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not up.value:
            writer.close()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection(*upstream)
        except OSError:
            writer.close()
            return
        open_writers.update((writer, up_writer))
        try:
            await asyncio.gather(_pump(reader, up_writer), _pump(up_reader, writer))
        finally:
            open_writers.difference_update((writer, up_writer))

    async def main() -> None:
        server = await asyncio.start_server(handle, HOST, listen)
        async with server:
            await asyncio.gather(server.serve_forever(), _cut_when_down(up, open_writers))

    asyncio.run(main())


class Proxy:
    def __init__(self, upstream: tuple[str, int]) -> None:
        self.port = free_port()
        self._up: Synchronized[int] = multiprocessing.Value("i", 1)
        self.process = multiprocessing.Process(
            target=_proxy_main, args=(self.port, upstream, self._up), daemon=True
        )
        self.process.start()
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection((HOST, self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def up(self) -> None:
        self._up.value = 1

    def down(self) -> None:
        self._up.value = 0

    def close(self) -> None:
        self.process.terminate()
        self.process.join(5)
        if self.process.is_alive():
            self.process.kill()


# -- processes ---------------------------------------------------------------------------


class Started:
    """Every process the bench starts (each the leader of its own group); stopped by
    :meth:`close` whatever happened."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.procs: list[subprocess.Popen[bytes]] = []

    def spawn(self, name: str, command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.directory / f"{name}.log").open("ab") as out:
            proc = subprocess.Popen(
                command,
                cwd=self.directory,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(25)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(5)


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PITCHREC_", "MYSQL_"))}
    env.pop("API_PATH", None)
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", **extra)
    return env


def group_rss(leader: int) -> dict[int, tuple[str, int, int]]:
    """pid -> (role, VmRSS bytes, PSS bytes) of every live process in ``leader``'s process
    group. VmRSS counts pages shared by the processes (the parent's copy-on-write pages,
    the memory-mapped snapshot) once per process, so its sum is an upper bound of what the
    pod holds; PSS (``/proc/<pid>/smaps_rollup``) splits each shared page between the
    processes that map it, so its sum is the memory the group holds together."""
    found: dict[int, tuple[str, int, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            pgrp = int(stat.rsplit(")", 1)[1].split()[2])
            if pgrp != leader:
                continue
            status = Path(f"/proc/{entry}/status").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ")
            rollup = Path(f"/proc/{entry}/smaps_rollup").read_text()
        except (OSError, ValueError, IndexError):
            continue
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        pss = re.search(r"^Pss:\s+(\d+) kB", rollup, re.M)
        if match is None or pss is None:
            continue
        pid = int(entry)
        if pid == leader:
            role = "parent"
        elif b"resource_tracker" in cmdline:
            role = "resource_tracker"
        else:
            role = "worker"
        found[pid] = (role, int(match.group(1)) * 1024, int(pss.group(1)) * 1024)
    return found


class RssMonitor:
    def __init__(self, leader: int, every: float = 1.0) -> None:
        self.leader = leader
        self.every = every
        self.peak: dict[int, tuple[str, int]] = {}
        self.peak_sum = 0
        self.peak_pss_sum = 0
        self.samples = 0
        self.timeline: list[tuple[float, int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> RssMonitor:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set():
            sample = group_rss(self.leader)
            for pid, (role, rss, _) in sample.items():
                if rss > self.peak.get(pid, (role, 0))[1]:
                    self.peak[pid] = (role, rss)
            total = sum(rss for _, rss, _ in sample.values())
            pss = sum(value for _, _, value in sample.values())
            self.peak_sum = max(self.peak_sum, total)
            self.peak_pss_sum = max(self.peak_pss_sum, pss)
            self.samples += 1
            if self.samples % 10 == 1:
                self.timeline.append((round(time.monotonic() - started, 1), total, pss))
            self._stop.wait(self.every)


# -- the load ----------------------------------------------------------------------------


@dataclass
class Tally:
    """What one client thread saw, per phase (before, outage, after)."""

    feeds_ok: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    feeds_failed: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    posts_ok: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    posts_failed: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    statuses: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    events_accepted: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    events_refused: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    rows_accepted: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))


class Load:
    def __init__(self, port: int, users: list[int], clients: int) -> None:
        self.port = port
        self.users = users
        self.phase = "before"
        self.stop = threading.Event()
        self.tallies = [Tally() for _ in range(clients)]
        self.tag = uuid.uuid4().hex[:6]
        self.threads = [
            threading.Thread(target=self._client, args=(k,), daemon=True) for k in range(clients)
        ]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(60)

    def _request(
        self, conn: http.client.HTTPConnection, method: str, path: str, body: Any = None
    ) -> tuple[int, bytes]:
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()

    def _client(self, k: int) -> None:
        tally = self.tallies[k]
        rng = random.Random(k)
        conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
        n = 0
        while not self.stop.is_set():
            n += 1
            phase = self.phase
            user = rng.choice(self.users)
            query = urllib.parse.urlencode(
                {"user_id": user, "session_id": f"b{self.tag}-{k}-{n // 5}", "size": 24}
            )
            try:
                status, body = self._request(conn, "GET", f"/v1/feed/total?{query}")
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
                tally.feeds_failed[phase] += 1
                tally.statuses["feed transport error"] += 1
                time.sleep(0.05)
                continue
            tally.statuses[f"feed {status}"] += 1
            if status != 200:
                tally.feeds_failed[phase] += 1
                time.sleep(0.05)
                continue
            feed = json.loads(body)
            tally.feeds_ok[phase] += 1
            items = feed["items"]
            positions = (0, *(item["position"] for item in items))
            tally.rows_accepted[phase].extend(f"{feed['request_id']}:{p}" for p in positions)
            if not items:
                continue
            events = []
            for j, item in enumerate(rng.sample(items, k=min(len(items), rng.randint(1, 3)))):
                kind = rng.choice(("view", "like", "skip"))
                events.append(
                    {
                        "event_id": f"o{self.tag}-{k}-{n}-{j}",
                        "type": kind,
                        "user_id": user,
                        "item_id": item["id"],
                        "item_type": item["type"],
                        "request_id": feed["request_id"],
                        "position": item["position"],
                        "value": round(rng.uniform(0.05, 1.0), 3) if kind == "view" else None,
                    }
                )
            ids = [f"v1:{user}:{e['event_id']}" for e in events]
            phase = self.phase
            try:
                status, _ = self._request(conn, "POST", "/v1/events", {"events": events})
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
                status = 0
            tally.statuses[f"events {status or 'transport error'}"] += 1
            if 200 <= status < 300:
                tally.posts_ok[phase] += 1
                tally.events_accepted[phase].extend(ids)
            else:
                tally.posts_failed[phase] += 1
                tally.events_refused[phase].extend(ids)
        conn.close()


# -- set-up ------------------------------------------------------------------------------


def mariadb_admin(address: tuple[str, int]) -> pymysql.Connection[Any]:
    return pymysql.connect(host=address[0], port=address[1], user="root", autocommit=True)


def start_redis(started: Started, port: int) -> None:
    directory = started.directory / "redis"
    directory.mkdir(exist_ok=True)
    command = ["redis-server", "--port", str(port), "--bind", HOST, "--dir", str(directory)]
    command += ["--save", "", "--appendonly", "no"]
    started.spawn("redis", command, child_env())
    deadline = time.monotonic() + 10
    while True:
        try:
            with redis.Redis(host=HOST, port=port) as client:
                client.ping()
            return
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def wait_ready(port: int, proc: subprocess.Popen[bytes], timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with {proc.returncode}")
        try:
            conn = http.client.HTTPConnection(HOST, port, timeout=5)
            conn.request("GET", "/readyz")
            if conn.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError("server not ready")


def warm_users(snapshot: Path, limit: int) -> list[int]:
    """Users with history in the served snapshot (the feeds' warm path)."""
    from pitchrec.index import snapshot as snapshot_files

    history = snapshot_files.load(snapshot).users.history_users
    users = [int(u) for u in list(history)[:limit]]
    return users or list(range(1, limit + 1))


def archived(database_url: str) -> tuple[set[str], int]:
    """Archived event ids, and how many ids are archived more than once."""
    url = urllib.parse.urlparse(database_url.replace("mysql+pymysql", "mysql"))
    conn = pymysql.connect(
        host=url.hostname, port=url.port or 3306, user=url.username, database=url.path[1:]
    )
    try:
        with conn.cursor() as cursor:
            cursor.execute("SELECT event_id FROM activity_log WHERE event_id IS NOT NULL")
            ids = {str(row[0]) for row in cursor.fetchall()}
            cursor.execute(
                "SELECT COUNT(*) FROM (SELECT event_id FROM activity_log WHERE event_id IS NOT "
                "NULL GROUP BY event_id HAVING COUNT(*) > 1) AS repeated"
            )
            repeated = int(cursor.fetchone()[0])
    finally:
        conn.close()
    return ids, repeated


def drain(redis_port: int, database_url: str, timeout: float) -> tuple[float, bool]:
    """Wait until the stream is empty, nothing is pending and the archived count has held
    for 10 s (the workers' spools replayed and archived); (seconds, drained)."""
    started = time.monotonic()
    client = redis.Redis(host=HOST, port=redis_port, decode_responses=True)
    last, since = -1, time.monotonic()
    try:
        while time.monotonic() - started < timeout:
            backlog = int(client.xlen("pitchrec:events"))
            pending = 0
            with contextlib.suppress(redis.ResponseError):
                pending = int(client.xpending("pitchrec:events", "archiver")["pending"])
            count = len(archived(database_url)[0])
            if count != last:
                last, since = count, time.monotonic()
            if backlog == 0 and pending == 0 and time.monotonic() - since >= 10:
                return time.monotonic() - started, True
            time.sleep(1.0)
    finally:
        client.close()
    return time.monotonic() - started, False


def spool_drops(log_path: Path) -> dict[str, int]:
    """Writes and estimated bytes the workers' spools dropped, from their log lines."""
    dropped = dropped_bytes = 0
    with contextlib.suppress(OSError):
        for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines():
            if "tracking spool full" not in line:
                continue
            with contextlib.suppress(ValueError):
                record = json.loads(line)
                dropped += int(record.get("dropped", 0))
                dropped_bytes += int(record.get("dropped_bytes", 0))
    return {"writes": dropped, "estimated_bytes": dropped_bytes}


def account(load: Load, found: set[str]) -> dict[str, Any]:
    def merged(attribute: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = defaultdict(list)
        for tally in load.tallies:
            for phase, ids in getattr(tally, attribute).items():
                out[phase].extend(ids)
        return out

    def counted(attribute: str) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for tally in load.tallies:
            for key, value in getattr(tally, attribute).items():
                out[key] += value
        return dict(out)

    accepted, refused = merged("events_accepted"), merged("events_refused")
    rows = merged("rows_accepted")
    all_accepted = [i for ids in accepted.values() for i in ids]
    all_rows = [i for ids in rows.values() for i in ids]
    return {
        "posts_ok": counted("posts_ok"),
        "posts_failed": counted("posts_failed"),
        "feeds_ok": counted("feeds_ok"),
        "feeds_failed": counted("feeds_failed"),
        "statuses": counted("statuses"),
        "events": {
            "accepted": len(all_accepted),
            "accepted_by_phase": {p: len(v) for p, v in accepted.items()},
            "refused": sum(len(v) for v in refused.values()),
            "refused_by_phase": {p: len(v) for p, v in refused.items()},
            "kept": sum(1 for i in accepted.get("outage", []) if i in found),
            "lost": sum(1 for i in all_accepted if i not in found),
            "lost_by_phase": {p: sum(1 for i in v if i not in found) for p, v in accepted.items()},
            "refused_but_archived": sum(1 for v in refused.values() for i in v if i in found),
        },
        "feed_rows": {
            "accepted": len(all_rows),
            "accepted_by_phase": {p: len(v) for p, v in rows.items()},
            "kept": sum(1 for i in rows.get("outage", []) if i in found),
            "lost": sum(1 for i in all_rows if i not in found),
            "lost_by_phase": {p: sum(1 for i in v if i not in found) for p, v in rows.items()},
        },
    }


def run(args: argparse.Namespace, directory: Path) -> dict[str, Any]:  # noqa: PLR0915
    started = Started(directory)
    admin = mariadb_admin(args.mariadb)
    database = f"pitchrec_bench_outage_{uuid.uuid4().hex[:10]}"
    proxy: Proxy | None = None
    monitor: RssMonitor | None = None
    try:
        with admin.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
        database_url = f"mysql+pymysql://root@{args.mariadb[0]}:{args.mariadb[1]}/{database}"
        say(f"seeding {database} at scale {args.scale}")
        seed = [str(PITCHREC), "seed", "--database-url", database_url, "--scale", str(args.scale)]
        subprocess.run([*seed, "--seed", "7"], cwd=directory, check=True, capture_output=True)

        redis_port = free_port()
        start_redis(started, redis_port)
        proxy = Proxy((HOST, redis_port))  # forked before any thread of ours starts
        redis_url = f"redis://{HOST}:{proxy.port}/0"
        port = free_port()
        serve = [str(PITCHREC), "serve", "--database-url", database_url, "--snapshot"]
        serve += [str(directory / "snapshot"), "--redis-url", redis_url, "--host", HOST]
        serve += ["--port", str(port), "--workers", str(args.workers)]
        server = started.spawn("server", serve, child_env(PITCHREC_REFRESH_SECONDS="0"))
        archive = [str(PITCHREC), "archive", "--database-url", database_url, "--redis-url"]
        archive += [redis_url, "--consumer", "bench-archiver"]
        started.spawn("archiver", archive, child_env())
        wait_ready(port, server)
        users = warm_users(directory / "snapshot", 700)
        say(f"server ready on {port} (pid {server.pid}); {len(users)} warm users")
        monitor = RssMonitor(server.pid).start()

        load = Load(port, users, args.clients)
        load.start()
        time.sleep(args.before)
        load.phase = "outage"
        proxy.down()
        outage_started = time.monotonic()
        say(f"Redis down for {args.duration:g} s")
        while time.monotonic() - outage_started < args.duration:
            time.sleep(min(30.0, args.duration - (time.monotonic() - outage_started)))
            peak = monitor.peak_sum / MiB
            say(f"  {time.monotonic() - outage_started:.0f} s into the outage, RSS peak {peak:.0f}")
        proxy.up()
        load.phase = "after"
        say(f"Redis back; load for {args.after:g} s more")
        time.sleep(args.after)
        load.finish()
        say("load stopped; waiting for the archiver to drain")
        drain_s, drained = drain(redis_port, database_url, args.drain_timeout)
        monitor.stop()
        found, repeated = archived(database_url)
        result = account(load, found)
        result["events"]["duplicated_in_activity_log"] = repeated
        rss = {
            f"{role} {pid}": round(value / MiB, 1)
            for pid, (role, value) in sorted(monitor.peak.items())
        }
        server_alive = server.poll() is None
        return {
            "machine": f"{platform.machine()} {os.cpu_count()} cpu, Python "
            f"{platform.python_version()}, {platform.node()}",
            "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "command": " ".join(sys.argv),
            "config": {
                "outage_s": args.duration,
                "before_s": args.before,
                "after_s": args.after,
                "clients": args.clients,
                "workers": args.workers,
                "scale": args.scale,
            },
            "rss_peak_mib": rss,
            "rss_peak_sum_mib": round(monitor.peak_sum / MiB, 1),
            "pss_peak_sum_mib": round(monitor.peak_pss_sum / MiB, 1),
            "rss_pss_sum_timeline_mib": [
                (t, round(rss / MiB, 1), round(pss / MiB, 1)) for t, rss, pss in monitor.timeline
            ],
            "rss_samples": monitor.samples,
            "spool_dropped": spool_drops(directory / "server.log"),
            "drain_s": round(drain_s, 1),
            "drained": drained,
            "server_alive_at_end": server_alive,
            **result,
        }
    finally:
        if monitor is not None:
            monitor.stop()
        started.close()
        if proxy is not None:
            proxy.close()
        if not args.keep_database:
            with admin.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{database}`")
        admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=600.0, help="outage seconds")
    parser.add_argument("--before", type=float, default=20.0, help="load seconds before it")
    parser.add_argument("--after", type=float, default=30.0, help="load seconds after it")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--scale", type=float, default=1.0, help="seeded world's scale")
    parser.add_argument("--drain-timeout", type=float, default=600.0)
    parser.add_argument("--mariadb", default="127.0.0.1:3306", help="host:port, root user")
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument("--keep-logs", type=Path, default=None, help="copy logs here")
    args = parser.parse_args()
    host, _, port = args.mariadb.partition(":")
    args.mariadb = (host, int(port or 3306))
    with tempfile.TemporaryDirectory(prefix="redis-outage-") as tmp:
        try:
            result = run(args, Path(tmp))
        finally:
            if args.keep_logs is not None:
                args.keep_logs.mkdir(parents=True, exist_ok=True)
                for log in Path(tmp).glob("*.log"):
                    (args.keep_logs / log.name).write_bytes(log.read_bytes())
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
