"""One pure-ASGI middleware: request ids, body size limit, latency metric, access log, and
the JSON 500 of any exception a route or a dependency lets escape.

Pure ASGI (not BaseHTTPMiddleware) to keep the per-request overhead small: the service
targets about 1 ms of engine time per feed.

Two ids per request, because a client's id is neither unique nor ours:

* the *request id* (``request_id_var``, every log line, the ``X-Request-ID`` response
  header, a 500's body): the client's ``X-Request-ID`` when it is sane (so a caller can
  follow its own id through our logs), else the server id;
* the *server id* (:func:`server_request_id`, the ``X-Server-Request-ID`` header and the
  access log's ``server_request_id``): a uuid4 made here for every request. It alone keys
  what tracking writes (``pitchrec:imp:{id}``, the archive rows' event ids) and is the v1
  feed's ``request_id``: two feeds sent with the same ``X-Request-ID`` once merged their
  impressions and overwrote each other's archive rows.

Without a client id both are the same value. Starlette answers an escaped exception from
its outermost layer, outside this middleware, without the request id; so it is caught
here, logged with its traceback, and answered with the JSON error envelope
(:func:`pitchrec.api.errors.internal_error_body`) while the request id is still known.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from contextvars import ContextVar
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pitchrec.api.errors import internal_error_body
from pitchrec.api.telemetry import Telemetry
from pitchrec.logs import request_id_var

log = logging.getLogger("pitchrec.access")
errors_log = logging.getLogger("pitchrec.api.errors")
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

#: The server-made id of the request being handled (None outside a request).
server_request_id_var: ContextVar[str | None] = ContextVar("server_request_id", default=None)


def new_request_id() -> str:
    """A fresh server-made id: 32 hex digits (uuid4), unique per request."""
    return uuid.uuid4().hex


def server_request_id() -> str:
    """The server id of the current request (a fresh one outside the middleware)."""
    current = server_request_id_var.get()
    return current if current is not None else new_request_id()


def _too_large(limit: int) -> bytes:
    return orjson.dumps(
        {
            "error": "payload_too_large",
            "detail": [{"field": "body", "message": f"request body over {limit} bytes"}],
        }
    )


class _BodyTooLargeError(Exception):
    pass


class _Exchange:
    """One request's ids, and what was sent of its response."""

    def __init__(self, scope: Scope, send: Send) -> None:
        self.started = time.perf_counter()
        self.server_id = new_request_id()
        self.request_id = _client_request_id(scope) or self.server_id
        self.status = 500
        self.response_started = False
        self._send = send

    def id_headers(self) -> list[tuple[bytes, bytes]]:
        return [
            (b"x-request-id", self.request_id.encode()),
            (b"x-server-request-id", self.server_id.encode()),
        ]

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.response_started = True
            headers = list(message.get("headers", [])) + self.id_headers()
            message = {**message, "headers": headers}
        await self._send(message)

    async def send_json(self, status: int, body: bytes) -> None:
        """A whole JSON response, with the id headers."""
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await self.send({"type": "http.response.start", "status": status, "headers": headers})
        await self.send({"type": "http.response.body", "body": body})


def _client_request_id(scope: Scope) -> str | None:
    """The client's ``X-Request-ID`` when it is sane (for logs and headers only)."""
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            candidate: str = value.decode("latin-1")
            return candidate if _SAFE_ID.match(candidate) else None
    return None


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class ServiceMiddleware:
    def __init__(self, app: ASGIApp, telemetry: Telemetry, max_body_bytes: int) -> None:
        self.app = app
        self.telemetry = telemetry
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exchange = _Exchange(scope, send)
        token = request_id_var.set(exchange.request_id)
        server_token = server_request_id_var.set(exchange.server_id)
        try:
            await self._handle(scope, receive, exchange)
        finally:
            self._record(scope, exchange)
            server_request_id_var.reset(server_token)
            request_id_var.reset(token)

    async def _handle(self, scope: Scope, receive: Receive, exchange: _Exchange) -> None:
        limit = self.max_body_bytes
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await exchange.send_json(413, _too_large(limit))
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLargeError
            return message

        try:
            await self.app(scope, limited_receive, exchange.send)
        except _BodyTooLargeError:
            await exchange.send_json(413, _too_large(limit))
        except Exception as exc:
            errors_log.error("unhandled error", exc_info=exc)
            if exchange.response_started:
                raise  # nothing can be answered any more: the server closes the connection
            await exchange.send_json(500, internal_error_body(exchange.request_id))

    def _record(self, scope: Scope, exchange: _Exchange) -> None:
        seconds = time.perf_counter() - exchange.started
        route: Any = scope.get("route")
        template = getattr(route, "path", None) or "unmatched"
        method = scope.get("method", "")
        status = exchange.status
        self.telemetry.observe_request(template, method, status, seconds)
        log.info(
            "request",
            extra={
                "method": method,
                "route": template,
                "status": status,
                "ms": round(seconds * 1000, 3),
                "server_request_id": exchange.server_id,
            },
        )
