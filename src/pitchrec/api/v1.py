"""The typed v1 API: feeds with honoured sizes, and feedback events.

Every request and response is a pydantic model, so the OpenAPI document is complete.

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

The ``request_id`` of a served feed is server-made (see :mod:`pitchrec.api.middleware`),
never the client's ``X-Request-ID``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.responses import Response

from pitchrec.api.deps import RuntimeDep, require_admin
from pitchrec.api.errors import error_response
from pitchrec.api.legacy import json_response, not_ready
from pitchrec.api.middleware import server_request_id
from pitchrec.api.runtime import Runtime
from pitchrec.domain.events import FeedbackEvent
from pitchrec.domain.explanation import Reason
from pitchrec.domain.feed import Feed, FeedKind, FeedRequest, ItemKind, Pool
from pitchrec.legacy.params import parse_id_csv
from pitchrec.recommender import RequestInfo

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


class ExplanationOut(BaseModel):
    """Why the item is there (``explain=true``): see :mod:`pitchrec.ranking.explain`."""

    pool: Pool
    slot: Pool
    score: float = Field(description="The score explained; the components add up to it.")
    components: dict[str, float] = Field(
        description="Score points by component: popularity_prior, collaborative_affinity, "
        "skill_match, social_tie, freshness, item_quality, learned (what feedback taught), "
        "exploration_bonus, noise (random draws), other."
    )
    learned: dict[str, float] = Field(description="The learned component, by component.")
    reason: Reason | None = Field(description="The fallback that placed it, if any.")
    sentence: str


class FeedItemOut(BaseModel):
    id: int
    type: ItemKind
    position: int
    pool: Pool = Field(description="Where the item came from (EXPLORE for fallbacks).")
    slot: Pool = Field(description="The pattern slot it fills (the legacy label).")
    creator_id: int
    score: float
    explanation: ExplanationOut | None = Field(
        default=None, description="With explain=true only (absent otherwise)."
    )


#: What a feed body leaves out unless explanations were asked for (the default body is
#: the same as before explanations existed).
WITHOUT_EXPLANATIONS = {"items": {"__all__": {"explanation"}}}


class FeedOut(BaseModel):
    request_id: str
    kind: FeedKind
    user_id: int | None
    seed: int = Field(description="Replays this exact feed when sent back with the request.")
    items: list[FeedItemOut]
    metrics: dict[str, Any]
    snapshot_built_at: float

    @classmethod
    def from_feed(cls, feed: Feed, request_id: str, snapshot_built_at: float) -> FeedOut:
        """The body of a served feed (built without re-validating what the engine made)."""
        explanations = feed.explanations or (None,) * len(feed.items)
        items = [
            FeedItemOut.model_construct(
                id=item.item_id,
                type=item.kind,
                position=item.position,
                pool=item.pool,
                slot=item.slot,
                creator_id=item.creator_id,
                score=item.score,
                explanation=None
                if explanation is None
                else ExplanationOut.model_construct(
                    pool=item.pool,
                    slot=item.slot,
                    score=explanation.score,
                    components=explanation.components,
                    learned=explanation.learned,
                    reason=explanation.reason,
                    sentence=explanation.sentence,
                ),
            )
            for item, explanation in zip(feed.items, explanations, strict=True)
        ]
        return cls.model_construct(
            request_id=request_id,
            kind=feed.request.kind,
            user_id=feed.request.user_id,
            seed=feed.seed,
            items=items,
            metrics=feed.metrics.as_dict(),
            snapshot_built_at=snapshot_built_at,
        )


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


class PoliciesOut(BaseModel):
    version: int = Field(description="Statistics version (bumped to reset learning).")
    pools: dict[str, dict[str, Any]]


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


class ReloadOut(BaseModel):
    status: Literal["reloaded"]
    snapshot_built_at: float


def v1_router() -> APIRouter:
    router = APIRouter(prefix="/v1", tags=["v1"])

    @router.get(
        "/feed/{kind}",
        response_model=FeedOut,
        responses={
            413: {"description": "Too many excluded ids"},
            503: {"description": "Not ready"},
        },
    )
    async def get_feed(
        kind: Annotated[FeedKind, Path(description="total, discover or flow")],
        runtime: RuntimeDep,
        user_id: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
        exclude: Annotated[str | None, Query(max_length=200_000)] = None,
        size: Annotated[int, Query(ge=1, le=100)] = 24,
        session_id: Annotated[str | None, Query(max_length=128)] = None,
        seed: Annotated[int | None, Query(ge=0, le=MAX_ID)] = None,
        explain: Annotated[
            bool, Query(description="Add each item's score decomposition and a sentence.")
        ] = False,
    ) -> Response:
        """A feed of ``size`` items; unknown or absent users get a cold-start feed. While
        an experiment is configured the body also names the ``variant`` that served it."""
        excluded = parse_id_csv("exclude", exclude or "", runtime.settings.max_exclusions)
        if not await runtime.wait_ready():
            return not_ready(runtime)
        request = FeedRequest(
            kind=kind, user_id=user_id, exclude=excluded, size=size, seed=seed, explain=explain
        )
        request_id = server_request_id()  # never the client's X-Request-ID
        info = RequestInfo(
            request_id=request_id,
            endpoint=f"v1/{kind.value}",
            raw_user=0 if user_id is None else user_id,
            params={"size": size, "excluded_count": len(excluded)},
            session_id=session_id,
        )
        feed, _ = await runtime.feed(request, info)
        assert runtime.recommender is not None
        body = FeedOut.from_feed(feed, request_id, runtime.recommender.snapshot.built_at)
        payload = body.model_dump(mode="json", exclude=None if explain else WITHOUT_EXPLANATIONS)
        if feed.variant is not None:  # an experiment runs (GET /v1/experiments)
            payload["variant"] = feed.variant
        return json_response(payload)

    @router.post("/events", status_code=202, response_model=EventsAccepted)
    async def post_events(payload: EventsIn, runtime: RuntimeDep) -> EventsAccepted:
        """Feedback events (at most 1,000 a call); 202 with how many were accepted."""
        events = [feedback_event(event) for event in payload.events]
        # One Redis round trip (or the spool): in a thread, off the event loop.
        accepted = await anyio.to_thread.run_sync(runtime.service.record_events, events)
        runtime.telemetry.events.labels("accepted").inc(accepted)
        return EventsAccepted(accepted=accepted)

    @router.get("/policies", response_model=PoliciesOut)
    async def get_policies(runtime: RuntimeDep) -> Response:
        """Per pool: the policy kind, version, updates applied and current weights (theta)."""
        return json_response(runtime.service.learner.describe())

    @router.post(
        "/admin/reload",
        response_model=ReloadOut,
        dependencies=[Depends(require_admin)],
        responses={
            409: {"description": "The new snapshot was refused; the current one is kept"},
            503: {"description": "The database is unavailable; the current one is kept"},
        },
    )
    async def admin_reload(runtime: RuntimeDep) -> Response:
        """Rebuild the snapshot aside, swap it, and announce it to every replica."""
        await runtime.reload()
        assert runtime.recommender is not None
        built_at = runtime.recommender.snapshot.built_at
        return json_response({"status": "reloaded", "snapshot_built_at": built_at})

    return router


async def _readiness(runtime: Runtime) -> Response:
    """The readiness answer: the snapshot is loaded and Redis answers when configured."""
    if not runtime.ready:
        return not_ready(runtime)
    redis = await runtime.redis_ok()
    if redis is False and runtime.settings.ready_requires_redis:
        return error_response(
            503, "not_ready", "redis", "Redis does not answer", with_request_id=True
        )
    assert runtime.recommender is not None
    snapshot = runtime.recommender.snapshot
    body = {
        "status": "ready",
        "snapshot_built_at": snapshot.built_at,
        "resumes": len(snapshot.resumes),
        "challenges": len(snapshot.challenges),
        "redis": {None: "not configured", True: "ok", False: "down"}[redis],
    }
    return json_response(body)


def headers_only(response: Response) -> Response:
    """``response``'s status and headers (its length included, as HTTP asks of HEAD)
    without the body: what a HEAD probe gets. Load balancers probe with HEAD: it was a 405."""
    return Response(b"", status_code=response.status_code, headers=dict(response.headers))


def ops_router() -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/healthz")
    async def healthz() -> Response:
        """Liveness: the process answers. No I/O."""
        return json_response({"status": "ok"})

    @router.head("/healthz")
    async def healthz_head() -> Response:
        """Liveness for HEAD probes: GET's status and headers, no body."""
        return headers_only(await healthz())

    @router.get("/readyz")
    async def readyz(runtime: RuntimeDep) -> Response:
        """Readiness: the snapshot is loaded and Redis answers when configured."""
        return await _readiness(runtime)

    @router.head("/readyz")
    async def readyz_head(runtime: RuntimeDep) -> Response:
        """Readiness for HEAD probes: GET's status and headers, no body."""
        return headers_only(await _readiness(runtime))

    @router.get("/metrics")
    async def metrics(request: Request) -> Response:
        """Prometheus text format."""
        runtime: Runtime = request.app.state.runtime
        return Response(runtime.telemetry.render(), media_type=runtime.telemetry.content_type)

    return router
