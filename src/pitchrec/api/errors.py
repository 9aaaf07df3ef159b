"""Error responses: JSON naming the field, never a bare 500 (D-S4).

Shape: ``{"error": "<code>", "detail": [{"field": "...", "message": "..."}]}``. A 500, a
503 and a 409 also carry ``"request_id"`` (the ``X-Request-ID`` of the response and of the
log line holding the cause), so a client's report leads to the log; the 500 is answered by
the middleware (:mod:`pitchrec.api.middleware`), which still knows the request id when an
exception escapes a route or a dependency.

Their messages are fixed text: an exception's own text never reaches a client (a database
driver's names the host, the port, the user and the SQL; a snapshot error names paths).
A reload that cannot read the database is a 503 ``database_unavailable``; the current
snapshot is kept and served.
"""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from pitchrec.errors import (
    DataSourceError,
    InvalidRequestError,
    SnapshotError,
    TrackingFullError,
)
from pitchrec.index.lifecycle import EmptyCatalogueError
from pitchrec.legacy.params import TooManyIdsError
from pitchrec.logs import request_id_var

log = logging.getLogger(__name__)


#: The 503 of feedback the spool cannot keep (Redis down or slow for long); retry after
#: about the time a recovered Redis takes to drain a full spool (13.6 s measured after a
#: 10-minute outage, bench/RESULTS.md).
TRACKING_FULL = "events cannot be stored right now; retry later with the same event ids"
TRACKING_RETRY_AFTER_SECONDS = 15
#: The 503 of a reload whose build could not read the database.
DATABASE_UNAVAILABLE = "the database could not be read; the current snapshot is kept"
#: The 409 of a reload whose snapshot could not be read or written (paths stay in the log).
SNAPSHOT_UNUSABLE = "the new snapshot could not be loaded; the current snapshot is kept"


def error_response(
    status: int, code: str, field: str, message: str, *, with_request_id: bool = False
) -> Response:
    body: dict[str, object] = {"error": code, "detail": [{"field": field, "message": message}]}
    if with_request_id:
        body["request_id"] = request_id_var.get()
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


async def _tracking_full(_request: Request, _exc: Exception) -> Response:
    """Feedback the spool cannot keep: refused, not accepted and lost; the client retries
    (event ids make it safe)."""
    response = error_response(
        503, "tracking_unavailable", "events", TRACKING_FULL, with_request_id=True
    )
    response.headers["Retry-After"] = str(TRACKING_RETRY_AFTER_SECONDS)
    return response


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
        message = str(exc) if isinstance(exc, EmptyCatalogueError) else SNAPSHOT_UNUSABLE
        return error_response(409, "snapshot_refused", "snapshot", message, with_request_id=True)

    async def _database_unavailable(_request: Request, exc: Exception) -> Response:
        # A reload during a database outage: the old snapshot keeps being served.
        log.warning("database unavailable: %s", exc)
        return error_response(
            503, "database_unavailable", "database", DATABASE_UNAVAILABLE, with_request_id=True
        )

    app.add_exception_handler(DataSourceError, _database_unavailable)

    app.add_exception_handler(TrackingFullError, _tracking_full)

    app.add_exception_handler(SQLAlchemyError, _database_unavailable)

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
