"""Error responses: JSON naming the field, never a bare 500 (D-S4).

Shape: ``{"error": "<code>", "detail": [{"field": "...", "message": "..."}]}``.
"""

from __future__ import annotations

import logging

import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from pitchrec.errors import InvalidRequestError
from pitchrec.legacy.params import TooManyIdsError

log = logging.getLogger(__name__)


def error_response(status: int, code: str, field: str, message: str) -> Response:
    body = {"error": code, "detail": [{"field": field, "message": message}]}
    return Response(orjson.dumps(body), status_code=status, media_type="application/json")


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
        log.error("unhandled error", exc_info=exc)
        return error_response(500, "internal_error", "-", "unexpected server error")
