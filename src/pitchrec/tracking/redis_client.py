"""The one place Redis clients are made, with their timeouts named once.

Every client decodes responses (keys and values are UTF-8 text) and never retries on a
timeout: the callers degrade on purpose (spool, breaker) instead of waiting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import redis

if TYPE_CHECKING:
    import redis.asyncio as aioredis

#: Seconds for a request-path round trip; a local Redis answers in well under a
#: millisecond (bench/RESULTS.md), so this only bounds how long an outage can stall.
REQUEST_TIMEOUT_SECONDS = 0.25
#: Seconds for a round trip off the request path that must not be cut off early: the
#: spool's replays (:meth:`pitchrec.tracking.redis_store.RedisStore.background`). A
#: replay cut off by a timeout may have been applied, and is then written twice; at 120 ms
#: added per round trip a 1 MiB replay takes about 150 ms, close to the request timeout.
BACKGROUND_TIMEOUT_SECONDS = 5.0
#: Seconds for the serving process's own checks (readiness PING, reload announcements).
REDIS_TIMEOUT_SECONDS = 0.5
#: Seconds between PINGs on an idle pooled connection.
HEALTH_CHECK_SECONDS = 30


def redis_client(
    url: str,
    *,
    timeout: float = REQUEST_TIMEOUT_SECONDS,
    connect_timeout: float | None = None,
    **options: Any,
) -> redis.Redis:
    """A synchronous client; ``options`` go to redis-py (``encoding_errors``, ...)."""
    return redis.Redis.from_url(
        url,
        decode_responses=True,
        socket_timeout=timeout,
        socket_connect_timeout=timeout if connect_timeout is None else connect_timeout,
        retry_on_timeout=False,
        health_check_interval=HEALTH_CHECK_SECONDS,
        **options,
    )


def redis_async_client(url: str, *, listener: bool = False) -> aioredis.Redis:
    """An asyncio client for the serving process. ``listener``: a pub/sub connection,
    without a read timeout (it waits for messages)."""
    import redis.asyncio as aioredis

    if listener:
        return aioredis.Redis.from_url(
            url,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            health_check_interval=HEALTH_CHECK_SECONDS,
        )
    return aioredis.Redis.from_url(
        url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
    )
