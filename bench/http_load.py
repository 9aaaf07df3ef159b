"""HTTP throughput, latency, start-up time and RSS of the real server (issue: HTTP service).

Starts ``pitchrec serve`` on loopback with N workers over a snapshot directory, measures
the time from process start to ``/readyz`` 200 (snapshot already on disk), then drives
``POST /api/search/total`` with wrk (Debian package ``wrk``) from a fixed, seeded mix of
warm and cold users, and reads each worker's RSS from /proc.

    .venv/bin/python bench/http_load.py --database-url sqlite:///var/pitchrec-demo.db

Everything stays on 127.0.0.1; the load is bounded in time (``--duration``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

LUA = """
local users = {%(users)s}
local i = 0
request = function()
  i = i + 1
  local body = '{"SELF_ID": ' .. users[(i %% #users) + 1] .. '}'
  return wrk.format("POST", "%(path)s", {["Content-Type"] = "application/json"}, body)
end
"""


def wait_ready(port: int, timeout: float) -> float:
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=1) as r:
                if r.status == 200:
                    return time.perf_counter() - started
        except OSError:
            pass
        time.sleep(0.01)
    raise TimeoutError("server not ready")


def children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def memory_mb(pid: int) -> dict[str, float]:
    """RSS and PSS (shared pages divided among their users) of one process, MB."""
    values = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("Rss", "Pss"):
            values[name.lower() + "_mb"] = round(int(rest.split()[0]) / 1024, 1)
    return values


def start(args: argparse.Namespace, snapshot: Path) -> subprocess.Popen[bytes]:
    pitchrec = Path(sys.executable).parent / "pitchrec"
    command = [
        str(pitchrec),
        "serve",
        "--snapshot",
        str(snapshot),
        "--port",
        str(args.port),
        "--workers",
        str(args.workers),
    ]
    if args.redis_url:
        command += ["--redis-url", args.redis_url]
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    env.pop("PITCHREC_DATABASE_URL", None)
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


def run_wrk(args: argparse.Namespace, script: Path) -> dict[str, float]:
    url = f"http://127.0.0.1:{args.port}"
    command = [
        "wrk",
        "-t",
        str(args.threads),
        "-c",
        str(args.connections),
        "-d",
        f"{args.duration}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    text = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    result: dict[str, float] = {}
    match = re.search(r"Requests/sec:\s+([\d.]+)", text)
    result["requests_per_s"] = float(match.group(1)) if match else float("nan")
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", text, re.MULTILINE)
        if m:
            value = float(m.group(1)) * {"us": 1e-3, "ms": 1.0, "s": 1e3}[m.group(2)]
            result[f"p{pct}_ms"] = round(value, 3)
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    result["non_2xx"] = float(errors.group(1)) if errors else 0.0
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--duration", type=int, default=20)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--warm-users", type=int, default=700, help="of 1000 users in the mix")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is not installed (apt-get install wrk)")

    from pitchrec.index import snapshot as snapshot_files
    from pitchrec.index.build import snapshot_from_database

    with tempfile.TemporaryDirectory() as tmp:
        directory = snapshot_files.save(snapshot_from_database(args.database_url), Path(tmp) / "s")
        warm = snapshot_files.load(directory).users.history_users[: args.warm_users].tolist()
        users = [str(u) for u in warm] + ["0"] * (1000 - len(warm))
        script = Path(tmp) / "total.lua"
        script.write_text(LUA % {"users": ", ".join(users), "path": "/api/search/total"})

        process = start(args, directory)
        try:
            ready_s = wait_ready(args.port, 60)
            # Warm-up: a short run, discarded.
            warm_args = argparse.Namespace(**{**vars(args), "duration": 3})
            run_wrk(warm_args, script)
            load = run_wrk(args, script)
            workers = children(process.pid)
            memory = {str(pid): memory_mb(pid) for pid in workers}
        finally:
            stop(process)
    machine = f"{platform.machine()} {os.cpu_count()} cpu, {platform.python_version()}"
    print(
        json.dumps(
            {
                "machine": machine,
                "workers": args.workers,
                "connections": args.connections,
                "duration_s": args.duration,
                "start_to_ready_s": round(ready_s, 3),
                "post_search_total": load,
                "memory_per_worker": memory,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
