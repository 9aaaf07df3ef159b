"""The numbers of an experiment, from its shared counters: per-variant rates, their
difference from the control with an always-valid interval (:mod:`.sequential`), hourly
series, and the guardrail's verdict.

Pure functions of what :class:`~pitchrec.learning.experiment.ExperimentMonitor` read from
the store (counter hashes of :mod:`pitchrec.tracking.store`): every replica computes the
same answer from the same counters.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from pitchrec.domain.experiment import ExperimentSpec
from pitchrec.learning.sequential import Interval, difference_interval, rate_interval

#: Counter fields per variant (``{variant}:{field}``): impressions served, and the first
#: like, save and view of an impression (views carry their watch fraction, summed).
FIELDS = ("impressions", "likes", "saves", "views", "watch")


@dataclass(frozen=True)
class Totals:
    """One variant's counters."""

    impressions: float = 0.0
    likes: float = 0.0
    saves: float = 0.0
    views: float = 0.0
    watch: float = 0.0

    def minus(self, other: Totals) -> Totals:
        return Totals(*(getattr(self, f) - getattr(other, f) for f in FIELDS))


def parse_totals(fields: Mapping[str, str], variants: tuple[str, ...]) -> dict[str, Totals]:
    """Per variant, its counters in a counter hash (absent or unreadable fields: 0)."""
    values: dict[str, dict[str, float]] = {name: {} for name in variants}
    for key, text in fields.items():
        variant, _, name = key.rpartition(":")
        if variant in values and name in FIELDS:
            try:
                number = float(text)
            except ValueError:
                continue
            values[variant][name] = number if math.isfinite(number) else 0.0
    return {name: Totals(**counts) for name, counts in values.items()}


@dataclass(frozen=True)
class StopRecord:
    """Why and when the guardrail stopped a variant (the JSON stored in the shared hash)."""

    reason: str
    at: float
    difference: Interval | None = None

    def to_json(self) -> str:
        body: dict[str, Any] = {"reason": self.reason, "at": self.at}
        if self.difference is not None:
            body["difference"] = self.difference.as_dict()
        return orjson.dumps(body).decode()

    @classmethod
    def from_json(cls, raw: str) -> StopRecord:
        """Decode a stored record; an unreadable one still says the variant is stopped."""
        try:
            data = orjson.loads(raw)
            return cls(str(data["reason"]), float(data.get("at", 0.0)))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return cls("stopped", 0.0)


def difference(spec: ExperimentSpec, variant: Totals, control: Totals) -> Interval:
    """The variant's like rate minus the control's, with its always-valid interval."""
    return difference_interval(
        variant.likes,
        variant.impressions,
        control.likes,
        control.impressions,
        spec.confidence,
        spec.effect_size,
    )


def guardrail_verdict(
    spec: ExperimentSpec, variant: Totals, control: Totals, now: float
) -> StopRecord | None:
    """A stop when the variant's like rate is below the control's with confidence: the
    interval's upper bound of (variant - control) is below 0, once both arms have
    ``min_impressions``. None: keep running."""
    if not spec.guardrail:
        return None
    if min(variant.impressions, control.impressions) < spec.min_impressions:
        return None
    interval = difference(spec, variant, control)
    if interval.high >= 0.0:
        return None
    reason = (
        f"guardrail: like rate below {spec.control} with {spec.confidence:.0%} confidence "
        f"(difference {interval.estimate:+.4f}, always-valid interval "
        f"[{interval.low:+.4f}, {interval.high:+.4f}] after {variant.impressions:.0f} and "
        f"{control.impressions:.0f} impressions)"
    )
    return StopRecord(reason, now, interval)


@dataclass(frozen=True)
class Bucket:
    """One hour of one variant: its counts, its like rate with an always-valid interval,
    and the cumulative difference from the control at the end of the hour."""

    t: int
    impressions: int
    likes: int
    rate: float
    low: float
    high: float
    difference: Interval | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "t": self.t,
            "impressions": self.impressions,
            "likes": self.likes,
            "rate": self.rate,
            "low": self.low,
            "high": self.high,
            "difference": None if self.difference is None else self.difference.as_dict(),
        }


@dataclass
class ExperimentReport:
    """The ``GET /v1/experiments`` body."""

    spec: ExperimentSpec
    totals: dict[str, Totals]
    stopped: dict[str, StopRecord]
    series: dict[str, list[Bucket]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        spec = self.spec
        control = self.totals[spec.control]
        weights = sum(v.weight for v in spec.variants)
        variants = []
        for variant in spec.variants:
            t = self.totals[variant.name]
            stop = self.stopped.get(variant.name)
            variants.append(
                {
                    "name": variant.name,
                    "weight": variant.weight,
                    "share": variant.weight / weights,
                    "status": "stopped" if stop is not None else "running",
                    "stopped_reason": None if stop is None else stop.reason,
                    "stopped_at": None if stop is None else stop.at,
                    "impressions": int(t.impressions),
                    "likes": int(t.likes),
                    "saves": int(t.saves),
                    "views": int(t.views),
                    "like_rate": _ratio(t.likes, t.impressions),
                    "save_rate": _ratio(t.saves, t.impressions),
                    "watch_fraction": t.watch / t.views if t.views > 0 else None,
                    "difference": None
                    if variant.name == spec.control
                    else difference(spec, t, control).as_dict(),
                }
            )
        return {
            "name": spec.name,
            "control": spec.control,
            "confidence": spec.confidence,
            "min_impressions": spec.min_impressions,
            "guardrail": spec.guardrail,
            "variants": variants,
            "series": {
                name: [bucket.as_dict() for bucket in buckets]
                for name, buckets in self.series.items()
            },
        }


def build_series(
    spec: ExperimentSpec, totals: dict[str, Totals], hours: list[tuple[int, dict[str, Totals]]]
) -> dict[str, list[Bucket]]:
    """Per variant, its non-empty hours, oldest first (``hours``: (hour start, counters)
    oldest first). The cumulative difference at the end of an hour is the totals minus
    every later hour's counts (totals and hours are incremented in the same pipeline)."""
    later = {name: Totals() for name in spec.names}
    series: dict[str, list[Bucket]] = {name: [] for name in spec.names}
    for start, counts in reversed(hours):
        at_end = {name: totals[name].minus(later[name]) for name in spec.names}
        for name in spec.names:
            hour = counts[name]
            later[name] = Totals(*(getattr(later[name], f) + getattr(hour, f) for f in FIELDS))
            if hour.impressions <= 0 and hour.likes <= 0:
                continue
            interval = rate_interval(
                hour.likes, hour.impressions, spec.confidence, spec.effect_size
            )
            cumulative = None
            if name != spec.control:
                cumulative = difference(spec, at_end[name], at_end[spec.control])
            series[name].append(
                Bucket(
                    start,
                    int(hour.impressions),
                    int(hour.likes),
                    interval.estimate,
                    interval.low,
                    interval.high,
                    cumulative,
                )
            )
    return {name: buckets[::-1] for name, buckets in series.items()}


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else 0.0
