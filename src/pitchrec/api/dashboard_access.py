"""Who may read the operator dashboard and the JSON it reads.

Two tokens open it: ``PITCHREC_DASHBOARD_TOKEN`` (read-only) and ``PITCHREC_ADMIN_TOKEN``.
A client shows one of them as ``Authorization: Bearer <token>``; a browser opens
``/dashboard?token=<token>`` once and from then on carries a session cookie
(:data:`COOKIE`), which :func:`require_dashboard` accepts beside the bearer token. The
cookie opens read-only GET routes only: the admin routes check the bearer token alone
(:func:`pitchrec.api.deps.require_admin`), so a page on another site can never make the
browser reload anything, and SameSite=Strict keeps the cookie off cross-site requests.

The cookie holds ``v1.<expires>.<mac>``, where ``mac`` is HMAC-SHA256 keyed by the token
over ``expires`` (unix seconds, :data:`SESSION_SECONDS` ahead), never the token itself:

* a cookie that leaks (a browser profile, a proxy that logs cookies) opens the dashboard
  until it expires, and cannot be turned into the token, so never into the admin routes
  when an admin signed in with the admin token;
* the expiry is part of what is signed, so it is enforced by the server, not only by the
  browser's Max-Age;
* rotating the token ends every session at once, with no session store (and every
  replica and worker accepts a cookie made by any other).

Comparisons are constant-time (:func:`hmac.compare_digest` over fixed-length digests), and
every configured token is tried whichever matches. Tokens are never logged: the access log
names the route template, not the query string.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from pitchrec.api.deps import RuntimeDep
from pitchrec.settings import Settings

#: Name of the session cookie.
COOKIE = "pitchrec_dashboard"
#: How long a session lasts: a working day; then the token is asked for again.
SESSION_SECONDS = 12 * 3600
_LABEL = b"pitchrec dashboard session v1|"
_MAX_COOKIE = 128  # "v1." + 10-digit expiry + "." + 43 characters of MAC: about 57

_bearer = HTTPBearer(auto_error=False)
DISABLED = "the dashboard is disabled: set PITCHREC_DASHBOARD_TOKEN (or PITCHREC_ADMIN_TOKEN)"
UNAUTHORISED = "a dashboard session or bearer token is required"


def dashboard_tokens(settings: Settings) -> list[bytes]:
    """The tokens that open the dashboard: the dashboard token and the admin token, when set."""
    tokens = (settings.dashboard_token, settings.admin_token)
    return [token.get_secret_value().encode() for token in tokens if token is not None]


def matching_token(given: str, tokens: list[bytes]) -> bytes | None:
    """The configured token equal to ``given``, or None. Compares SHA-256 digests in
    constant time, against every token (no early exit, no length leak)."""
    digest = hashlib.sha256(given.encode("utf-8", "surrogateescape")).digest()
    found = None
    for token in tokens:
        if hmac.compare_digest(digest, hashlib.sha256(token).digest()):
            found = token
    return found


def session_value(token: bytes, expires: int) -> str:
    """The cookie value of a session signed with ``token`` that ends at ``expires``."""
    mac = hmac.new(token, _LABEL + str(expires).encode(), hashlib.sha256).digest()
    return f"v1.{expires}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def new_session(token: bytes, now: float | None = None) -> str:
    """A session cookie value signed with ``token``, valid for :data:`SESSION_SECONDS`."""
    return session_value(token, int(now if now is not None else time.time()) + SESSION_SECONDS)


def valid_session(value: str | None, tokens: list[bytes], now: float | None = None) -> bool:
    """Whether ``value`` is an unexpired session signed with one of ``tokens``."""
    if not value or len(value) > _MAX_COOKIE:
        return False
    version, _, rest = value.partition(".")
    stamp, _, _mac = rest.partition(".")
    if version != "v1" or not (stamp.isascii() and stamp.isdigit()) or len(stamp) > 12:
        return False
    expires = int(stamp)
    now = time.time() if now is None else now
    if not now < expires <= now + SESSION_SECONDS + 60:  # 60 s of clock skew between replicas
        return False
    given = value.encode()
    ok = False
    for token in tokens:
        ok |= hmac.compare_digest(session_value(token, expires).encode(), given)
    return ok


def dashboard_allowed(request: Request, settings: Settings, bearer: str | None) -> bool | None:
    """None when the dashboard is disabled (no token configured), else whether ``request``
    shows a valid bearer token or session cookie."""
    tokens = dashboard_tokens(settings)
    if not tokens:
        return None
    if bearer is not None and matching_token(bearer, tokens) is not None:
        return True
    return valid_session(request.cookies.get(COOKIE), tokens)


def require_dashboard(
    request: Request,
    runtime: RuntimeDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> None:
    """For read-only routes the dashboard reads: 401 without a valid bearer token or
    session cookie; 403 when neither token is configured."""
    bearer = credentials.credentials if credentials is not None else None
    allowed = dashboard_allowed(request, runtime.settings, bearer)
    if allowed is None:
        raise HTTPException(403, DISABLED)
    if not allowed:
        raise HTTPException(401, UNAUTHORISED, {"WWW-Authenticate": "Bearer"})


DashboardAccess = Depends(require_dashboard)
