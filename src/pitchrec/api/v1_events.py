"""The v1 feedback events: the body of ``POST /v1/events`` and its domain record.

An event's ``timestamp`` becomes ``activity_log.created_at``, so it is accepted only
inside a window around the server clock: at most :data:`PAST_WINDOW` before it and
:data:`FUTURE_SKEW` after it (a naive timestamp is read as UTC). Outside the window the
call is refused, a 422 naming the field (``events.<n>.timestamp``) like any other invalid
event, and nothing of it is recorded. Refused rather than re-stamped with the server
time: a wrong device clock then shows up at the client instead of being archived as a
plausible row, and the check runs before any conversion, so dates that cannot be
converted to UTC (``0001-01-01T00:00:00+01:00``, once a 500) are refused the same way.
Unbounded, a view dated 2099 counted as recent until 2099 and a year-1 event was
accepted and then dropped by the archiver.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from pitchrec.domain.events import FeedbackEvent
from pitchrec.domain.feed import ItemKind

MAX_EVENTS = 1_000  # per POST /v1/events call
MAX_ID = 2**63 - 1
#: Oldest accepted event timestamp, before the server clock: an app replaying the offline
#: queue of a week without network still gets its events archived. Older, an event can no
#: longer meet its impression (kept 2 h, TrackingConfig.impression_ttl) and a wrong device
#: clock is the likelier cause than so late a delivery.
PAST_WINDOW = timedelta(days=7)
#: Latest accepted event timestamp, after the server clock: synchronised devices are
#: within a second; 5 minutes tolerates a drifting phone clock while no future-dated view
#: can pass for recent activity for long.
FUTURE_SKEW = timedelta(minutes=5)


class EventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    event_id: str = Field(min_length=1, max_length=128, description="Client-made, idempotent.")
    type: Literal["view", "like", "save", "match", "skip", "share"]
    user_id: int = Field(ge=0, le=MAX_ID)
    item_id: int = Field(ge=0, le=MAX_ID)
    item_type: ItemKind
    request_id: str | None = Field(default=None, max_length=128)
    position: int | None = Field(default=None, ge=1, le=1_000)
    value: float | None = Field(default=None, ge=0.0, le=1.0, description="Watch fraction.")
    timestamp: datetime | None = Field(
        default=None,
        description="When it happened (naive: UTC); within 7 days before and 5 minutes "
        "after the server clock.",
    )

    @field_validator("timestamp")
    @classmethod
    def _within_window(cls, stamp: datetime | None) -> datetime | None:
        """Refuse timestamps outside the window (module docstring); compared as aware
        datetimes, which never overflows (converting to UTC can, near years 1 and 9999)."""
        if stamp is None:
            return None
        aware = stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)
        skew = aware - datetime.now(UTC)
        if not -PAST_WINDOW <= skew <= FUTURE_SKEW:
            raise ValueError(
                "outside the accepted window: at most 7 days before and 5 minutes after "
                "the server clock"
            )
        return stamp


class EventsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: list[EventIn] = Field(min_length=1, max_length=MAX_EVENTS)


class EventsAccepted(BaseModel):
    accepted: int


def feedback_event(event: EventIn) -> FeedbackEvent:
    """The domain record of a validated event, its timestamp as naive UTC ISO-8601."""
    timestamp = None
    if event.timestamp is not None:
        stamp = event.timestamp
        if stamp.tzinfo is not None:
            stamp = stamp.astimezone(UTC).replace(tzinfo=None)
        timestamp = stamp.isoformat(timespec="microseconds")
    return FeedbackEvent(
        event_id=event.event_id,
        type=event.type,
        user_id=event.user_id,
        item_id=event.item_id,
        item_type=event.item_type.value,
        request_id=event.request_id,
        position=event.position,
        value=event.value,
        timestamp=timestamp,
    )
