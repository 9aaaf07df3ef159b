"""The operator dashboard at ``/dashboard``: one static page (``static/dashboard/``) whose
script reads JSON endpoints only (``/v1/stats``, ``/v1/policies``, ``/v1/experiments``,
``/readyz``) and draws their figures with uPlot, vendored from npm (``web/``) so that
nothing is fetched from outside at run time.

Signing in (:mod:`pitchrec.api.dashboard_access`): ``GET /dashboard?token=<token>`` with
the dashboard or the admin token answers 303 to ``/dashboard`` and sets the session
cookie (HttpOnly, SameSite=Strict, Secure over https), so the token leaves the address bar
and the history; a wrong token is a 401 page. Without a session (or a bearer token) the
page is a 401 that holds no data; without any token configured, a 403.
"""

from __future__ import annotations

from importlib import resources
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.responses import Response

from pitchrec.api.dashboard_access import (
    COOKIE,
    SESSION_SECONDS,
    dashboard_allowed,
    dashboard_tokens,
    matching_token,
    new_session,
)
from pitchrec.api.deps import RuntimeDep
from pitchrec.settings import Settings

#: Files the page loads, by the path under /dashboard/assets/, and their media types.
ASSETS = {
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
    "vendor/uPlot.iife.min.js": "text/javascript; charset=utf-8",
    "vendor/uPlot.min.css": "text/css; charset=utf-8",
}
#: The page runs only its own script, talks only to this origin and cannot be framed.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
LOCKED = (
    "This dashboard needs a token. Open /dashboard?token=&lt;token&gt; once with "
    "PITCHREC_DASHBOARD_TOKEN (read-only) or PITCHREC_ADMIN_TOKEN: the browser then keeps "
    "a session for 12 hours, and the token leaves the address bar."
)
WRONG = "That token does not open this dashboard."
DISABLED = (
    "The dashboard is disabled: set PITCHREC_DASHBOARD_TOKEN (or PITCHREC_ADMIN_TOKEN) and restart."
)
_bearer = HTTPBearer(auto_error=False)


def _read(name: str) -> bytes:
    return (resources.files("pitchrec.api") / "static" / "dashboard" / name).read_bytes()


def _is_https(request: Request) -> bool:
    """Whether the browser reached us over https: directly, or through a proxy that says
    so. Trusting a client's X-Forwarded-Proto here is safe: it can only make its own
    cookie stricter (Secure)."""
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


class _Pages:
    """The page and the sign-in page, read once when the app is made."""

    def __init__(self) -> None:
        self.page = _read("index.html")
        self._locked = _read("locked.html").decode()

    def locked(self, status: int, message: str) -> Response:
        """The sign-in page (no data) with a fixed ``message``."""
        body = self._locked.replace("{{message}}", message).encode()
        return Response(body, status, headers=PAGE_HEADERS, media_type="text/html")

    def sign_in(self, request: Request, settings: Settings, given: str) -> Response:
        """``?token=given``: 303 to the bare URL with a session cookie, or the 401 page."""
        tokens = dashboard_tokens(settings)
        if not tokens:
            return self.locked(403, DISABLED)
        token = matching_token(given, tokens)
        if token is None:
            return self.locked(401, WRONG)
        response = Response(status_code=303, headers={**PAGE_HEADERS, "Location": "/dashboard"})
        response.set_cookie(
            COOKIE,
            new_session(token),
            max_age=SESSION_SECONDS,
            path="/",
            secure=_is_https(request),
            httponly=True,
            samesite="strict",
        )
        return response


def dashboard_router() -> APIRouter:
    """The page, its assets, and sign-in/sign-out (not in the OpenAPI document)."""
    pages = _Pages()
    assets = {name: _read(name) for name in ASSETS}
    router = APIRouter(include_in_schema=False)

    @router.get("/dashboard")
    async def dashboard(
        request: Request,
        runtime: RuntimeDep,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> Response:
        """The page; ``?token=`` signs in (303 to the bare URL with a session cookie)."""
        given = request.query_params.get("token")  # read by hand: a 422 would echo it
        if given is not None:
            return pages.sign_in(request, runtime.settings, given)
        bearer = credentials.credentials if credentials is not None else None
        allowed = dashboard_allowed(request, runtime.settings, bearer)
        if allowed is None:
            return pages.locked(403, DISABLED)
        if not allowed:
            return pages.locked(401, LOCKED)
        return Response(pages.page, headers=PAGE_HEADERS, media_type="text/html")

    @router.get("/dashboard/logout")
    async def logout(request: Request) -> Response:
        """End the browser's session (the cookie is deleted) and show the sign-in page."""
        response = Response(status_code=303, headers={**PAGE_HEADERS, "Location": "/dashboard"})
        response.delete_cookie(
            COOKIE, path="/", secure=_is_https(request), httponly=True, samesite="strict"
        )
        return response

    @router.get("/dashboard/assets/{name:path}")
    async def asset(name: str) -> Response:
        """The page's script, styles and the vendored chart library (no data: public)."""
        body = assets.get(name)
        if body is None:
            return Response(b"not found", 404, media_type="text/plain")
        headers = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
        return Response(body, headers=headers, media_type=ASSETS[name])

    return router
