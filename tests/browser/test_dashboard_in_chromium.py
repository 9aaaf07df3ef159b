"""The operator dashboard in a real browser: ``pitchrec serve`` on a seeded SQLite world,
real traffic (feeds, then likes of what was served), and Debian's chromium driven by
playwright-core (``drive_dashboard.mjs``) signing in, reading every figure the page shows
and fetching the same JSON endpoints with the page's cookie in the same 5 s bucket.

Every figure must EQUAL its endpoint's value (``data-value`` holds the JSON the page got,
``data-source``/``data-path`` say where from); the charts must hold the endpoint's series;
and the figures must be the traffic this test made (feeds served, events accepted, learned
updates), not merely agree with each other. Traffic stops before the page is read.

The server runs an experiment (``PITCHREC_EXPERIMENT``), so the experiments panel is
compared with the real ``GET /v1/experiments``; the page is then served a 404 for that
endpoint alone (request interception) and must say "no experiments configured". Should the
server not know experiments (a build without them: the endpoint answers 404), the page
must say so, and a payload of the agreed contract is served to it instead.

Needs /usr/bin/chromium, Node.js and web/node_modules (``scripts/ensure-browser.sh``, run
by ``make test``): skips without them, fails under ``PITCHREC_REQUIRE_SERVERS=1`` (CI).
The screenshot lands in the test's directory; ``PITCHREC_UPDATE_DOCS=1`` also copies it to
docs/dashboard.png (the README's).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
DRIVER = Path(__file__).with_name("drive_dashboard.mjs")
CHROMIUM = os.environ.get("PITCHREC_CHROMIUM", "/usr/bin/chromium")
PITCHREC = Path(sys.executable).parent / "pitchrec"
HOST = "127.0.0.1"
ADMIN_TOKEN = "browser-admin-token-0123456789"
DASHBOARD_TOKEN = "browser-dashboard-token-abcdef"
COOKIE = "pitchrec_dashboard"
FEEDS = 90  # 30 rounds of discover, total and legacy total
BUCKET_SECONDS = 5

#: Figures the page must show (by element id); each is compared with its endpoint.
REQUIRED_IDS = {
    "traffic-rps",
    "traffic-feeds-ps",
    "latency-p50",
    "latency-p95",
    "feeds-served",
    "events-accepted",
    "exposure-gini",
    "exposure-new-share",
    "snapshot-age",
    "snapshot-resumes",
    "snapshot-challenges",
    "spool-entries",
    "spool-bytes",
    "stream-backlog",
    "archiver-lag",
    "policies-version",
    "readyz-status",
    "process-pid",
    "as-of",
}
#: Text of a number in each format: (scale, decimals) of the figure as displayed.
NUMERIC_FORMATS = {
    "int": (1, 0),
    "rate": (1, 2),
    "ms": (1, 2),
    "ratio": (1, 3),
    "rate4": (1, 4),
    "signed4": (1, 4),
    "weight": (1, 3),
    "pct": (100, 1),
}

#: Two variants; likes land in both (users 100-129 split about evenly).
EXPERIMENT = {
    "name": "dashboard-test",
    "variants": {
        "control": {"weight": 50},
        "no-blend": {"weight": 50, "ranking": ["@learned_blend=false"]},
    },
}
NOT_CONFIGURED = {"error": "not_found", "detail": [{"field": "experiment", "message": "none"}]}
#: The agreed contract, served to the page only when the server has no /v1/experiments.
FAKE_EXPERIMENTS: dict[str, Any] = {
    "control": "control",
    "variants": [
        {
            "name": "control",
            "weight": 0.5,
            "status": "running",
            "impressions": 1200,
            "likes": 180,
            "like_rate": 0.15,
            "difference": None,
        },
        {
            "name": "fresh-25",
            "weight": 0.5,
            "status": "running",
            "impressions": 1180,
            "likes": 201,
            "like_rate": 0.170339,
            "difference": {"estimate": 0.020339, "low": -0.008712, "high": 0.04939},
        },
    ],
    "series": {
        "control": [
            {
                "t": 1796000000,
                "impressions": 600,
                "likes": 84,
                "rate": 0.14,
                "low": 0.113,
                "high": 0.169,
            },
            {
                "t": 1796000300,
                "impressions": 600,
                "likes": 96,
                "rate": 0.16,
                "low": 0.131,
                "high": 0.19,
            },
        ],
        "fresh-25": [
            {
                "t": 1796000000,
                "impressions": 590,
                "likes": 95,
                "rate": 0.161,
                "low": 0.132,
                "high": 0.193,
            },
            {
                "t": 1796000300,
                "impressions": 590,
                "likes": 106,
                "rate": 0.1797,
                "low": 0.149,
                "high": 0.212,
            },
        ],
    },
}


def _require_browser() -> None:
    missing = []
    if not os.access(CHROMIUM, os.X_OK):
        missing.append(f"{CHROMIUM} (apt-get install chromium)")
    if shutil.which("node") is None:
        missing.append("node (Node.js >= 20)")
    if not (WEB / "node_modules" / "playwright-core").is_dir():
        missing.append("web/node_modules (cd web && npm ci)")
    if not missing:
        return
    message = (
        "browser test needs " + ", ".join(missing) + "; scripts/ensure-browser.sh installs them"
    )
    if os.environ.get("PITCHREC_REQUIRE_SERVERS") == "1":
        pytest.fail(message + " (PITCHREC_REQUIRE_SERVERS=1)")
    pytest.skip(message)


# -- the server ------------------------------------------------------------------------------


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base: str
    stdout: Path
    stderr: Path

    def logs(self) -> str:
        return self.stdout.read_text(errors="replace") + self.stderr.read_text(errors="replace")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        if self.process.poll() is None:
            self.process.wait(5)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    _require_browser()
    workdir = tmp_path_factory.mktemp("dashboard")
    url = f"sqlite:///{workdir / 'w.db'}"
    seeded = subprocess.run(
        [str(PITCHREC), "seed", "--database-url", url, "--scale", "0.01", "--seed", "3"],
        cwd=workdir,
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert seeded.returncode == 0, seeded.stderr.decode(errors="replace")
    env = {
        **os.environ,
        "PITCHREC_ADMIN_TOKEN": ADMIN_TOKEN,
        "PITCHREC_DASHBOARD_TOKEN": DASHBOARD_TOKEN,
        "PITCHREC_EXPERIMENT": json.dumps(EXPERIMENT),
    }
    for variable in ("PITCHREC_REDIS_URL", "PITCHREC_API_PATH", "API_PATH"):
        env.pop(variable, None)
    port = _free_port()
    # One worker: /v1/stats is per process, and the page must be compared with the process
    # that answered it (with --workers N the page shows the pid of the worker it reached).
    command = [str(PITCHREC), "serve", "--database-url", url, "--snapshot", str(workdir / "snap")]
    command += ["--host", HOST, "--port", str(port), "--workers", "1"]
    stdout, stderr = workdir / "server.stdout.jsonl", workdir / "server.stderr.txt"
    with stdout.open("ab") as out, stderr.open("ab") as err:
        process = subprocess.Popen(
            command,
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
    served = Server(process, f"http://{HOST}:{port}", stdout, stderr)
    try:
        deadline = time.monotonic() + 60
        with httpx.Client(base_url=served.base, timeout=2.0) as client:
            while True:
                assert process.poll() is None, served.logs()[-3000:]
                with contextlib.suppress(httpx.TransportError):
                    if client.get("/readyz").status_code == 200:
                        break
                assert time.monotonic() < deadline, served.logs()[-3000:]
                time.sleep(0.05)
        yield served
    finally:
        served.stop()


def _drive_traffic(client: httpx.Client) -> tuple[int, int]:
    """FEEDS feeds (v1 discover and total, legacy total), then a like of the first two
    items of every v1 feed (matched to its impression); returns (feeds, likes)."""
    feeds = likes = 0
    events: list[dict[str, Any]] = []
    for round_ in range(FEEDS // 3):
        user = 100 + round_
        for kind in ("discover", "total"):
            response = client.get(f"/v1/feed/{kind}", params={"user_id": user, "size": 12})
            assert response.status_code == 200, response.text
            feeds += 1
            body = response.json()
            for item in body["items"][:2]:
                events.append(
                    {
                        "event_id": f"like-{body['request_id']}-{item['id']}",
                        "type": "like",
                        "user_id": user,
                        "item_id": item["id"],
                        "item_type": item["type"],
                        "request_id": body["request_id"],
                        "position": item["position"],
                    }
                )
        assert client.post("/api/search/total", json={"SELF_ID": user}).status_code == 200
        feeds += 1
    for start in range(0, len(events), 20):
        batch = events[start : start + 20]
        response = client.post("/v1/events", json={"events": batch})
        assert response.status_code == 202, response.text
        likes += response.json()["accepted"]
    return feeds, likes


def _settle(client: httpx.Client) -> None:
    """Wait until the feedback thread has learned from every like: /v1/policies and
    /v1/experiments read the same twice a second apart, with updates."""
    deadline = time.monotonic() + 15
    previous = None
    while True:
        policies = client.get("/v1/policies").json()
        experiments = client.get("/v1/experiments")
        current = (policies, experiments.status_code, experiments.text)
        updates = sum(pool["n_updates"] for pool in policies["pools"].values())
        if current == previous and updates > 0:
            return
        assert time.monotonic() < deadline, f"learning never settled: {current}"
        previous = current
        time.sleep(1.0)


def _lookup(payload: Any, path: str) -> Any:
    value = payload
    for key in path.split("."):
        if value is None:
            return None
        value = value[int(key)] if isinstance(value, list) else value.get(key)
    return value


def _check_text(figure: dict[str, Any], value: Any) -> None:
    """The visible text is the value, formatted: a dash for null, else the number as
    rounded for display."""
    text = figure["text"].strip()
    if value is None:
        assert text == "—", figure
        return
    if figure["format"] == "text":
        assert text == str(value), figure
    if figure["format"] == "plain":
        assert float(text) == value, figure
    if figure["format"] in NUMERIC_FORMATS and isinstance(value, int | float):
        scale, decimals = NUMERIC_FORMATS[figure["format"]]
        match = re.match(r"[+-]?[\d,]*\.?\d+", text)
        assert match, figure
        shown = float(match.group(0).replace(",", ""))
        assert math.isclose(shown, value * scale, abs_tol=0.5 * 10**-decimals + 1e-9), figure


def _compare_figures(figures: list[dict[str, Any]], fetched: dict[str, Any]) -> set[str]:
    """Every figure equals its endpoint's value; returns the ids seen."""
    seen = set()
    for figure in figures:
        source = fetched[figure["source"]]
        assert figure["value"] is not None, f"never filled: {figure}"
        shown = json.loads(figure["value"])
        expected = _lookup(source["body"], figure["path"]) if source["status"] == 200 else None
        assert shown == expected, (figure, expected)
        _check_text(figure, shown)
        if figure["id"]:
            seen.add(figure["id"])
    return seen


def _experiments_columns(payload: dict[str, Any]) -> list[list[Any]]:
    """What the experiments chart must hold: the union of the series' times, then rate,
    low and high of each variant in the variants' order (null where a variant has no point)."""
    names = [variant["name"] for variant in payload["variants"]]
    series = payload.get("series", {})
    times = sorted({point["t"] for name in names for point in series.get(name, [])})
    columns: list[list[Any]] = [times]
    for name in names:
        by_time = {point["t"]: point for point in series.get(name, [])}
        for key in ("rate", "low", "high"):
            columns.append([by_time[t][key] if t in by_time else None for t in times])
    return columns


# -- the test -------------------------------------------------------------------------------


def test_dashboard_in_chromium(server: Server, tmp_path: Path) -> None:
    started = time.monotonic()
    with httpx.Client(base_url=server.base, timeout=10.0) as client:
        assert client.get("/v1/stats").status_code == 401  # no data without a token
        feeds, likes = _drive_traffic(client)
        assert likes > 0
        # Traffic has stopped: let its last bucket complete (rates and quantiles are taken
        # over complete 5 s buckets), and the learning settle.
        time.sleep(BUCKET_SECONDS - time.time() % BUCKET_SECONDS + 0.2)
        _settle(client)
        real_experiments = client.get("/v1/experiments").status_code
    assert real_experiments in (200, 404)
    override = (
        {"status": 404, "body": NOT_CONFIGURED}
        if real_experiments == 200
        else {"status": 200, "body": FAKE_EXPERIMENTS}
    )

    config = {
        "base": server.base,
        "token": DASHBOARD_TOKEN,
        "out": str(tmp_path),
        "web": str(WEB),
        "chromium": CHROMIUM,
        "experimentsOverride": override,
    }
    env = {**os.environ, "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"}
    driven = subprocess.run(
        ["node", str(DRIVER), json.dumps(config)],
        capture_output=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert driven.returncode == 0, driven.stderr.decode(errors="replace")[-4000:]
    report = json.loads(driven.stdout)

    # Without a session: a 401 page with no figure; a wrong token: a 401.
    assert report["anonymous"]["status"] == 401
    assert report["anonymous"]["locked"] == 1 and report["anonymous"]["figures"] == 0
    assert report["wrongToken"]["status"] == 401 and report["wrongToken"]["locked"] == 1

    # Signing in: one 303 to the bare URL, whose cookie is HttpOnly, SameSite=Strict, not
    # the token, and not Secure over plain http.
    login = report["login"]
    assert login["firstStatus"] == 303 and login["firstLocation"] == "/dashboard"
    assert login["finalStatus"] == 200
    assert login["finalUrl"] == f"{server.base}/dashboard"
    assert DASHBOARD_TOKEN not in login["finalUrl"]
    (cookie,) = [c for c in login["cookies"] if c["name"] == COOKIE]
    assert cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert cookie["secure"] is False and cookie["path"] == "/"
    assert DASHBOARD_TOKEN not in cookie["value"]
    assert report["paused"] == "true"

    # The page runs clean: no script error, no CSP violation, nothing fetched elsewhere.
    assert report["pageErrors"] == []
    # (The browser logs every 4xx as an error: the 401s before signing in, and the 404 of
    # an absent /v1/experiments, are expected.)
    errors = [
        m
        for m in report["console"]
        if m["type"] == "error"
        and m["phase"] == "signed in"
        and not (m["url"].endswith("/v1/experiments") and "404" in m["text"])
    ]
    assert errors == [], report["console"]
    assert report["foreignRequests"] == []

    # Every figure equals its endpoint's value, read in the same bucket.
    page, fetched = report["page"], report["fetched"]
    assert page["state"] == "ready", (page["state"], page["panels"])
    seen = _compare_figures(page["figures"], fetched)
    assert seen >= REQUIRED_IDS, REQUIRED_IDS - seen

    # ... and they are this test's traffic, not merely consistent.
    stats = fetched["stats"]["body"]
    traffic = stats["traffic"]
    assert traffic["feeds_served"] == feeds
    assert traffic["events_accepted"] == likes
    assert traffic["requests_per_second"] > 0 and traffic["feeds_per_second"] > 0
    assert 0 < traffic["feed_latency_ms"]["p50"] <= traffic["feed_latency_ms"]["p95"]
    assert traffic["feed_latency_ms"]["count"] == feeds
    assert 0.0 < stats["exposure"]["gini"] < 1.0
    assert stats["exposure"]["new_creator_share"] is not None
    assert stats["snapshot"]["resumes"] == fetched["readyz"]["body"]["resumes"]
    assert stats["archiver"]["kind"] == "embedded"
    policies = fetched["policies"]["body"]
    assert sum(pool["n_updates"] for pool in policies["pools"].values()) > 0
    theta_cells = [
        f for f in page["figures"] if f["source"] == "policies" and ".theta." in f["path"]
    ]
    assert len(theta_cells) == sum(len(pool["theta"]) for pool in policies["pools"].values())

    # The charts hold the endpoint's series.
    series = traffic["series"]
    assert page["charts"]["traffic"] == [
        series["t"],
        series["requests_per_second"],
        series["feeds_per_second"],
        series["errors_per_second"],
    ]
    assert page["charts"]["latency"] == [series["t"], series["p50_ms"], series["p95_ms"]]
    assert any(value for value in series["feeds_per_second"])
    assert page["chartCanvases"] >= 2

    # Experiments: the real endpoint (compared above, figure by figure), then the page's
    # answer to a 404; or, on a server without experiments, the 404 and the contract.
    experiments = fetched["experiments"]
    shown = report["override"]
    if experiments["status"] == 200:
        body = experiments["body"]
        assert page["panels"]["experiments"] == "ready"
        assert page["experimentsBodyHidden"] is False and page["experimentsEmpty"]["hidden"]
        assert [v["name"] for v in body["variants"]] == ["control", "no-blend"]
        assert sum(v["impressions"] for v in body["variants"]) > 0
        assert sum(v["likes"] for v in body["variants"]) > 0
        figures = [f for f in page["figures"] if f["source"] == "experiments"]
        assert len(figures) == 1 + sum(6 + (3 if v["difference"] else 1) for v in body["variants"])
        assert page["charts"]["experiments"] == _experiments_columns(body)
        assert shown["panels"]["experiments"] == "absent"
        assert shown["experimentsEmpty"] == {"hidden": False, "text": "no experiments configured"}
        assert shown["experimentsBodyHidden"] is True
    else:
        assert page["panels"]["experiments"] == "absent"
        assert page["experimentsEmpty"] == {"hidden": False, "text": "no experiments configured"}
        assert page["experimentsBodyHidden"] is True
        assert shown["panels"]["experiments"] == "ready"
        assert shown["experimentsEmpty"]["hidden"] is True and not shown["experimentsBodyHidden"]
        figures = [f for f in shown["figures"] if f["source"] == "experiments"]
        _compare_figures(figures, {"experiments": {"status": 200, "body": FAKE_EXPERIMENTS}})
        variants = FAKE_EXPERIMENTS["variants"]
        assert len(figures) == 1 + sum(6 + (3 if v["difference"] else 1) for v in variants)
        assert shown["charts"]["experiments"] == _experiments_columns(FAKE_EXPERIMENTS)

    # The screenshot, and the README's copy when asked.
    screenshot = Path(report["screenshot"])
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("PITCHREC_UPDATE_DOCS") == "1":
        (ROOT / "docs").mkdir(exist_ok=True)
        shutil.copyfile(screenshot, ROOT / "docs" / "dashboard.png")

    # Signing out deletes the cookie; the page is the 401 again.
    assert report["logout"]["locked"] == 1
    assert not [c for c in report["logout"]["cookies"] if c["name"] == COOKIE]

    # The cookie opens the read-only JSON, never an admin route; the dashboard token is not
    # an admin token; neither token is ever logged.
    value = cookie["value"]
    forged = value[:-2] + ("BB" if value.endswith("AA") else "AA")
    with httpx.Client(base_url=server.base, timeout=10.0, cookies={COOKIE: value}) as client:
        assert client.get("/v1/stats").status_code == 200
        assert client.post("/v1/admin/reload").status_code == 401
    with httpx.Client(base_url=server.base, timeout=10.0, cookies={COOKIE: forged}) as client:
        assert client.get("/v1/stats").status_code == 401
    with httpx.Client(base_url=server.base, timeout=10.0) as client:
        dashboard_bearer = {"Authorization": f"Bearer {DASHBOARD_TOKEN}"}
        assert client.get("/v1/stats", headers=dashboard_bearer).status_code == 200
        assert client.post("/v1/admin/reload", headers=dashboard_bearer).status_code == 401
    logs = server.logs()
    assert DASHBOARD_TOKEN not in logs and ADMIN_TOKEN not in logs

    elapsed = time.monotonic() - started
    print(f"\n[browser] dashboard test in {elapsed:.1f} s ({report['attempts']} read(s))")


def test_the_vendored_chart_library_is_the_locked_one() -> None:
    """src/pitchrec/api/static/dashboard/vendor/ holds uplot's files exactly as
    web/package-lock.json installs them (``npm run vendor`` after changing the lock)."""
    _require_browser()
    checked = subprocess.run(
        ["node", str(WEB / "scripts" / "vendor.mjs"), "--check"],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr.decode(errors="replace")
    locked = json.loads((WEB / "package-lock.json").read_text())["packages"]["node_modules/uplot"]
    manifest = (ROOT / "src/pitchrec/api/static/dashboard/vendor/VENDORED.txt").read_text()
    assert manifest.startswith(f"uplot {locked['version']} (MIT)")
