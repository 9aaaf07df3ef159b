"""Shared fixtures: a fresh SQLite file per test, and for integration tests a database of
its own on the real MariaDB and a Redis database, both cleaned up afterwards.

Server-backed fixtures skip with a one-line reason when the server is not reachable, unless
``PITCHREC_REQUIRE_SERVERS=1`` (set by ``.ci/run``), which turns a missing server into a
failure.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

# Golden feeds (tests/golden) are compared to 10 significant digits, but numpy's exp/log
# and OpenBLAS choose their kernels by CPU (AVX-512 or AVX2): the last bits differ, and
# through 15 ALS iterations and tempered draws so do whole feeds (goldens written on an
# AVX-512 machine failed on an AVX2 one, 2026-11-30). Every test process, and the server
# processes it starts, uses the AVX2 kernels: before numpy loads, hence before pytest.
os.environ.setdefault("NPY_DISABLE_CPU_FEATURES", "X86_V4 AVX512_ICL AVX512_SPR")
os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")

import pytest

from mariadb_admin import MARIADB_HOST, MARIADB_PORT, MARIADB_USER, drop_database

REDIS_HOST = os.environ.get("PITCHREC_TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("PITCHREC_TEST_REDIS_PORT", "6379"))


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def _require(host: str, port: int, what: str) -> None:
    if _reachable(host, port):
        return
    message = f"{what} not reachable on {host}:{port}"
    if os.environ.get("PITCHREC_REQUIRE_SERVERS") == "1":
        pytest.fail(message + " (PITCHREC_REQUIRE_SERVERS=1)")
    pytest.skip(message)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a new, empty SQLite file."""
    return f"sqlite:///{tmp_path / 'pitchrec.db'}"


@pytest.fixture
def mariadb_url() -> Iterator[str]:
    """URL of a new, empty database on the real MariaDB, dropped after the test."""
    _require(MARIADB_HOST, MARIADB_PORT, "MariaDB")
    import pymysql

    name = f"pitchrec_test_{uuid.uuid4().hex[:12]}"
    admin = pymysql.connect(
        host=MARIADB_HOST, port=MARIADB_PORT, user=MARIADB_USER, password="", autocommit=True
    )
    try:
        with admin.cursor() as cursor:
            # The name is made here from hex digits, never from input; identifiers cannot be
            # bound parameters.
            cursor.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        yield f"mysql+pymysql://{MARIADB_USER}@{MARIADB_HOST}:{MARIADB_PORT}/{name}"
    finally:
        drop_database(admin, name)
        admin.close()


@pytest.fixture
def redis_url() -> Iterator[str]:
    """URL of a Redis database this test holds, flushed before and after it.

    The database is claimed (``redis_claim``), so a second test run on the same server
    gets another one instead of flushing this run's keys mid-test.
    """
    _require(REDIS_HOST, REDIS_PORT, "Redis")
    import redis

    from redis_claim import claim_database, owner_name, release_database

    claims = redis.Redis(host=REDIS_HOST, port=REDIS_PORT, db=0)
    owner = owner_name()
    database = claim_database(claims, owner)
    url = f"redis://{REDIS_HOST}:{REDIS_PORT}/{database}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()
        release_database(claims, database, owner)
        claims.close()
