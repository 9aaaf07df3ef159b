"""Processes for multi-replica end-to-end tests: a private redis-server, ``pitchrec serve``
replicas and a ``pitchrec archive`` process, each in a session of its own so that a kill
takes the whole process group, and every one of them stopped by :meth:`Processes.close`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import redis

# `pitchrec.cli` has no `if __name__ == "__main__"` guard: run the installed console script.
PITCHREC = Path(sys.executable).parent / "pitchrec"
HOST = "127.0.0.1"
READY_TIMEOUT_SECONDS = 30.0
#: Variables of the developer's environment that would change what a child process does.
_INHERITED = (
    "PITCHREC_REDIS_URL",
    "PITCHREC_DATABASE_URL",
    "PITCHREC_SNAPSHOT_DIR",
    "PITCHREC_API_PATH",
    "API_PATH",
    "PITCHREC_BUILD_FROM_DATABASE",
    "PITCHREC_EXPERIMENT",
)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def child_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in _INHERITED}
    env.update(extra)
    return env


def _tail(path: Path, size: int = 3000) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")[-size:]
    except OSError:
        return "(no log)"


@dataclass
class Proc:
    """One started process (the leader of its own process group) and its logs."""

    name: str
    command: list[str]
    process: subprocess.Popen[bytes]
    stdout_path: Path
    stderr_path: Path
    started_at: float

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill_group(self, sig: signal.Signals = signal.SIGKILL) -> None:
        """Signal the whole group (the process and any children it forked)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, sig)

    def stop(self, grace: float = 10.0) -> int | None:
        """SIGTERM to the group, then SIGKILL to the group; always reaps the leader."""
        if self.alive():
            self.kill_group(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(grace)
        self.kill_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        return self.process.returncode

    def diagnostics(self) -> str:
        return (
            f"{self.name}: exit code {self.process.poll()}\n--- stdout\n"
            f"{_tail(self.stdout_path)}\n--- stderr\n{_tail(self.stderr_path)}"
        )


@dataclass
class Processes:
    """Everything a test started; :meth:`close` stops all of it, whatever happened."""

    directory: Path
    started: list[Proc] = field(default_factory=list)

    def spawn(self, name: str, command: list[str], env: dict[str, str]) -> Proc:
        stdout_path = self.directory / f"{name}.stdout.log"
        stderr_path = self.directory / f"{name}.stderr.log"
        with stdout_path.open("ab") as stdout, stderr_path.open("ab") as stderr:
            process = subprocess.Popen(
                command,
                cwd=self.directory,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                start_new_session=True,
            )
        proc = Proc(name, command, process, stdout_path, stderr_path, time.monotonic())
        self.started.append(proc)
        return proc

    def close(self) -> None:
        for proc in reversed(self.started):
            proc.stop(grace=5.0)


def start_redis(processes: Processes, port: int) -> Proc:
    """A throw-away redis-server (no persistence) on ``port``, answering PING."""
    directory = processes.directory / f"redis-{port}"
    directory.mkdir(exist_ok=True)
    command = [
        "redis-server",
        "--port",
        str(port),
        "--bind",
        HOST,
        "--dir",
        str(directory),
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    proc = processes.spawn(f"redis-{port}", command, child_env())
    deadline = time.monotonic() + 10
    while True:
        try:
            with redis.Redis(host=HOST, port=port) as client:
                client.ping()
            return proc
        except redis.ConnectionError:
            if not proc.alive() or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start\n{proc.diagnostics()}") from None
            time.sleep(0.05)


@dataclass
class Replica:
    """A ``pitchrec serve`` replica; :meth:`start` (re)starts it on the same port."""

    index: int
    port: int
    database_url: str
    redis_url: str
    snapshot: Path
    processes: Processes
    proc: Proc | None = None
    incarnation: int = 0
    #: More environment for the process (settings such as PITCHREC_EXPERIMENT).
    env: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self) -> Proc:
        self.incarnation += 1
        command = [
            str(PITCHREC),
            "serve",
            "--database-url",
            self.database_url,
            "--snapshot",
            str(self.snapshot),
            "--redis-url",
            self.redis_url,
            "--host",
            HOST,
            "--port",
            str(self.port),
            "--workers",
            "1",
        ]
        env = child_env(PITCHREC_REFRESH_SECONDS="0", **self.env)
        name = f"replica{self.index}-{self.incarnation}"
        self.proc = self.processes.spawn(name, command, env)
        return self.proc

    def wait_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> float:
        """Poll ``/readyz`` until 200; the monotonic time it answered 200."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        with httpx.Client(base_url=self.base_url, timeout=2.0) as client:
            while True:
                if not self.proc.alive():
                    raise RuntimeError(f"replica exited before ready\n{self.proc.diagnostics()}")
                try:
                    if client.get("/readyz").status_code == 200:
                        return time.monotonic()
                except httpx.TransportError:
                    pass  # not listening yet
                if time.monotonic() > deadline:
                    raise RuntimeError(f"/readyz not 200 in {timeout} s\n{self.proc.diagnostics()}")
                time.sleep(0.05)

    def sigkill(self) -> None:
        """SIGKILL the whole process group (uvicorn and anything it forked), and reap."""
        assert self.proc is not None
        self.proc.kill_group(signal.SIGKILL)
        self.proc.process.wait(10)


def start_archiver(
    processes: Processes, database_url: str, redis_url: str, consumer: str, batch_size: int
) -> Proc:
    command = [
        str(PITCHREC),
        "archive",
        "--database-url",
        database_url,
        "--redis-url",
        redis_url,
        "--consumer",
        consumer,
        "--batch-size",
        str(batch_size),
    ]
    return processes.spawn(f"archiver-{consumer}", command, child_env())
