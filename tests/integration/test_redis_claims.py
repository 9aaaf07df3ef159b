"""Two test runs on one Redis server never flush each other's database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from redis_claim import TEST_DATABASES, claim_database, claim_key, release_database


@pytest.fixture
def claims(redis_url: str) -> Iterator[redis.Redis]:
    """A client on database 0, where the claims live (the server of ``redis_url``)."""
    client = redis.Redis.from_url(redis_url.rsplit("/", 1)[0] + "/0")
    yield client
    client.close()


def test_a_held_database_is_not_handed_to_another_run(redis_url: str, claims: redis.Redis) -> None:
    """This test holds ``redis_url``'s database; another run asking now gets another one
    (before the claims, every run used database 15)."""
    mine = int(redis_url.rsplit("/", 1)[1])
    assert claims.get(claim_key(mine)) is not None
    other = claim_database(claims, "another-run", wait=1.0)
    try:
        assert other != mine and other in TEST_DATABASES
    finally:
        release_database(claims, other, "another-run")
    assert claims.get(claim_key(other)) is None


def test_a_claim_is_only_released_by_its_owner(claims: redis.Redis) -> None:
    database = claim_database(claims, "run-a", wait=1.0)
    try:
        release_database(claims, database, "run-b")
        assert claims.get(claim_key(database)) == b"run-a"
    finally:
        release_database(claims, database, "run-a")
