"""``GET /v1/experiments`` and the per-variant Prometheus series.

The route answers what every replica sees: the counters are shared (Redis, or the
in-process store of a single process), so any replica gives the same numbers. It reads
them in one round trip, in a worker thread. Without an experiment configured it is a 404
in the project's JSON error shape.

The Prometheus series are this process's (scrape every pod and sum, as for the other
series): ``pitchrec_experiment_impressions_total{variant,pool,position}``,
``pitchrec_experiment_feedback_total{variant,pool,position,type}`` (the first like, save
or view of an impression), ``pitchrec_experiment_watch_fraction_sum{variant,pool,position}``
(divide by the view count for the mean watch fraction) and
``pitchrec_experiment_variant_stopped{variant}``. Labels are bounded: variants come from
the settings, pools from the enum, positions in five buckets.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import anyio
from fastapi import APIRouter, FastAPI
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from pydantic import BaseModel, Field
from starlette.responses import Response

from pitchrec.api.deps import RuntimeDep
from pitchrec.api.errors import error_response
from pitchrec.api.legacy import json_response
from pitchrec.api.runtime import Runtime
from pitchrec.learning.experiment import ExperimentMonitor

log = logging.getLogger(__name__)

NOT_CONFIGURED = "no experiment is configured (PITCHREC_EXPERIMENT)"
UNREADABLE = "the experiment's counters cannot be read right now; retry later"


class IntervalOut(BaseModel):
    estimate: float
    low: float
    high: float
    confidence: float


class VariantOut(BaseModel):
    name: str
    weight: float
    share: float = Field(description="The variant's share of randomised units.")
    status: str = Field(description="running or stopped")
    stopped_reason: str | None
    stopped_at: float | None = Field(description="Unix seconds of the guardrail's stop.")
    impressions: int
    likes: int
    saves: int
    views: int
    like_rate: float
    save_rate: float
    watch_fraction: float | None = Field(description="Mean watch fraction of first views.")
    difference: IntervalOut | None = Field(
        description="Like rate minus the control's, with its always-valid interval; "
        "null for the control."
    )


class BucketOut(BaseModel):
    t: int = Field(description="Unix seconds of the hour's start.")
    impressions: int
    likes: int
    rate: float = Field(description="The hour's like rate.")
    low: float = Field(description="Always-valid interval of the hour's like rate.")
    high: float
    difference: IntervalOut | None = Field(
        description="Cumulative difference from the control at the end of the hour."
    )


class ExperimentOut(BaseModel):
    name: str
    control: str
    confidence: float
    min_impressions: int
    guardrail: bool
    variants: list[VariantOut]
    series: dict[str, list[BucketOut]] = Field(description="Hourly, the last 7 days.")


def experiments_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["v1"])

    @router.get(
        "/experiments",
        response_model=ExperimentOut,
        responses={
            404: {"description": "No experiment is configured"},
            503: {"description": "The shared counters cannot be read (Redis down)"},
        },
    )
    async def get_experiments(runtime: RuntimeDep) -> Response:
        """The running experiment: per variant its counts, rates, difference from the
        control with an always-valid (sequential) interval, guardrail status, and hourly
        series."""
        monitor = runtime.service.experiment
        if monitor is None:
            return error_response(404, "not_found", "experiment", NOT_CONFIGURED)
        try:
            report = await anyio.to_thread.run_sync(monitor.report)
        except Exception:  # Redis down: say so, in the error shape (the cause is logged)
            log.warning("experiment counters unreadable", exc_info=True)
            return error_response(
                503, "tracking_unavailable", "experiment", UNREADABLE, with_request_id=True
            )
        return json_response(report.as_dict())

    return router


class ExperimentCollector(Collector):
    """Reads the monitor's local counts at scrape time."""

    def __init__(self, monitor: ExperimentMonitor) -> None:
        self.monitor = monitor

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        impressions, feedback, watch = self.monitor.local.snapshot()
        labels = ["variant", "pool", "position"]
        served = CounterMetricFamily(
            "pitchrec_experiment_impressions",
            "Items served in counted feeds, by experiment variant, pool and position bucket.",
            labels=labels,
        )
        for key, value in sorted(impressions.items()):
            served.add_metric(list(key), value)
        yield served
        events = CounterMetricFamily(
            "pitchrec_experiment_feedback",
            "First like, save or view of an impression, by variant, pool, position bucket"
            " and type.",
            labels=[*labels, "type"],
        )
        for fkey, value in sorted(feedback.items()):
            events.add_metric(list(fkey), value)
        yield events
        watched = CounterMetricFamily(
            "pitchrec_experiment_watch_fraction_sum",
            "Summed watch fractions of first views (divide by the views for the mean).",
            labels=labels,
        )
        for key, value in sorted(watch.items()):
            watched.add_metric(list(key), value)
        yield watched
        stopped = GaugeMetricFamily(
            "pitchrec_experiment_variant_stopped",
            "1 while the guardrail has stopped the variant (its users are served the control).",
            labels=["variant"],
        )
        for name in self.monitor.spec.names:
            stopped.add_metric([name], 1.0 if name in self.monitor.stopped else 0.0)
        yield stopped


def install_experiments(app: FastAPI, runtime: Runtime) -> None:
    """The route, and the series when an experiment is configured."""
    app.include_router(experiments_router())
    monitor = runtime.service.experiment
    if monitor is not None:
        runtime.telemetry.registry.register(ExperimentCollector(monitor))
