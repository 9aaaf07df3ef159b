"""Error responses: JSON naming the field, never a bare 500 (D-S4).

Shape: ``{"error": "<code>", "detail": [{"field": "...", "message": "..."}]}``. A 500 also
carries ``"request_id"`` (the ``X-Request-ID`` of the response and of the log line holding
the traceback), so a client's report leads to the traceback; it is answered by the
middleware (:mod:`pitchrec.api.middleware`), which still knows the request id when an
exception escapes a route or a dependency.
"""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from pitchrec.errors import InvalidRequestError, SnapshotError
from pitchrec.legacy.params import TooManyIdsError
from pitchrec.logs import request_id_var

log = logging.getLogger(__name__)


def error_response(status: int, code: str, field: str, message: str) -> Response:
    body = {"error": code, "detail": [{"field": field, "message": message}]}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


def internal_error_body(request_id: str) -> bytes:
    """The 500 envelope: no exception text (it is logged, never answered)."""
    body = {
        "error": "internal_error",
        "detail": [{"field": "-", "message": "unexpected server error"}],
        "request_id": request_id,
    }
    return orjson.dumps(body)


def _field(location: tuple[object, ...] | list[object]) -> str:
    parts = [str(p) for p in location if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> Response:
        detail = [
            {"field": _field(error.get("loc", ())), "message": str(error.get("msg", "invalid"))}
            for error in exc.errors()
        ]
        body = {"error": "validation_error", "detail": detail}
        return Response(orjson.dumps(body), status_code=422, media_type="application/json")

    @app.exception_handler(InvalidRequestError)
    async def _invalid(_request: Request, exc: InvalidRequestError) -> Response:
        if isinstance(exc, TooManyIdsError):
            return error_response(413, "too_many_ids", exc.field, exc.message)
        return error_response(422, "invalid_request", exc.field, exc.message)

    @app.exception_handler(SnapshotError)
    async def _snapshot_refused(_request: Request, exc: SnapshotError) -> Response:
        # A reload that cannot produce a servable snapshot: the current one is kept.
        log.warning("reload refused: %s", exc)
        return error_response(409, "snapshot_refused", "snapshot", str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:  # the legacy (FastAPI default) body, spec 3.9
            return Response(b'{"detail":"Not Found"}', 404, media_type="application/json")
        code = "method_not_allowed" if exc.status_code == 405 else "http_error"
        response = error_response(exc.status_code, code, "path", str(exc.detail))
        for name, value in (exc.headers or {}).items():
            response.headers[name] = value
        return response

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception) -> Response:
        # Reached only by an error of the middleware itself: it answers every other one.
        log.error("unhandled error", exc_info=exc)
        body = internal_error_body(request_id_var.get())
        return Response(body, status_code=500, media_type="application/json")
