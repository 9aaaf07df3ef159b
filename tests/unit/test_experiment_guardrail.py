"""The guardrail and the report (pitchrec.learning.experiment*): a variant whose like rate
is below the control's with confidence is stopped once both arms have their minimum
sample, the stop is shared by every replica through the store, and the report's
numbers and hourly series follow from the shared counters."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from pitchrec.domain.experiment import ExperimentSpec, parse_experiment
from pitchrec.learning.experiment import REPORT_HOURS, ExperimentMonitor
from pitchrec.learning.experiment_report import StopRecord, Totals, guardrail_verdict
from pitchrec.tracking.experiment_writes import counter_increments
from pitchrec.tracking.memory_store import MemoryStore
from pitchrec.tracking.store import FeedWrites, experiment_hour, experiment_key

HOUR = experiment_hour(1_796_000_000.0)


def _spec(**extra: Any) -> ExperimentSpec:
    return parse_experiment(
        {
            "name": "g1",
            "variants": {"control": {"weight": 1}, "b": {"weight": 1}, "c": {"weight": 2}},
            "min_impressions": 500,
            "effect_size": 0.05,
            **extra,
        }
    )


def _count(store: MemoryStore, hour: int, amounts: dict[str, int | float]) -> None:
    counters, ttls = counter_increments("g1", hour, amounts)
    store.write_feed([FeedWrites(counters=counters, counter_ttls=ttls)])


def _arms(control: tuple[int, int], **variants: tuple[int, int]) -> dict[str, int | float]:
    amounts: dict[str, int | float] = {
        "control:impressions": control[0],
        "control:likes": control[1],
    }
    for name, (impressions, likes) in variants.items():
        amounts[f"{name}:impressions"] = impressions
        amounts[f"{name}:likes"] = likes
    return amounts


def test_verdict_needs_confidence_and_the_minimum_sample() -> None:
    spec = _spec()
    control = Totals(impressions=2_000, likes=400)  # 20 %
    worse = Totals(impressions=2_000, likes=200)  # 10 %
    stop = guardrail_verdict(spec, worse, control, now=5.0)
    assert stop is not None and stop.at == 5.0
    assert stop.difference is not None and stop.difference.high < 0
    assert "below control" in stop.reason
    # The same rates on too few impressions: not yet.
    assert guardrail_verdict(spec, Totals(400, 40), Totals(400, 80), now=5.0) is None
    # Better or indistinguishable: keeps running.
    assert guardrail_verdict(spec, Totals(2_000, 600), control, now=5.0) is None
    assert guardrail_verdict(spec, Totals(2_000, 390), control, now=5.0) is None
    # Switched off.
    assert guardrail_verdict(_spec(guardrail=False), worse, control, now=5.0) is None


def test_a_stop_is_shared_by_every_replica_and_kept() -> None:
    store = MemoryStore()
    replica_a = ExperimentMonitor(_spec(), store, clock=lambda: HOUR + 10.0)
    replica_b = ExperimentMonitor(_spec(), store, clock=lambda: HOUR + 20.0)
    _count(store, HOUR, _arms((2_000, 400), b=(2_000, 200), c=(4_000, 800)))
    assert replica_a.refresh()
    assert replica_a.stopped == {"b"}  # c is as good as the control: running
    raw = store.read_hashes([experiment_key("g1", "stopped")])[0]["b"]
    assert StopRecord.from_json(raw).at == HOUR + 10.0
    assert replica_b.refresh() and replica_b.stopped == {"b"}
    # The first decision stays: the other replica's later one does not overwrite it.
    assert StopRecord.from_json(
        store.read_hashes([experiment_key("g1", "stopped")])[0]["b"]
    ).at == (HOUR + 10.0)
    # Even when b's rate would recover, its users stay with the control until an operator
    # deletes the stop (or renames the experiment).
    _count(store, HOUR, {"b:impressions": 10_000, "b:likes": 9_000})
    assert replica_a.refresh() and replica_a.stopped == {"b"}
    unit = next(u for u in range(1, 500) if replica_a.assign(u, None).assigned == "b")
    assert replica_b.assign(unit, None).variant == "control"


def test_a_store_that_fails_keeps_the_last_stop_list() -> None:
    class Broken(MemoryStore):
        def read_hashes(self, keys: list[str]) -> list[dict[str, str]]:
            raise ConnectionError("down")

    monitor = ExperimentMonitor(_spec(), Broken())
    monitor.stopped = frozenset({"c"})
    assert not monitor.refresh()
    assert monitor.stopped == {"c"} and monitor.refresh_errors == 1


def test_the_report_follows_the_counters() -> None:
    store = MemoryStore()
    now = HOUR + 1_800.0
    monitor = ExperimentMonitor(_spec(), store, clock=lambda: now)
    _count(store, HOUR - 3_600, _arms((1_000, 200), b=(1_000, 150)))
    _count(store, HOUR, _arms((1_000, 200), b=(1_000, 50)) | {"b:views": 4, "b:watch": 3.0})
    _count(store, HOUR - REPORT_HOURS * 3_600, _arms((10, 5)))  # 7 days ago: out of the window
    body = monitor.report().as_dict()
    assert orjson.loads(orjson.dumps(body)) == body  # plain JSON
    assert body["name"] == "g1" and body["control"] == "control"
    control, b, c = body["variants"]
    assert control["difference"] is None and control["impressions"] == 2_010
    assert b["impressions"] == 2_000 and b["likes"] == 200 and b["like_rate"] == 0.1
    assert b["watch_fraction"] == 0.75 and c["watch_fraction"] is None
    assert b["status"] == "running" and b["stopped_reason"] is None
    assert b["difference"]["estimate"] == pytest.approx(0.1 - 405 / 2_010)
    assert b["difference"]["high"] < 0 and b["difference"]["confidence"] == 0.95
    assert c["impressions"] == 0 and c["difference"]["low"] == -1.0
    assert set(body["series"]) == {"control", "b", "c"} and body["series"]["c"] == []
    first, second = body["series"]["b"]
    assert (first["t"], second["t"]) == (HOUR - 3_600, HOUR)
    assert (first["impressions"], first["likes"], first["rate"]) == (1_000, 150, 0.15)
    assert first["low"] < 0.15 < first["high"]
    # The cumulative difference at the end of each hour: after the first hour only its
    # counts (and the 7-day-old ones still in the totals), after the second all of them.
    assert first["difference"]["estimate"] == pytest.approx(0.15 - 205 / 1_010)
    assert second["difference"] == b["difference"]
    assert [bucket["t"] for bucket in body["series"]["control"]] == [HOUR - 3_600, HOUR]


def test_the_report_shows_a_stopped_variant() -> None:
    store = MemoryStore()
    monitor = ExperimentMonitor(_spec(), store, clock=lambda: HOUR + 1.0)
    _count(store, HOUR, _arms((2_000, 400), b=(2_000, 200)))
    monitor.refresh()
    b = monitor.report().as_dict()["variants"][1]
    assert b["status"] == "stopped" and b["stopped_at"] == HOUR + 1.0
    assert b["stopped_reason"].startswith("guardrail: like rate below control")


def test_the_in_process_store_forgets_expired_hours() -> None:
    """Hourly buckets expire as in Redis, even when nothing reads them again."""
    now = [0.0]
    store = MemoryStore(clock=lambda: now[0])
    old, new = experiment_key("g1", "h:0"), experiment_key("g1", "h:3600")
    store.write_feed([FeedWrites(counters={old: {"b:likes": 1}}, counter_ttls={old: 10})])
    now[0] = 20.0
    store.write_feed([FeedWrites(counters={new: {"b:likes": 1}}, counter_ttls={new: 10})])
    assert old not in store._stats and store.read_hashes([old, new]) == [{}, {"b:likes": "1"}]
