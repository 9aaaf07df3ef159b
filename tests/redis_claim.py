"""Which Redis database a test run may flush: claimed, never assumed.

Two test runs on one Redis server (a developer's and CI's, or two sessions' on a shared
machine) used to share database 15 and FLUSHDB each other's keys in the middle of a test
(seen 2026-11-30: ``no such key`` failures traced with MONITOR to the other run's flush).
A run now claims a database with ``SET NX`` on a key in database 0 that expires, and
flushes only the one it holds.
"""

from __future__ import annotations

import os
import time
from typing import Any

#: Databases tests may claim, in order. 14 and 11 are the benchmarks' (bench/run_all.sh,
#: bench/slow_redis.py), 0 holds the claims.
TEST_DATABASES = (15, 13, 12, 10, 9, 8)
#: A claim outlives any single test (the slowest takes about a minute) and expires if the
#: run dies without releasing it.
CLAIM_SECONDS = 900
WAIT_SECONDS = 120.0


def claim_key(database: int) -> str:
    return f"pitchrec-tests:claim:{database}"


def claim_database(claims: Any, owner: str, wait: float = WAIT_SECONDS) -> int:
    """The first database of :data:`TEST_DATABASES` that ``claims`` (a redis client on
    database 0) lets ``owner`` hold; waits up to ``wait`` seconds for one to free up."""
    deadline = time.monotonic() + wait
    while True:
        for database in TEST_DATABASES:
            if claims.set(claim_key(database), owner, nx=True, ex=CLAIM_SECONDS):
                return database
        if time.monotonic() > deadline:
            raise TimeoutError(f"every test Redis database {TEST_DATABASES} is claimed")
        time.sleep(0.05)


def release_database(claims: Any, database: int, owner: str) -> None:
    """Drop the claim if ``owner`` still holds it."""
    if claims.get(claim_key(database)) == owner.encode():
        claims.delete(claim_key(database))


def owner_name() -> str:
    return f"{os.uname().nodename}:{os.getpid()}"
