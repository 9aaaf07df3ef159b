"""The real server process: ``pitchrec serve`` with two uvicorn workers on a seeded SQLite
world, driven over loopback HTTP.

One server serves the whole module (started once, stopped with SIGTERM by the last test);
a second one, started on the snapshot directory the first one built, measures the
start-to-ready time. Every process started here runs in a session of its own and is
killed, with its workers, at teardown whatever happens.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from legacy_schema import CHALLENGE_KEYS, RESUME_KEYS

pytestmark = pytest.mark.e2e

ADMIN_TOKEN = "e2e-admin-token"
HOST = "127.0.0.1"
READY_TIMEOUT_SECONDS = 30.0
STOP_TIMEOUT_SECONDS = 20.0
# `pitchrec.cli` has no `if __name__ == "__main__"` guard, so `python -m pitchrec.cli`
# would do nothing: run the console script installed next to this interpreter.
PITCHREC = Path(sys.executable).parent / "pitchrec"

IDS_KEYS = {"total": "mix_ids", "discover": "resume_ids", "flow": "challenge_ids"}


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    stdout_path: Path
    stderr_path: Path
    started_at: float
    ready_seconds: float = float("nan")

    def client(self, timeout: float = 10.0) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=timeout)

    def log_records(self) -> list[dict[str, Any]]:
        """The complete JSON lines written to stdout so far (a line still being written
        is left for later)."""
        text = self.stdout_path.read_text(encoding="utf-8")
        complete = text.split("\n")[:-1]
        return [json.loads(line) for line in complete if line.strip()]

    def diagnostics(self) -> str:
        out = self.stdout_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        err = self.stderr_path.read_text(encoding="utf-8", errors="replace")[-3000:]
        return f"exit code {self.process.poll()}\n--- stdout\n{out}\n--- stderr\n{err}"

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL for the whole process group when it does not exit."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(STOP_TIMEOUT_SECONDS)
        # The workers share the parent's process group (start_new_session below): make
        # sure none outlives the test, even when the parent died first.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.wait(5)
        return self.process.returncode


def start_server(database_url: str, snapshot: Path, directory: Path, name: str) -> Server:
    port = _free_port()
    stdout_path = directory / f"{name}.stdout.jsonl"
    stderr_path = directory / f"{name}.stderr.txt"
    env = {**os.environ, "PITCHREC_ADMIN_TOKEN": ADMIN_TOKEN}
    for variable in ("PITCHREC_REDIS_URL", "PITCHREC_API_PATH", "API_PATH"):
        env.pop(variable, None)
    command = [
        str(PITCHREC),
        "serve",
        "--database-url",
        database_url,
        "--snapshot",
        str(snapshot),
        "--host",
        HOST,
        "--port",
        str(port),
        "--workers",
        "2",
    ]
    with stdout_path.open("ab") as stdout, stderr_path.open("ab") as stderr:
        started_at = time.perf_counter()
        process = subprocess.Popen(
            command,
            cwd=directory,  # anything relative (var/) lands in the test's directory
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    return Server(process, f"http://{HOST}:{port}", stdout_path, stderr_path, started_at)


def wait_ready(server: Server) -> None:
    deadline = server.started_at + READY_TIMEOUT_SECONDS
    with server.client(timeout=2.0) as client:
        while True:
            if server.process.poll() is not None:
                pytest.fail(f"the server exited before it was ready\n{server.diagnostics()}")
            try:
                if client.get("/readyz").status_code == 200:
                    server.ready_seconds = time.perf_counter() - server.started_at
                    return
            except httpx.TransportError:
                pass  # not listening yet
            if time.perf_counter() > deadline:
                waited = f"/readyz not 200 within {READY_TIMEOUT_SECONDS} s"
                pytest.fail(f"{waited}\n{server.diagnostics()}")
            time.sleep(0.05)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("served")


@pytest.fixture(scope="module")
def database_url(workdir: Path) -> str:
    """A tiny seeded world, once per module."""
    url = f"sqlite:///{workdir / 'w.db'}"
    seeded = subprocess.run(
        [str(PITCHREC), "seed", "--database-url", url, "--scale", "0.01", "--seed", "3"],
        cwd=workdir,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert seeded.returncode == 0, seeded.stderr.decode(errors="replace")
    return url


@pytest.fixture(scope="module")
def server(database_url: str, workdir: Path) -> Iterator[Server]:
    served = start_server(database_url, workdir / "snap", workdir, "first")
    try:
        wait_ready(served)
        yield served
    finally:
        served.stop()


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with server.client() as http:
        yield http


def post_feed(client: httpx.Client, kind: str, body: object) -> dict[str, Any]:
    response = client.post(f"/api/search/{kind}", json=body)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers.get("x-request-id")
    payload: dict[str, Any] = response.json()
    return payload


def check_envelope(kind: str, payload: dict[str, Any]) -> list[dict[str, Any]]:
    assert payload["statusCode"] == 200
    body = payload["body"]
    assert list(body) == [IDS_KEYS[kind], "items"]
    items: list[dict[str, Any]] = body["items"]
    assert body[IDS_KEYS[kind]] == [str(item["id"]) for item in items]
    assert len(items) <= 24
    for item in items:
        assert list(item) == (RESUME_KEYS if item["type"] == "resume" else CHALLENGE_KEYS)
    return items


# -- tests (in this order: the last one stops the shared server) ----------------------------


def _catalogue_counts(database_url: str) -> tuple[int, int]:
    """Resumes and challenges in the seeded database (the source the snapshot is built from)."""
    import sqlite3

    with contextlib.closing(sqlite3.connect(database_url.removeprefix("sqlite:///"))) as db:
        resumes = db.execute("SELECT COUNT(*) FROM resumes").fetchone()[0]
        challenges = db.execute("SELECT COUNT(*) FROM challenges").fetchone()[0]
    return int(resumes), int(challenges)


def test_start_to_ready_first(
    server: Server, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ready means served: the readiness body counts the seeded catalogue, and every request
    right after the first 200, whichever of the two workers takes it, gets a feed (it was
    only checked that the process lived; a sibling worker still loading answered 503)."""
    with capsys.disabled():
        print(f"\n[e2e] first start (builds the snapshot): ready in {server.ready_seconds:.2f} s")
    assert server.process.poll() is None, server.diagnostics()
    resumes, challenges = _catalogue_counts(database_url)
    with server.client() as http:
        statuses = [http.get("/v1/feed/total", params={"size": 5}).status_code for _ in range(40)]
        ready = http.get("/readyz")
    assert statuses == [200] * 40, statuses
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert body["status"] == "ready" and body["redis"] == "not configured"
    assert 0 < body["resumes"] <= resumes and 0 < body["challenges"] <= challenges
    assert 0 < server.ready_seconds < READY_TIMEOUT_SECONDS


@pytest.mark.parametrize("kind", ["total", "discover", "flow"])
def test_legacy_feed_envelopes(client: httpx.Client, kind: str) -> None:
    items = check_envelope(kind, post_feed(client, kind, {}))
    assert items, "the seeded world has eligible items"
    types = {item["type"] for item in items}
    expected = {"total": {"resume", "challenge"}, "discover": {"resume"}, "flow": {"challenge"}}
    assert types <= expected[kind]


def test_total_places_challenges_every_sixth(client: httpx.Client) -> None:
    available = client.get("/readyz").json()["challenges"]
    for user in (None, 1, 5):
        body = {} if user is None else {"SELF_ID": user}
        items = check_envelope("total", post_feed(client, "total", body))
        if len(items) == 24 and available >= 4:
            for position in (6, 12, 18, 24):
                assert items[position - 1]["type"] == "challenge", (position, items)
        # else: the tiny world cannot fill every slot, so the pattern shifts; the 17
        # challenge keys were checked by check_envelope.


@pytest.mark.parametrize(
    ("kind", "alias"), [("total", "LAST_IDS"), ("total", "excluded_ids"), ("discover", "LAST_IDS")]
)
def test_exclusions_do_not_reappear(client: httpx.Client, kind: str, alias: str) -> None:
    first = check_envelope(kind, post_feed(client, kind, {}))
    shown = [item["id"] for item in first]
    second = check_envelope(kind, post_feed(client, kind, {alias: shown}))
    assert not {item["id"] for item in second} & set(shown)
    # The comma-separated string form too.
    third = check_envelope(kind, post_feed(client, kind, {alias: ",".join(map(str, shown))}))
    assert not {item["id"] for item in third} & set(shown)


def test_request_ids(server: Server, client: httpx.Client) -> None:
    generated = client.get("/healthz").headers["x-request-id"]
    assert len(generated) == 32 and int(generated, 16) >= 0
    assert client.get("/healthz").headers["x-request-id"] != generated

    mine = f"e2e-{time.time_ns()}.A_b"
    response = client.post("/api/search/total", json={}, headers={"X-Request-ID": mine})
    assert response.status_code == 200
    assert response.headers["x-request-id"] == mine

    unsafe = client.get("/healthz", headers={"X-Request-ID": "no spaces/allowed"})
    assert unsafe.headers["x-request-id"] != "no spaces/allowed"

    # Every access record is a JSON line carrying the request id; find ours.
    deadline = time.monotonic() + 5
    while True:
        records = server.log_records()
        ours = [r for r in records if r.get("request_id") == mine]
        if any(r.get("logger") == "pitchrec.access" for r in ours) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    access = [r for r in ours if r.get("logger") == "pitchrec.access"]
    assert access, server.diagnostics()
    assert access[0]["route"] == "/api/search/total"
    assert access[0]["status"] == 200
    assert access[0]["method"] == "POST"


def test_stdout_is_json_lines(server: Server, client: httpx.Client) -> None:
    mine = f"e2e-lines-{time.time_ns()}"
    client.get("/healthz", headers={"X-Request-ID": mine})
    deadline = time.monotonic() + 5  # the access line of that request is written
    while not any(r.get("request_id") == mine for r in server.log_records()):
        assert time.monotonic() < deadline, server.diagnostics()
        time.sleep(0.05)
    text = server.stdout_path.read_text(encoding="utf-8")
    lines = [line for line in text.split("\n")[:-1] if line.strip()]
    records = [json.loads(line) for line in lines]  # each line is one JSON object
    assert all(isinstance(r, dict) and "request_id" in r for r in records)
    requests = [r for r in records if r.get("logger") == "pitchrec.access"]
    assert requests
    for record in requests:
        assert record["msg"] == "request"
        assert record["request_id"] not in ("", "-")
        assert {"method", "route", "status", "ms"} <= set(record)


def test_reload_requires_the_token(client: httpx.Client) -> None:
    anonymous = client.post("/api/search/reload")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"].startswith("application/json")
    wrong = client.post("/api/search/reload", headers={"Authorization": "Bearer not-it"})
    assert wrong.status_code == 401
    granted = client.post("/api/search/reload", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert granted.status_code == 200, granted.text
    assert granted.json() == {"statusCode": 200, "message": "Data reloaded successfully"}


def test_healthz_answers_during_a_reload(server: Server) -> None:
    reload_statuses: list[int] = []
    failures: list[BaseException] = []

    def reload_a_few_times() -> None:
        try:
            with server.client(timeout=20.0) as admin:
                for _ in range(3):
                    response = admin.post(
                        "/api/search/reload", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
                    )
                    reload_statuses.append(response.status_code)
        except BaseException as exc:  # reported by the main thread
            failures.append(exc)

    thread = threading.Thread(target=reload_a_few_times, daemon=True)
    during: list[int] = []
    with server.client(timeout=2.0) as probe:
        thread.start()
        while thread.is_alive():
            during.append(probe.get("/healthz").status_code)
        thread.join()
    assert not failures, failures
    assert reload_statuses == [200, 200, 200]
    assert during, "no /healthz probe overlapped the reloads"
    assert set(during) == {200}


def test_invalid_json_is_a_400_naming_the_body(client: httpx.Client) -> None:
    response = client.post(
        "/api/search/total", content=b'{"SELF_ID": 1,', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.headers.get("x-request-id")
    payload = response.json()
    assert payload["detail"][0]["field"] == "body"
    assert payload["error"] == "invalid_json"


def test_body_over_one_megabyte_is_a_413(client: httpx.Client) -> None:
    big = b'{"LAST_IDS": "' + b"1," * 600_000 + b'"}'
    declared = client.post(
        "/api/search/total", content=big, headers={"content-type": "application/json"}
    )
    assert declared.status_code == 413
    assert declared.json()["detail"][0]["field"] == "body"

    def chunks() -> Iterator[bytes]:  # no content-length: counted while read
        yield b'{"LAST_IDS": "'
        for _ in range(12):
            yield b"1," * 50_000
        yield b'"}'

    streamed = client.post("/api/search/total", content=chunks())
    assert streamed.status_code == 413
    assert streamed.headers.get("x-request-id")


def test_metrics(client: httpx.Client) -> None:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert "pitchrec_http_request_duration_seconds" in response.text


def test_second_start_on_existing_snapshot(
    database_url: str, workdir: Path, server: Server, capsys: pytest.CaptureFixture[str]
) -> None:
    snapshot = workdir / "snap"
    assert (snapshot).is_dir(), "the first server built the snapshot directory"
    second = start_server(database_url, snapshot, workdir, "second")
    try:
        wait_ready(second)
        with capsys.disabled():
            print(f"\n[e2e] second start (snapshot exists): ready in {second.ready_seconds:.2f} s")
        with second.client() as http:
            check_envelope("total", post_feed(http, "total", {}))
    finally:
        code = second.stop()
    assert code == 0, second.diagnostics()


def test_sigterm_stops_cleanly(server: Server) -> None:
    server.process.send_signal(signal.SIGTERM)
    try:
        code = server.process.wait(STOP_TIMEOUT_SECONDS)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running {STOP_TIMEOUT_SECONDS} s after SIGTERM")
    assert code == 0, server.diagnostics()
