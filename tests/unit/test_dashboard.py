"""The operator dashboard in process: its settings, the session cookie, the recent windows
behind ``GET /v1/stats`` (traffic buckets, latency quantiles, exposure), and the routes'
access rules. The page itself is tested in a real browser (tests/browser)."""

from __future__ import annotations

import math
import re
import time
from importlib import resources
from pathlib import Path

import numpy as np
import pytest

from factories import NOW, random_snapshot
from pitchrec.api import dashboard_access as access
from pitchrec.api.dashboard import ASSETS
from pitchrec.api.recent import (
    BUCKET_SECONDS,
    EVENTS,
    EXPOSURE_BYTES,
    EXPOSURE_CAPACITY,
    EXPOSURE_SECONDS,
    FEEDS,
    HISTORY_BUCKETS,
    LATENCY_BINS,
    RATE_BUCKETS,
    ExposureWindow,
    TrafficWindow,
    classify,
    gini,
    latency_bin,
    quantile_ms,
)
from pitchrec.domain.feed import FeedKind, FeedRequest, ItemKind
from pitchrec.errors import ConfigurationError
from pitchrec.lab.simulation.quality import gini as lab_gini
from pitchrec.ranking.options import RankingOptions
from pitchrec.settings import Settings
from served_app import served

DASHBOARD = "dashboard-token-0123456789"
ADMIN = "admin-token-abcdefghij"


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# -- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize("token", ["short-token", "has spaces in it 0123", "ünïcode-token-0123456"])
def test_a_weak_or_unsafe_dashboard_token_is_refused_without_quoting_it(token: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings(dashboard_token=token)
    assert token not in str(caught.value)
    assert "PITCHREC_DASHBOARD_TOKEN" in str(caught.value)


def test_the_dashboard_token_may_not_be_the_admin_token() -> None:
    with pytest.raises(ConfigurationError, match="must differ") as caught:
        Settings(dashboard_token=ADMIN, admin_token=ADMIN)
    assert ADMIN not in str(caught.value)
    settings = Settings(dashboard_token=DASHBOARD, admin_token=ADMIN)
    assert settings.dashboard_token is not None
    assert Settings(dashboard_token="").dashboard_token is None


def test_the_token_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PITCHREC_DASHBOARD_TOKEN", DASHBOARD)
    settings = Settings()
    assert settings.dashboard_token is not None
    assert settings.dashboard_token.get_secret_value() == DASHBOARD
    assert DASHBOARD not in repr(settings)


# -- the session cookie -----------------------------------------------------------------------


def test_a_session_is_signed_by_the_token_and_expires() -> None:
    token, other = DASHBOARD.encode(), ADMIN.encode()
    value = access.new_session(token, now=NOW)
    assert DASHBOARD not in value
    assert access.valid_session(value, [token], now=NOW + 10)
    assert access.valid_session(value, [other, token], now=NOW + 10)
    assert not access.valid_session(value, [other], now=NOW + 10)  # another (rotated) token
    assert not access.valid_session(value, [token], now=NOW + access.SESSION_SECONDS)  # expired
    # The expiry is signed: moving it breaks the MAC.
    version, expires, mac = value.split(".")
    moved = f"{version}.{int(expires) + 3600}.{mac}"
    assert not access.valid_session(moved, [token], now=NOW + 10)
    # A validly signed session that ends too far ahead is refused too.
    far = access.session_value(token, int(NOW) + 10 * access.SESSION_SECONDS)
    assert not access.valid_session(far, [token], now=NOW)
    for junk in (
        "",
        "v1",
        "v1..",
        "v2." + value[3:],
        value + "x",
        "v1.-5.abc",
        "v1.1e9.abc",
        "x" * 500,
    ):
        assert not access.valid_session(junk, [token], now=NOW), junk
    assert not access.valid_session(value, [], now=NOW + 10)


def test_tokens_are_matched_against_every_configured_one() -> None:
    tokens = [DASHBOARD.encode(), ADMIN.encode()]
    assert access.matching_token(DASHBOARD, tokens) == DASHBOARD.encode()
    assert access.matching_token(ADMIN, tokens) == ADMIN.encode()
    assert access.matching_token(DASHBOARD[:-1], tokens) is None
    assert access.matching_token("", tokens) is None
    assert access.matching_token("\udcff", tokens) is None  # a lone surrogate is no error


# -- traffic buckets and latency quantiles ---------------------------------------------------


def test_only_client_traffic_is_counted() -> None:
    assert classify("/v1/feed/{kind}", "GET") == FEEDS
    assert classify("/api/search/total", "POST") == FEEDS
    assert classify("/custom/prefix/search/flow", "POST") == FEEDS
    assert classify("/v1/events", "POST") == EVENTS
    for route, method in [
        ("/v1/stats", "GET"),
        ("/v1/policies", "GET"),
        ("/readyz", "GET"),
        ("/metrics", "GET"),
        ("/dashboard", "GET"),
        ("/api/search/reload", "POST"),
        ("unmatched", "GET"),
    ]:
        assert classify(route, method) is None, route


def test_quantiles_are_within_two_percent_of_the_exact_ones() -> None:
    rng = np.random.default_rng(3)
    seconds = rng.lognormal(mean=math.log(0.004), sigma=0.8, size=5000)
    histogram = np.zeros(LATENCY_BINS, dtype=np.int64)
    for value in seconds:
        histogram[latency_bin(float(value))] += 1
    for q in (0.5, 0.95, 0.99):
        exact = float(np.quantile(seconds, q, method="inverted_cdf")) * 1000
        estimate = quantile_ms(histogram, q)
        assert estimate is not None
        assert abs(estimate - exact) / exact < 0.021, (q, estimate, exact)
    assert quantile_ms(np.zeros(LATENCY_BINS, dtype=np.int64), 0.5) is None
    assert latency_bin(0.0) == 0 and latency_bin(1e9) == LATENCY_BINS - 1


def test_rates_cover_complete_buckets_only() -> None:
    start = 1_800_000_000.0  # a bucket boundary
    clock = Clock(start + 0.5)
    window = TrafficWindow(clock)
    for i in range(RATE_BUCKETS + 3):  # one bucket after another: i feeds, 1 event each
        clock.now = start + i * BUCKET_SECONDS + 1.0
        for _ in range(i):
            window.record("/v1/feed/{kind}", "GET", 200, 0.004)
        window.record("/v1/events", "POST", 202, 0.001)
        window.record("/readyz", "GET", 200, 0.0001)  # not client traffic
    window.record("/api/search/total", "POST", 503, 0.0002)  # the current bucket
    current = int(clock.now // BUCKET_SECONDS)
    summary = window.summary(current)
    # The last RATE_BUCKETS complete buckets are 2..13: 2+...+13 feeds and 12 events in 60 s.
    feeds = sum(range(2, RATE_BUCKETS + 2))
    assert summary["window_seconds"] == RATE_BUCKETS * BUCKET_SECONDS
    assert summary["feeds_per_second"] == round(feeds / 60, 4)
    assert summary["requests_per_second"] == round((feeds + RATE_BUCKETS) / 60, 4)
    assert summary["errors_per_second"] == 0.0  # the 503 is in the current bucket
    assert summary["feed_latency_ms"]["count"] == feeds
    assert summary["feed_latency_ms"]["p50"] == pytest.approx(4.0, rel=0.021)
    series = summary["series"]
    assert series["t"] == [int(start) + i * BUCKET_SECONDS for i in range(RATE_BUCKETS + 2)]
    assert series["feeds_per_second"] == [i / BUCKET_SECONDS for i in range(RATE_BUCKETS + 2)]
    assert series["p50_ms"][0] is None  # no feed in the first bucket
    # The same bucket gives the same figures; the next one moves them.
    assert window.summary(current) == summary
    assert window.summary(current + 1)["errors_per_second"] == round(1 / 60, 4)


def test_the_ring_forgets_buckets_older_than_its_history() -> None:
    start = 1_800_000_000.0
    clock = Clock(start + 1.0)
    window = TrafficWindow(clock)
    window.record("/v1/feed/{kind}", "GET", 200, 0.002)
    clock.now = start + (HISTORY_BUCKETS + 1) * BUCKET_SECONDS + 1.0  # same ring row
    window.record("/v1/feed/{kind}", "GET", 200, 0.002)
    summary = window.summary(int(clock.now // BUCKET_SECONDS) + 1)
    assert len(summary["series"]["t"]) == HISTORY_BUCKETS
    assert sum(summary["series"]["feeds_per_second"]) == 1 / BUCKET_SECONDS


# -- exposure --------------------------------------------------------------------------------


def test_gini_is_the_labs() -> None:
    rng = np.random.default_rng(5)
    for _ in range(20):
        values = rng.integers(0, 50, size=int(rng.integers(1, 300))).astype(np.float64)
        assert gini(values) == pytest.approx(lab_gini(values), abs=1e-12)
    assert gini(np.zeros(4)) == 0.0 and gini(np.zeros(0)) == 0.0


def test_exposure_counts_every_creator_of_the_catalogue() -> None:
    from pitchrec.service import Recommender

    snapshot = random_snapshot(4, n_resumes=200, n_creators=60)
    options = RankingOptions.service()
    recommender = Recommender(snapshot, options=options)
    clock = Clock(NOW)
    window = ExposureWindow(clock=clock)
    counts: dict[int, int] = {}
    fresh = 0
    exhibited = np.asarray(snapshot.resumes.exhibited_count)
    for user in range(30):
        feed = recommender.feed(
            FeedRequest(kind=FeedKind.DISCOVER, user_id=user, seed=user, now=NOW)
        )
        window.observe(feed, snapshot, options)
        for item in feed.items:
            assert item.kind is ItemKind.RESUME
            counts[item.creator_id] = counts.get(item.creator_id, 0) + 1
            row = snapshot.resumes.row_of(item.item_id)
            fresh += bool(exhibited[row] < options.fresh_max_impressions)  # fresh_max_days is 0
    creators = np.asarray(snapshot.resumes.creator, dtype=np.int64)
    summary = window.summary(creators, options)
    catalogue = set(creators.tolist())
    values = [counts.get(c, 0) for c in catalogue]
    assert summary["impressions"] == sum(values)
    assert summary["creators"] == len(catalogue)
    assert summary["creators_shown"] == len(counts)
    assert summary["gini"] == pytest.approx(
        lab_gini(np.asarray(values, dtype=np.float64)), abs=1e-6
    )
    assert summary["new_creator_share"] == pytest.approx(fresh / sum(values), abs=1e-6)
    # Nothing can be fresh: no share (not 0).
    legacy = RankingOptions.legacy()
    assert window.summary(creators, legacy)["new_creator_share"] is None
    # An hour later the window is empty.
    clock.now = NOW + EXPOSURE_SECONDS + 1
    later = window.summary(creators, options)
    assert later["impressions"] == 0 and later["gini"] is None


def test_the_exposure_window_is_bounded_in_bytes() -> None:
    window = ExposureWindow()
    held = sum(a.itemsize * len(a) for a in (window._creators, window._times, window._fresh))
    assert held <= EXPOSURE_BYTES
    assert EXPOSURE_CAPACITY * 13 <= EXPOSURE_BYTES < (EXPOSURE_CAPACITY + 1) * 13

    from pitchrec.service import Recommender

    snapshot = random_snapshot(4, n_resumes=200, n_creators=60)
    options = RankingOptions.service()
    small = ExposureWindow(capacity=50, clock=Clock(NOW))
    recommender = Recommender(snapshot, options=options)
    for user in range(10):
        feed = recommender.feed(
            FeedRequest(kind=FeedKind.DISCOVER, user_id=user, seed=user, now=NOW)
        )
        small.observe(feed, snapshot, options)
    assert small.summary(np.asarray(snapshot.resumes.creator), options)["impressions"] == 50


# -- routes ----------------------------------------------------------------------------------


def _settings(**extra: object) -> Settings:
    return Settings(dashboard_token=DASHBOARD, admin_token=ADMIN, refresh_seconds=0, **extra)


def test_without_any_token_the_dashboard_is_disabled(tmp_path: Path) -> None:
    with served(tmp_path, Settings(refresh_seconds=0)) as client:
        assert client.get("/v1/stats").status_code == 403
        page = client.get("/dashboard")
        assert page.status_code == 403 and "disabled" in page.text
        assert client.get(f"/dashboard?token={DASHBOARD}").status_code == 403


def test_signing_in_sets_a_strict_http_only_cookie_that_is_not_the_token(tmp_path: Path) -> None:
    with served(tmp_path, _settings()) as client:
        anonymous = client.get("/dashboard")
        assert anonymous.status_code == 401
        assert "data-source" not in anonymous.text and 'id="locked"' in anonymous.text
        assert anonymous.headers["content-security-policy"].startswith("default-src 'none'")
        assert client.get("/v1/stats").status_code == 401
        wrong = client.get("/dashboard?token=not-the-token-0123456789", follow_redirects=False)
        assert wrong.status_code == 401 and "set-cookie" not in wrong.headers

        response = client.get(f"/dashboard?token={DASHBOARD}", follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"] == "/dashboard"
        assert response.headers["cache-control"] == "no-store"
        assert response.headers["referrer-policy"] == "no-referrer"
        set_cookie = response.headers["set-cookie"]
        assert set_cookie.startswith(f"{access.COOKIE}=v1.")
        assert "HttpOnly" in set_cookie and "SameSite=strict" in set_cookie
        assert "Path=/" in set_cookie and "Secure" not in set_cookie
        assert DASHBOARD not in set_cookie

        page = client.get("/dashboard")  # the client keeps the cookie
        assert page.status_code == 200 and 'data-path="traffic.requests_per_second"' in page.text
        assert client.get("/v1/stats").status_code == 200
        # The cookie never opens an admin route.
        assert client.post("/v1/admin/reload").status_code == 401

        out = client.get("/dashboard/logout", follow_redirects=False)
        assert out.status_code == 303 and f"{access.COOKIE}=" in out.headers["set-cookie"]
        client.cookies.clear()
        assert client.get("/v1/stats").status_code == 401


def test_the_cookie_is_secure_behind_https(tmp_path: Path) -> None:
    with served(tmp_path, _settings()) as client:
        response = client.get(
            f"/dashboard?token={ADMIN}",
            headers={"X-Forwarded-Proto": "https"},
            follow_redirects=False,
        )
        assert response.status_code == 303
        assert "Secure" in response.headers["set-cookie"]


def test_bearer_tokens_open_the_stats_and_only_the_admin_one_the_admin_routes(
    tmp_path: Path,
) -> None:
    with served(tmp_path, _settings()) as client:
        for token in (DASHBOARD, ADMIN):
            response = client.get("/v1/stats", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == 200
            assert response.headers["cache-control"] == "no-store"
        dashboard_bearer = {"Authorization": f"Bearer {DASHBOARD}"}
        assert client.post("/v1/admin/reload", headers=dashboard_bearer).status_code == 401
        assert client.get("/v1/stats", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_stats_are_the_traffic_served_and_one_payload_per_bucket(tmp_path: Path) -> None:
    with served(tmp_path, _settings()) as client:
        headers = {"Authorization": f"Bearer {DASHBOARD}"}
        for user in range(7):
            assert client.get("/v1/feed/discover", params={"user_id": user}).status_code == 200
        assert client.post("/api/search/total", json={"SELF_ID": 3}).status_code == 200
        # Read at the start of a bucket, so that both reads below fall in it.
        time.sleep(BUCKET_SECONDS - time.time() % BUCKET_SECONDS + 0.05)
        first = client.get("/v1/stats", headers=headers)
        client.get("/v1/feed/total")  # counted from the next payload on
        second = client.get("/v1/stats", headers=headers)
        assert first.content == second.content
        stats = first.json()
        assert stats["as_of"] % BUCKET_SECONDS == 0
        assert stats["traffic"]["feeds_served"] == 8
        assert stats["traffic"]["feeds_per_second"] > 0
        assert stats["traffic"]["feed_latency_ms"]["count"] == 8
        assert stats["exposure"]["impressions"] > 0
        assert stats["snapshot"]["resumes"] == client.get("/readyz").json()["resumes"]
        collab = client.app.state.runtime.recommender.snapshot.collab
        assert stats["snapshot"]["affinity_ratio"] == collab.affinity_ratio
        assert stats["snapshot"]["prior_half_life_days"] == collab.prior_half_life_days
        assert stats["archiver"]["kind"] == "none"  # no database: nothing is archived
        assert len(stats["learning"]["features"]) == 20
        search = stats["learning"]["blend_search"]  # the default: nothing learned yet
        assert search["centre"] == search["build"]
        assert search["arms"][0]["degrees"] == 0.0 and search["arms"][-1]["degrees"] == 90.0


def test_assets_are_packaged_and_served(tmp_path: Path) -> None:
    static = resources.files("pitchrec.api") / "static" / "dashboard"
    for name in (*ASSETS, "index.html", "locked.html", "vendor/uPlot.LICENSE.txt"):
        assert (static / name).is_file(), name
    manifest = (static / "vendor" / "VENDORED.txt").read_text()
    assert re.match(r"uplot \d+\.\d+\.\d+ \(MIT\)", manifest)
    with served(tmp_path, _settings()) as client:
        for name, media_type in ASSETS.items():
            response = client.get(f"/dashboard/assets/{name}")
            assert response.status_code == 200, name
            assert response.headers["content-type"] == media_type
        assert client.get("/dashboard/assets/../app.py").status_code == 404
        assert client.get("/dashboard/assets/index.html").status_code == 404
        # Everything the page loads is served here: no CDN.
        page = (static / "index.html").read_text()
        for link in re.findall(r'(?:src|href)="([^"]+)"', page):
            assert link.startswith("/dashboard/") or link == "data:,", link  # data: no favicon
