"""The legacy routes, byte-compatible with the TalentPitch service (spec 3).

``POST {prefix}/search/total|discover|flow|reload`` plus the unprefixed ``GET /`` and
``GET /health`` and, when ``API_PATH`` is set, ``GET {API_PATH}``.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Request
from starlette.responses import Response

from pitchrec.api.deps import RuntimeDep, require_admin
from pitchrec.api.errors import error_response
from pitchrec.api.middleware import server_request_id
from pitchrec.api.runtime import Runtime
from pitchrec.domain.feed import Feed, FeedKind, FeedRequest
from pitchrec.legacy.params import parse_legacy_body
from pitchrec.recommender import Recommender, RequestInfo

VERSION = "2.0"  # spec 3.1
TITLE = "TalentPitch Search API"

_ALIAS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Legacy body (spec 3.2-3.5). Every alias is accepted on every route.",
    "properties": {
        name: {"description": description}
        for name, description in (
            ("SELF_ID", "viewer id (int or digit string); absent, 0 or unknown: cold start"),
            ("user_id", "viewer id, alias of SELF_ID"),
            ("excluded_ids", "ids already shown: a JSON list or a comma-separated string"),
            ("LAST_IDS", "alias of excluded_ids"),
            ("videos_excluidos", "alias of excluded_ids"),
            ("MAX_SIZE", "accepted and ignored: the legacy feeds hold up to 24 items"),
            ("size", "alias of MAX_SIZE"),
            ("session_id", "client session id, used for tracking"),
        )
    },
}
_OPENAPI_BODY = {
    "requestBody": {
        "required": False,
        "content": {"application/json": {"schema": _ALIAS_SCHEMA}},
    }
}


def json_response(content: object, status: int = 200) -> Response:
    return Response(orjson.dumps(content), status_code=status, media_type="application/json")


def not_ready(runtime: Runtime) -> Response:
    """503 with a generic reason (never an exception's text) and the request id."""
    return error_response(503, "not_ready", "-", runtime.not_ready_reason(), with_request_id=True)


async def legacy_feed(kind: FeedKind, request: Request, runtime: Runtime) -> Response:
    raw = await request.body()
    try:
        body = orjson.loads(raw) if raw.strip() else {}
    except orjson.JSONDecodeError:
        return error_response(400, "invalid_json", "body", "the body is not valid JSON")
    params = parse_legacy_body(kind, body, max_exclusions=runtime.settings.max_exclusions)
    if not await runtime.wait_ready():
        return not_ready(runtime)
    feed_request = FeedRequest(kind=kind, user_id=params.user_id, exclude=params.exclude)
    tracked: dict[str, Any] = (
        {"excluded_count": len(params.exclude)} if kind is FeedKind.TOTAL else {"size": params.size}
    )
    info = RequestInfo(
        request_id=server_request_id(),  # never the client's X-Request-ID
        endpoint=kind.value,
        raw_user=params.tracked_user,
        params=tracked,
        session_id=params.session_id,
    )
    _feed, body = await runtime.feed(feed_request, info, render=_render_legacy)
    return Response(body, media_type="application/json")


def _render_legacy(recommender: Recommender, feed: Feed) -> bytes:
    return orjson.dumps(recommender.legacy_response(feed))


def legacy_router(prefix: str) -> APIRouter:
    router = APIRouter(prefix=prefix, tags=["legacy"])

    @router.post("/search/total", openapi_extra=_OPENAPI_BODY)
    async def search_total(request: Request, runtime: RuntimeDep) -> Response:
        """Mixed feed: up to 24 items, pattern VMP AU AU VMP NU FW (spec 3.3)."""
        return await legacy_feed(FeedKind.TOTAL, request, runtime)

    @router.post("/search/discover", openapi_extra=_OPENAPI_BODY)
    async def search_discover(request: Request, runtime: RuntimeDep) -> Response:
        """Resumes only: up to 24 (spec 3.4)."""
        return await legacy_feed(FeedKind.DISCOVER, request, runtime)

    @router.post("/search/flow", openapi_extra=_OPENAPI_BODY)
    async def search_flow(request: Request, runtime: RuntimeDep) -> Response:
        """Challenges only: up to 24, wrapping around when all are excluded (spec 3.5)."""
        return await legacy_feed(FeedKind.FLOW, request, runtime)

    @router.post("/search/reload", dependencies=[Depends(require_admin)])
    async def search_reload(runtime: RuntimeDep) -> Response:
        """Rebuild the snapshot and announce it to every replica (bearer token required)."""
        await runtime.reload()
        return json_response({"statusCode": 200, "message": "Data reloaded successfully"})

    return router


def install_root_routes(app: FastAPI, api_path: str) -> None:
    """Unprefixed routes (spec 3.7). They check nothing: /readyz does."""

    @app.get("/", tags=["legacy"])
    async def root() -> Response:
        return json_response({"message": TITLE, "status": "ok", "version": VERSION})

    @app.get("/health", tags=["legacy"])
    async def health() -> Response:
        return json_response({"status": "healthy", "version": VERSION})

    if api_path:

        @app.get(api_path, tags=["legacy"])
        async def api_root() -> Response:
            body = {"message": TITLE, "status": "ok", "version": VERSION, "path": api_path}
            return json_response(body)
