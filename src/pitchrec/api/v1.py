"""The typed v1 API: feeds with honoured sizes, and feedback events.

Every request and response is a pydantic model, so the OpenAPI document is complete.
The events' body, the window their timestamps must fall in and their domain record are
:mod:`pitchrec.api.v1_events`; the probes outside ``/v1`` (``/healthz``, ``/readyz``,
``/metrics``) are :mod:`pitchrec.api.operations`.

The ``request_id`` of a served feed is server-made (see :mod:`pitchrec.api.middleware`),
never the client's ``X-Request-ID``.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import anyio
from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field
from starlette.responses import Response

from pitchrec.api.deps import RuntimeDep, require_admin
from pitchrec.api.legacy import json_response, not_ready
from pitchrec.api.middleware import server_request_id
from pitchrec.api.v1_events import FUTURE_SKEW as FUTURE_SKEW  # re-exported
from pitchrec.api.v1_events import MAX_ID, EventsAccepted, EventsIn, feedback_event
from pitchrec.api.v1_events import PAST_WINDOW as PAST_WINDOW  # re-exported
from pitchrec.domain.explanation import Reason
from pitchrec.domain.feed import Feed, FeedKind, FeedRequest, ItemKind, Pool
from pitchrec.legacy.params import parse_id_csv
from pitchrec.recommender import RequestInfo


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


class PoliciesOut(BaseModel):
    version: int = Field(description="Statistics version (bumped to reset learning).")
    window_seconds: float | None = Field(
        description="Seconds of statistics served (PITCHREC_LEARNING_WINDOW_DAYS); null: all."
    )
    pools: dict[str, dict[str, Any]]


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
