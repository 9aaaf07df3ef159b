"""The per-test database is dropped even when a test leaks a connection holding a lock in
it: a leaked open transaction once made DROP DATABASE wait for the garbage collector (a CI
run took 18 minutes instead of 5)."""

from __future__ import annotations

import os
import threading
import uuid

import pytest

from mariadb_admin import MARIADB_HOST, MARIADB_PORT, MARIADB_USER, drop_database


def _connect(database: str | None = None) -> object:
    import pymysql

    return pymysql.connect(
        host=MARIADB_HOST, port=MARIADB_PORT, user=MARIADB_USER, password="", database=database
    )


def require_mariadb() -> None:
    """Fail under PITCHREC_REQUIRE_SERVERS=1, else skip, when MariaDB is not reachable."""
    try:
        _connect().close()  # type: ignore[attr-defined]
    except Exception as exc:
        message = f"MariaDB not reachable on {MARIADB_HOST}:{MARIADB_PORT} ({exc})"
        if os.environ.get("PITCHREC_REQUIRE_SERVERS") == "1":
            pytest.fail(message)
        pytest.skip(message)


def test_a_leaked_transaction_does_not_hold_the_drop() -> None:
    require_mariadb()
    name = f"pitchrec_test_{uuid.uuid4().hex[:12]}"
    admin = _connect()
    admin.autocommit(True)  # type: ignore[attr-defined]
    with admin.cursor() as cursor:  # type: ignore[attr-defined]
        cursor.execute(f"CREATE DATABASE `{name}`")
        cursor.execute(f"CREATE TABLE `{name}`.t (id INT PRIMARY KEY)")
    leaked = _connect(name)  # a test's connection, never closed, in a transaction
    with leaked.cursor() as cursor:  # type: ignore[attr-defined]
        cursor.execute("SELECT COUNT(*) FROM t")  # holds the table's metadata lock
    dropped = threading.Event()

    def drop() -> None:
        drop_database(admin, name)
        dropped.set()

    worker = threading.Thread(target=drop, daemon=True)
    worker.start()
    worker.join(20)
    try:
        assert dropped.is_set(), "DROP DATABASE waited on the leaked transaction"
        with admin.cursor() as cursor:  # type: ignore[attr-defined]
            cursor.execute("SHOW DATABASES LIKE %s", (name,))
            assert cursor.fetchall() == ()
    finally:
        if not dropped.is_set():
            leaked.close()  # type: ignore[attr-defined]
            worker.join(20)
        admin.close()  # type: ignore[attr-defined]
    import pymysql

    cursor = leaked.cursor()  # type: ignore[attr-defined]
    with pytest.raises(pymysql.err.OperationalError):  # the leaked session was ended
        cursor.execute("SELECT 1")
