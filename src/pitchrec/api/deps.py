"""Typed dependencies: the runtime built in the lifespan, and the admin bearer check."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pitchrec.api.runtime import Runtime

_bearer = HTTPBearer(auto_error=False)


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def require_admin(
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """401 without the right bearer token; 403 when no token is configured (the admin
    routes are then disabled, D-S2)."""
    token = runtime.settings.admin_token
    if token is None:
        raise HTTPException(403, "admin routes are disabled: set PITCHREC_ADMIN_TOKEN")
    expected = token.get_secret_value().encode()
    given = credentials.credentials.encode() if credentials is not None else b""
    if not hmac.compare_digest(given, expected):
        raise HTTPException(401, "a valid bearer token is required", {"WWW-Authenticate": "Bearer"})
