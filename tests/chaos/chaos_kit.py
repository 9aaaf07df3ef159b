"""What the chaos scenarios share: the processes (a private redis-server, TCP proxies,
``pitchrec serve``, ``pitchrec archive``), an HTTP load that records every request, the
exact accounting of what was accepted against ``activity_log``, and a VmRSS monitor of
the server's processes.

Every process is started in a session of its own and stopped, with its process group, by
:meth:`Chaos.close`, whatever happened; the machine's own Redis and MariaDB are never
stopped (outages are proxies going down).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import random
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import sqlalchemy as sa

from pitchrec.archive.archiver import ARCHIVE_GROUP
from pitchrec.legacy.events import stable_event_id
from pitchrec.tracking.store import STREAM_KEY

PITCHREC = Path(sys.executable).parent / "pitchrec"
PROXY_SCRIPT = Path(__file__).with_name("chaos_proxy.py")
HOST = "127.0.0.1"
ADMIN_TOKEN = "chaos-admin-token"
MiB = 1 << 20
#: The pod's memory limit (deploy/k8s/base/deployment.yaml): the server's processes
#: together must stay under it.
POD_LIMIT_BYTES = 512 * MiB
#: Variables of the developer's environment that would change what a child process does.
_INHERITED = (
    "PITCHREC_REDIS_URL",
    "PITCHREC_DATABASE_URL",
    "PITCHREC_SNAPSHOT_DIR",
    "PITCHREC_API_PATH",
    "API_PATH",
    "PITCHREC_BUILD_FROM_DATABASE",
    "PITCHREC_ADMIN_TOKEN",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _INHERITED}
    env.update(OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    env.update(extra)
    return env


def wait_for(condition: Callable[[], bool], timeout: float, what: str, every: float = 0.1) -> float:
    """Poll ``condition`` until true; the seconds it took. AssertionError on timeout."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)
    return time.monotonic() - started


def _tail(path: Path, size: int = 4000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-size:]
    except OSError:
        return "(no log)"


# -- processes ---------------------------------------------------------------------------


@dataclass
class Proc:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def signal_group(self, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    def stop(self, grace: float = 20.0) -> int | None:
        """SIGTERM to the group, then SIGKILL to the group; always reaps the leader."""
        if self.alive():
            self.signal_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(grace)
        self.signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        return self.process.returncode

    def log(self) -> str:
        return f"--- {self.name} (exit {self.process.poll()})\n{_tail(self.log_path)}"


class ProxyProc:
    """A :mod:`chaos_proxy` process in front of ``upstream``."""

    def __init__(self, proc: Proc, port: int, control: int) -> None:
        self.proc = proc
        self.port = port
        self.control_port = control

    def command(self, text: str) -> dict[str, Any]:
        with socket.create_connection((HOST, self.control_port), timeout=5) as conn:
            conn.sendall(text.encode() + b"\n")
            data = b""
            while chunk := conn.recv(4096):
                data += chunk
        state: dict[str, Any] = json.loads(data)
        return state

    def up(self) -> None:
        self.command("up")

    def down(self) -> None:
        self.command("down")

    def delay(self, seconds: float) -> None:
        self.command(f"delay {seconds}")

    def stats(self) -> dict[str, Any]:
        return self.command("stats")


def group_rss(leader: int) -> dict[int, tuple[str, int]]:
    """pid -> (role, VmRSS bytes) of every live process of ``leader``'s process group:
    the uvicorn parent, its workers and multiprocessing's resource tracker."""
    found: dict[int, tuple[str, int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[2]) != leader:
                continue
            status = Path(f"/proc/{entry}/status").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            continue
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
        if match is None:  # a zombie
            continue
        pid = int(entry)
        role = "parent" if pid == leader else "worker"
        if b"resource_tracker" in cmdline:
            role = "resource_tracker"
        found[pid] = (role, int(match.group(1)) * 1024)
    return found


class RssMonitor:
    """Samples :func:`group_rss` of a server every ``every`` seconds: the peak of each
    process and of their sum."""

    def __init__(self, leader: int, every: float = 0.5) -> None:
        self.leader = leader
        self.every = every
        self.peak: dict[int, tuple[str, int]] = {}
        self.peak_sum = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            sample = group_rss(self.leader)
            for pid, (role, rss) in sample.items():
                if rss > self.peak.get(pid, (role, 0))[1]:
                    self.peak[pid] = (role, rss)
            self.peak_sum = max(self.peak_sum, sum(rss for _, rss in sample.values()))
            self.samples += 1
            self._stop.wait(self.every)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def workers(self) -> list[int]:
        """The live worker pids now."""
        return sorted(pid for pid, (role, _) in group_rss(self.leader).items() if role == "worker")

    def busiest_worker(self, seconds: float = 1.0) -> int:
        """The worker that used the most CPU over the next ``seconds``."""

        def cpu() -> dict[int, int]:
            ticks = {}
            for pid in self.workers():
                with contextlib.suppress(OSError):
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    ticks[pid] = int(fields[11]) + int(fields[12])  # utime + stime
            return ticks

        before = cpu()
        time.sleep(seconds)
        after = cpu()
        return max(after, key=lambda pid: after[pid] - before.get(pid, 0))

    def summary(self) -> str:
        peaks = ", ".join(
            f"{role} {pid} {rss / MiB:.0f}" for pid, (role, rss) in sorted(self.peak.items())
        )
        return f"RSS peak sum {self.peak_sum / MiB:.0f} MiB ({peaks}; {self.samples} samples)"


@dataclass
class Server:
    proc: Proc
    port: int
    database_url: str
    redis_url: str
    monitor: RssMonitor

    def get(self, path: str, timeout: float = 10.0) -> tuple[int, bytes]:
        return http_call(self.port, "GET", path, timeout=timeout)

    def post(
        self, path: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes]:
        return http_call(self.port, "POST", path, body, headers=headers, timeout=60.0)

    def spool_drops(self) -> int:
        """Log lines of a worker's tracking spool dropping writes (it was full)."""
        text = self.proc.log_path.read_text(encoding="utf-8", errors="replace")
        return text.count("tracking spool full")

    def wait_ready(self, timeout: float = 60.0) -> float:
        def ready() -> bool:
            if not self.proc.alive():
                raise AssertionError(f"the server exited\n{self.proc.log()}")
            try:
                return self.get("/readyz", timeout=2.0)[0] == 200
            except OSError:
                return False

        try:
            return wait_for(ready, timeout, "/readyz 200", every=0.1)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.proc.log()}") from None


def http_call(
    port: int,
    method: str,
    path: str,
    body: Any = None,
    *,
    headers: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
    try:
        payload = None if body is None else json.dumps(body).encode()
        sent = dict(headers or {})
        if payload is not None:
            sent["Content-Type"] = "application/json"
        conn.request(method, path, body=payload, headers=sent)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


class Chaos:
    """Starts the processes of one scenario in ``directory``; :meth:`close` stops them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.procs: list[Proc] = []
        self.monitors: list[RssMonitor] = []

    def spawn(self, name: str, command: list[str], env: dict[str, str]) -> Proc:
        log_path = self.directory / f"{name}.log"
        with log_path.open("ab") as out:
            process = subprocess.Popen(
                command,
                cwd=self.directory,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        proc = Proc(name, process, log_path)
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for monitor in self.monitors:
            monitor.stop()
        for proc in reversed(self.procs):
            proc.stop(grace=10.0)

    def logs(self) -> str:
        return "\n".join(proc.log() for proc in self.procs if not proc.name.startswith("proxy"))

    # -- the pieces ----------------------------------------------------------------------

    def seed(self, database_url: str, scale: float = 0.02) -> None:
        command = [str(PITCHREC), "seed", "--database-url", database_url, "--scale", str(scale)]
        result = subprocess.run(
            [*command, "--seed", "9"],
            cwd=self.directory,
            env=child_env(),
            capture_output=True,
            timeout=180,
            check=False,
        )
        assert result.returncode == 0, result.stderr.decode(errors="replace")[-3000:]

    def redis(self) -> int:
        """A private redis-server without persistence; its port."""
        port = free_port()
        directory = self.directory / f"redis-{port}"
        directory.mkdir()
        command = ["redis-server", "--port", str(port), "--bind", HOST, "--dir", str(directory)]
        command += ["--save", "", "--appendonly", "no"]
        proc = self.spawn(f"redis-{port}", command, child_env())

        def answers() -> bool:
            assert proc.alive(), proc.log()
            try:
                with redis.Redis(host=HOST, port=port) as client:
                    return bool(client.ping())
            except redis.ConnectionError:
                return False

        wait_for(answers, 10, "redis-server", every=0.05)
        return port

    def proxy(self, upstream: tuple[str, int], *, down: bool = False) -> ProxyProc:
        command = [sys.executable, str(PROXY_SCRIPT), "--upstream", f"{upstream[0]}:{upstream[1]}"]
        if down:
            command.append("--down")
        name = f"proxy-{upstream[1]}-{len(self.procs)}"
        proc = self.spawn(name, command, child_env())
        deadline = time.monotonic() + 10
        while True:
            text = proc.log_path.read_text()
            if text.endswith("\n"):
                ports = json.loads(text.splitlines()[0])
                return ProxyProc(proc, ports["port"], ports["control"])
            assert proc.alive() and time.monotonic() < deadline, proc.log()
            time.sleep(0.02)

    def server(
        self,
        database_url: str,
        redis_url: str,
        *,
        workers: int = 2,
        name: str = "server",
        env: dict[str, str] | None = None,
    ) -> Server:
        port = free_port()
        command = [str(PITCHREC), "serve", "--database-url", database_url, "--snapshot"]
        command += [str(self.directory / f"snapshot-{name}"), "--redis-url", redis_url]
        command += ["--host", HOST, "--port", str(port), "--workers", str(workers)]
        variables = {"PITCHREC_REFRESH_SECONDS": "0", "PITCHREC_ADMIN_TOKEN": ADMIN_TOKEN}
        variables.update(env or {})
        proc = self.spawn(name, command, child_env(**variables))
        server = Server(proc, port, database_url, redis_url, RssMonitor(proc.pid))
        self.monitors.append(server.monitor)
        return server

    def archiver(
        self,
        database_url: str,
        redis_url: str,
        consumer: str = "chaos-archiver",
        *,
        batch_size: int = 200,
        claim_idle_ms: int = 30_000,
    ) -> Proc:
        command = [str(PITCHREC), "archive", "--database-url", database_url]
        command += ["--redis-url", redis_url, "--consumer", consumer]
        command += ["--batch-size", str(batch_size), "--block-ms", "200"]
        command += ["--claim-idle-ms", str(claim_idle_ms)]
        count = sum(1 for p in self.procs if p.name.startswith(f"archiver-{consumer}"))
        return self.spawn(f"archiver-{consumer}-{count}", command, child_env())


def archiver_metrics(proc: Proc) -> dict[str, int]:
    """The counters of the archiver's last "stopped" log line (after a SIGTERM)."""
    for line in reversed(proc.log_path.read_text(encoding="utf-8").splitlines()):
        if line.startswith("{") and "stopped" in line:
            record = json.loads(line)
            return {k: v for k, v in record.items() if isinstance(v, int)}
    raise AssertionError(f"no final metrics\n{proc.log()}")


# -- the load ----------------------------------------------------------------------------


@dataclass
class Attempt:
    """One HTTP request of the load."""

    op: str  # feed | legacy | events
    sent_at: float
    done_at: float = 0.0
    status: int | None = None  # None: a transport error
    ids: list[str] = field(default_factory=list)  # activity_log.event_id it tracks

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class Load:
    """``clients`` closed-loop threads. Each asks for a v1 feed (a warm user, a session
    per five feeds), posts 1-3 feedback events about it, and every third turn asks for a
    legacy feed; every request is recorded with the event ids it tracks (for feeds, the
    server-made request id's rows; for events, ``v1:{user}:{event_id}``)."""

    def __init__(
        self,
        port: int,
        clients: int = 6,
        users: int = 200,
        pause: float = 0.0,
        reconnect_every: int = 20,
    ) -> None:
        self.port = port
        #: Turns on one keep-alive connection: then a new one, so that the connections
        #: spread over the workers (each accepted by whichever worker is free).
        self.reconnect_every = reconnect_every
        self.users = users
        self.pause = pause
        self.tag = uuid.uuid4().hex[:6]
        self.lock = threading.Lock()
        self.attempts: list[Attempt] = []
        self.crashes: list[BaseException] = []
        self.stop = threading.Event()
        self.threads = [
            threading.Thread(target=self._client, args=(k,), daemon=True) for k in range(clients)
        ]

    def start(self) -> Load:
        self.started_at = time.monotonic()
        for thread in self.threads:
            thread.start()
        return self

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(90)
        assert not any(t.is_alive() for t in self.threads), "a load thread hangs"
        assert not self.crashes, self.crashes

    # -- one client ----------------------------------------------------------------------

    def _client(self, k: int) -> None:
        rng = random.Random(f"{self.tag}-{k}")
        conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
        n = 0
        try:
            while not self.stop.is_set():
                n += 1
                user = rng.randint(1, self.users)
                if n % 3 == 0:
                    conn = self._legacy(conn, user)
                feed, conn = self._feed(conn, user, f"{self.tag}-{k}-{n // 5}")
                if feed is not None and feed["items"]:
                    conn = self._events(conn, rng, feed, f"{self.tag}-{k}-{n}")
                if self.pause:
                    time.sleep(self.pause)
                if n % self.reconnect_every == 0:
                    conn.close()
                    conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
        except BaseException as exc:  # reported by finish()
            self.crashes.append(exc)
        finally:
            conn.close()

    def _send(
        self,
        conn: http.client.HTTPConnection,
        attempt: Attempt,
        method: str,
        path: str,
        body: Any = None,
    ) -> tuple[http.client.HTTPConnection, bytes, dict[str, str]]:
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        data, answer = b"", {}
        try:
            conn.request(method, path, body=payload, headers=headers)
            response = conn.getresponse()
            data = response.read()
            attempt.status = response.status
            answer = {k.lower(): v for k, v in response.getheaders()}
        except (OSError, http.client.HTTPException):
            conn.close()
            conn = http.client.HTTPConnection(HOST, self.port, timeout=30)
        attempt.done_at = time.monotonic()
        with self.lock:
            self.attempts.append(attempt)
        if attempt.status is None:
            time.sleep(0.02)  # a refused connection: do not spin
        return conn, data, answer

    def _feed(
        self, conn: http.client.HTTPConnection, user: int, session: str
    ) -> tuple[dict[str, Any] | None, http.client.HTTPConnection]:
        attempt = Attempt("feed", time.monotonic())
        path = f"/v1/feed/total?user_id={user}&session_id={session}&size=24"
        conn, data, _ = self._send(conn, attempt, "GET", path)
        if attempt.status != 200:
            return None, conn
        feed: dict[str, Any] = json.loads(data)
        positions = (0, *(item["position"] for item in feed["items"]))
        attempt.ids = [stable_event_id(feed["request_id"], p) for p in positions]
        return feed, conn

    def _legacy(self, conn: http.client.HTTPConnection, user: int) -> http.client.HTTPConnection:
        attempt = Attempt("legacy", time.monotonic())
        conn, data, headers = self._send(
            conn, attempt, "POST", "/api/search/total", {"SELF_ID": user}
        )
        if attempt.status == 200:
            items = json.loads(data)["body"]["items"]
            server_id = headers["x-server-request-id"]
            attempt.ids = [stable_event_id(server_id, p) for p in range(len(items) + 1)]
        return conn

    def _events(
        self,
        conn: http.client.HTTPConnection,
        rng: random.Random,
        feed: dict[str, Any],
        prefix: str,
    ) -> http.client.HTTPConnection:
        items = rng.sample(feed["items"], k=min(len(feed["items"]), rng.randint(1, 3)))
        events = []
        for j, item in enumerate(items):
            kind = rng.choice(("view", "like", "skip"))
            events.append(
                {
                    "event_id": f"{prefix}-{j}",
                    "type": kind,
                    "user_id": feed["user_id"],
                    "item_id": item["id"],
                    "item_type": item["type"],
                    "request_id": feed["request_id"],
                    "position": item["position"],
                    "value": round(rng.uniform(0.05, 1.0), 3) if kind == "view" else None,
                }
            )
        attempt = Attempt("events", time.monotonic())
        # Ids known before the answer: a refused call's events may be archived anyway.
        attempt.ids = [stable_event_id("v1", e["user_id"], e["event_id"]) for e in events]
        conn, _, _ = self._send(conn, attempt, "POST", "/v1/events", {"events": events})
        return conn

    # -- what it saw ---------------------------------------------------------------------

    def between(self, start: float, end: float) -> list[Attempt]:
        with self.lock:
            return [a for a in self.attempts if start <= a.sent_at < end]

    def feeds_per_second(self, start: float, end: float) -> list[int]:
        """Feeds answered 200 in each whole second of [start, end)."""
        buckets = [0] * max(1, int(end - start))
        with self.lock:
            for a in self.attempts:
                if a.op in ("feed", "legacy") and a.status == 200 and start <= a.done_at < end:
                    index = int(a.done_at - start)
                    if index < len(buckets):
                        buckets[index] += 1
        return buckets

    def statuses(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        with self.lock:
            for a in self.attempts:
                key = f"{a.op} {a.status if a.status is not None else 'transport error'}"
                counts[key] = counts.get(key, 0) + 1
        return dict(sorted(counts.items()))


# -- the accounting ----------------------------------------------------------------------


@dataclass
class Accounting:
    expected: int  # ids of accepted requests
    events_accepted: int  # of which POSTed feedback events
    archived: int  # ids found in activity_log
    missing: list[str]  # accepted, not archived
    repeated: list[tuple[str, int]]  # archived more than once
    unexplained: list[str]  # archived, neither accepted nor of a failed request
    drain_seconds: float

    def summary(self) -> str:
        return (
            f"{self.expected} rows accepted ({self.events_accepted} POSTed events), "
            f"{self.archived} archived, {len(self.missing)} missing, "
            f"{len(self.repeated)} repeated, {len(self.unexplained)} unexplained; "
            f"drained in {self.drain_seconds:.1f} s"
        )

    def assert_exact(self) -> None:
        assert not self.missing, f"{len(self.missing)} accepted rows lost: {self.missing[:10]}"
        assert not self.repeated, self.repeated[:10]
        assert not self.unexplained, self.unexplained[:10]


def archived_ids(engine: sa.Engine) -> tuple[set[str], list[tuple[str, int]]]:
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
    return ids, repeated


def stream_idle(redis_port: int) -> bool:
    """The event stream is empty and the archiver's group has nothing pending."""
    with redis.Redis(host=HOST, port=redis_port, decode_responses=True) as client:
        if int(client.xlen(STREAM_KEY)):
            return False
        if not client.exists(STREAM_KEY):
            return True
        return int(client.xpending(STREAM_KEY, ARCHIVE_GROUP)["pending"]) == 0


def account(
    load: Load,
    database_url: str,
    redis_port: int,
    timeout: float = 90.0,
    other_requests: frozenset[str] = frozenset(),
) -> Accounting:
    """Wait until every accepted id is archived and the stream is idle (or ``timeout``),
    then compare: each accepted id once, nothing archived that no request explains (a
    failed request may have been tracked: a feed whose answer was lost has server-made ids
    the client never saw, at most one request's rows per failed feed; ``other_requests``:
    server request ids of feeds the test asked for outside the load)."""
    accepted = [a for a in load.attempts if a.ok]
    expected = {i for a in accepted for i in a.ids}
    failed = [a for a in load.attempts if not a.ok]
    failed_ids = {i for a in failed for i in a.ids}
    failed_feeds = sum(1 for a in failed if a.op in ("feed", "legacy"))
    engine = sa.create_engine(database_url, pool_pre_ping=True)
    started = time.monotonic()
    try:
        while True:
            found, repeated = archived_ids(engine)
            done = expected <= found and stream_idle(redis_port)
            if done or time.monotonic() - started > timeout:
                break
            time.sleep(0.5)
        drain = time.monotonic() - started
        time.sleep(1.0)  # anything still on its way (a spool replaying) lands now
        found, repeated = archived_ids(engine)
    finally:
        engine.dispose()
    unexpected = {
        i for i in found - expected - failed_ids if i.rsplit(":", 1)[0] not in other_requests
    }
    requests = {i.rsplit(":", 1)[0] for i in unexpected}
    return Accounting(
        expected=len(expected),
        events_accepted=sum(len(a.ids) for a in accepted if a.op == "events"),
        archived=len(found),
        missing=sorted(expected - found),
        repeated=repeated,
        unexplained=sorted(unexpected) if len(requests) > failed_feeds else [],
        drain_seconds=drain,
    )


def median(values: list[int]) -> float:
    return float(statistics.median(values)) if values else 0.0
