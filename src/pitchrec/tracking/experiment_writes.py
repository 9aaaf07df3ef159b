"""What an experiment adds to tracking writes: per-variant counter increments (in the
feed's own pipeline, no round trip of their own) and the variant tags of archived
feedback, read from the impressions the events name (never from the client).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from pitchrec.domain.events import FeedbackEvent, Impression
from pitchrec.domain.experiment import Assignment
from pitchrec.tracking.store import (
    EXPERIMENT_HOUR_TTL,
    EXPERIMENT_TTL,
    TrackingStore,
    experiment_hour,
    experiment_key,
    impression_field,
    impression_key,
)

log = logging.getLogger(__name__)

Counters = dict[str, dict[str, int | float]]


def counter_increments(
    experiment: str, hour: int, amounts: dict[str, int | float]
) -> tuple[Counters, dict[str, int]]:
    """``amounts`` (counter field -> amount, e.g. ``{"B:likes": 2}``) added to the
    experiment's totals and to the bucket of ``hour``, and the TTL of each key."""
    total = experiment_key(experiment, "total")
    bucket = experiment_key(experiment, f"h:{hour}")
    return (
        {total: dict(amounts), bucket: dict(amounts)},
        {total: EXPERIMENT_TTL, bucket: EXPERIMENT_HOUR_TTL},
    )


def feed_counters(
    assignment: Assignment | None, impressions: int, now: float
) -> tuple[Counters, dict[str, int]]:
    """The counters a served feed adds: its impressions, to its variant, when the feed
    counts (randomised and served as assigned, :attr:`Assignment.counted`)."""
    if assignment is None or not assignment.counted or impressions <= 0:
        return {}, {}
    return counter_increments(
        assignment.experiment,
        experiment_hour(now),
        {f"{assignment.variant}:impressions": impressions},
    )


def feedback_tags(
    store: TrackingStore, events: Sequence[FeedbackEvent]
) -> list[dict[str, str | None] | None]:
    """Per event, the experiment tags of the impression it names when that impression
    exists and was served to the event's user (one round trip); None otherwise."""
    lookups: list[tuple[str, str]] = []
    indices: list[int] = []
    for index, event in enumerate(events):
        if event.request_id:
            indices.append(index)
            lookups.append(
                (impression_key(event.request_id), impression_field(event.item_type, event.item_id))
            )
    tags: list[dict[str, str | None] | None] = [None] * len(events)
    if not lookups:
        return tags
    for index, raw in zip(indices, store.read_impressions(lookups), strict=True):
        if raw is None:
            continue
        try:
            impression = Impression.from_json(raw)
        except (ValueError, KeyError, TypeError):
            continue
        served_to = 0 if impression.user_id is None else impression.user_id
        if impression.assignment is not None and served_to == events[index].user_id:
            tags[index] = impression.assignment.tags()
    return tags
