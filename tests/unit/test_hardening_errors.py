"""Hardening: inputs that used to end in an HTTP 500, the catch-all 500 envelope, and HEAD
on the operations probes.

Each case was a confirmed 500 of the hardening issue: a deeply nested ``SELF_ID`` (orjson's
recursion limit when tracking serialised it), a 100,000-digit ``SELF_ID`` (Python's limit on
``int()`` of long strings) and v1 event timestamps whose conversion to UTC overflows.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pitchrec.api.deps import get_runtime
from pitchrec.settings import Settings
from served_app import served

LONG_DIGITS = "7" * 100_000  # over CPython's 4,300-digit int() limit


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with served(tmp_path, Settings(admin_token="t0ken")) as test_client:
        yield test_client


def _nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = [value]
    return value


def _assert_legacy_feed(response: object, ids_key: str = "mix_ids") -> None:
    assert getattr(response, "status_code", None) == 200, getattr(response, "text", "")[:300]
    body = response.json()["body"]  # type: ignore[attr-defined]
    assert body[ids_key] and len(body["items"]) == len(body[ids_key])


@pytest.mark.parametrize("route", ["total", "discover", "flow"])
def test_deeply_nested_self_id_gets_a_cold_start_feed(client: TestClient, route: str) -> None:
    """The legacy accepted any JSON value as the user (spec 3.2: used as given)."""
    ids_key = {"total": "mix_ids", "discover": "resume_ids", "flow": "challenge_ids"}[route]
    for alias in ("SELF_ID", "user_id"):
        response = client.post(f"/api/search/{route}", json={alias: _nested(300)})
        _assert_legacy_feed(response, ids_key)


@pytest.mark.parametrize(
    "body",
    [
        {"SELF_ID": LONG_DIGITS},
        {"user_id": " " + LONG_DIGITS + " "},
        {"LAST_IDS": LONG_DIGITS},
        {"LAST_IDS": ["1", LONG_DIGITS, "-" + LONG_DIGITS]},
        {"MAX_SIZE": LONG_DIGITS},
        {"MAX_SIZE": "-" + LONG_DIGITS},
        {"MAX_SIZE": "-99999999999999999999999"},  # over 64 bits: orjson refused to track it
    ],
    ids=["SELF_ID", "user_id", "LAST_IDS-csv", "LAST_IDS-list", "MAX_SIZE", "-MAX_SIZE", "s64"],
)
def test_hundred_thousand_digit_ids_get_a_feed(client: TestClient, body: dict[str, object]) -> None:
    _assert_legacy_feed(client.post("/api/search/total", json=body))
    _assert_legacy_feed(client.post("/api/search/discover", json=body), "resume_ids")


def test_over_long_v1_exclusion_is_a_422(client: TestClient) -> None:
    too_long = LONG_DIGITS[:5_000]  # the client refuses 100,000-character queries
    response = client.get("/v1/feed/total", params={"exclude": too_long})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "exclude"


@pytest.mark.parametrize("stamp", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_event_timestamps_that_overflow_utc_are_a_422_naming_the_field(
    client: TestClient, stamp: str
) -> None:
    event = {
        "event_id": "e1",
        "type": "like",
        "user_id": 1,
        "item_id": 2,
        "item_type": "resume",
        "timestamp": stamp,
    }
    fine = {key: value for key, value in event.items() if key != "timestamp"}
    response = client.post("/v1/events", json={"events": [{**fine, "event_id": "e0"}, event]})
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "validation_error"
    assert response.json()["detail"][0]["field"] == "events.1.timestamp"


def test_unexpected_errors_answer_the_json_envelope_with_the_request_id(
    client: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_runtime() -> None:
        raise RuntimeError("boom in a dependency")

    client.app.dependency_overrides[get_runtime] = broken_runtime  # type: ignore[attr-defined]
    try:
        with caplog.at_level("ERROR"):
            response = client.get("/v1/policies", headers={"X-Request-ID": "trace-me-1"})
            anonymous = client.get("/v1/policies")
    finally:
        client.app.dependency_overrides.clear()  # type: ignore[attr-defined]
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"] == "internal_error"
    assert body["detail"] == [{"field": "-", "message": "unexpected server error"}]
    assert body["request_id"] == response.headers["x-request-id"] == "trace-me-1"
    assert "boom" not in response.text  # the traceback is logged, never answered
    assert anonymous.status_code == 500
    assert anonymous.json()["request_id"] == anonymous.headers["x-request-id"]
    logged = [r for r in caplog.records if r.exc_info and "boom" in str(r.exc_info[1])]
    assert logged, "the traceback was not logged"


def test_head_on_the_operations_probes(client: TestClient) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a duplicate operation id is only a warning
        operations = client.get("/openapi.json").json()["paths"]["/healthz"]
    assert sorted(operations) == ["get", "head"]
    health = client.head("/healthz")
    assert health.status_code == 200 and health.content == b""
    assert health.headers.get("x-request-id")
    ready = client.head("/readyz")
    assert ready.status_code == client.get("/readyz").status_code == 200
    assert ready.content == b""
