"""The operations routes, outside ``/v1``: liveness (``/healthz``), readiness
(``/readyz``), each also answering HEAD probes, and the Prometheus ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from pitchrec.api.deps import RuntimeDep
from pitchrec.api.errors import error_response
from pitchrec.api.legacy import json_response, not_ready
from pitchrec.api.runtime import Runtime


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
