"""The Redis writes of a served feed: the legacy ``user_activity`` payload, the session
set, the impressions and the archive entries, built as one :class:`FeedWrites`.

What is written names the *parsed* user only: ``user_activity:{id}`` and the events'
``user_id`` hold a valid id or the cold-start user 0 (the legacy's key for an absent
``SELF_ID``), never the value a client sent, which went verbatim into keys and every
event (three 100 KB ``SELF_ID`` strings added 17.6 MB to Redis). The request id that keys
impressions and archive rows must be server-made (the API makes one per request); a
client's ``X-Request-ID`` merged two users' impressions and archive rows.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pitchrec.domain.events import Impression
from pitchrec.domain.experiment import Assignment
from pitchrec.domain.feed import Feed, ItemKind
from pitchrec.legacy import events as legacy
from pitchrec.tracking.config import TrackingConfig
from pitchrec.tracking.experiment_writes import feed_counters
from pitchrec.tracking.store import FeedWrites, impression_field, impression_key

_SESSION_SAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass
class FeedContext:
    """What the legacy tracking payload needs besides the feed itself."""

    #: The user id as received. Not written: tracking writes the parsed
    #: ``feed.request.user_id`` (see the module docstring); kept for callers.
    raw_user: object
    endpoint: str  # total | discover | flow
    params: dict[str, Any]
    session_id: str | None
    request_id: str  # server-made, unique per request: impression key, archive event ids
    feed_type: Callable[[str], str]  # slot label -> legacy feed_type
    urls: dict[tuple[str, int], str]  # (kind, id) -> media URL
    #: The experiment variant that served the feed (None: no experiment).
    assignment: Assignment | None = None
    #: The blend-search arm (statistics key) that set the feed's points (None: off).
    blend_arm: int | None = None


def session_key(user: int | None, session_id: str | None, now: float) -> str:
    """Namespaced session key (D-S10): never the client's string verbatim."""
    who = "anon" if user is None else str(user)
    if session_id:
        return f"session:{who}:{_SESSION_SAFE.sub('_', session_id)[:128]}"
    return f"session:{who}:{int(now)}"  # the legacy per-second key


def build_feed_writes(
    cfg: TrackingConfig,
    feed: Feed,
    ctx: FeedContext,
    policy_version: int,
    timestamp: str,
    now: float,
) -> FeedWrites:
    """Everything ``feed`` leaves in Redis, served at ``timestamp`` (``now`` in seconds)."""
    user = feed.request.user_id
    tracked = legacy.COLD_START_USER if user is None else user
    session = session_key(user, ctx.session_id, now)
    request_event = legacy.feed_request_event(tracked, ctx.endpoint, ctx.params, timestamp, session)
    tags = ctx.assignment.tags() if ctx.assignment is not None else None
    if tags:
        request_event.update(tags)
    request_json = legacy.dumps(request_event)
    events = [request_json]
    archive = [
        legacy.request_row(request_event, legacy.stable_event_id(ctx.request_id, 0), request_json)
    ]
    impressions: dict[str, str] = {}
    for item in feed.items:
        kind = item.kind.value
        view = legacy.video_view_event(
            tracked,
            item.item_id,
            ctx.urls.get((kind, item.item_id), ""),
            item.position,
            ctx.feed_type(item.slot.value),
            timestamp,
            session,
        )
        if tags:
            view.update(tags)
        view_json = legacy.dumps(view)
        events.append(view_json)
        archive.append(
            legacy.impression_row(
                view,
                legacy.stable_event_id(ctx.request_id, item.position),
                view_json,
                is_challenge=item.kind is ItemKind.CHALLENGE,
                impressions_as_views=cfg.impressions_as_views,
            )
        )
        impressions[impression_field(kind, item.item_id)] = Impression(
            pool=item.pool.value,
            slot=item.slot.value,
            position=item.position,
            score=item.score,
            propensity=item.propensity,
            policy_version=policy_version,
            context=item.context,
            user_id=user,
            ts=timestamp,
            assignment=ctx.assignment,
            blend_arm=ctx.blend_arm,
        ).to_json()
    counters, counter_ttls = feed_counters(ctx.assignment, len(feed.items), now)
    # The legacy key (spec 4.2), of the parsed user: never ``user_activity:None``.
    return FeedWrites(
        activity_key=f"user_activity:{tracked}",
        activity_events=events,
        activity_ttl=cfg.activity_ttl,
        session_key=session + ":videos",
        session_members=[str(item.item_id) for item in feed.items],
        session_ttl=cfg.session_ttl,
        impressions_key=impression_key(ctx.request_id),
        impressions=impressions,
        impressions_ttl=cfg.impression_ttl,
        archive=archive,
        counters=counters,
        counter_ttls=counter_ttls,
    )
