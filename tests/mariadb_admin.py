"""The tests' MariaDB server and the drop of a per-test database (a module of its own:
``from conftest import ...`` resolves to whichever conftest pytest imported first)."""

from __future__ import annotations

import contextlib
import os
from typing import Any

MARIADB_HOST = os.environ.get("PITCHREC_TEST_MYSQL_HOST", "127.0.0.1")
MARIADB_PORT = int(os.environ.get("PITCHREC_TEST_MYSQL_PORT", "3306"))
MARIADB_USER = os.environ.get("PITCHREC_TEST_MYSQL_USER", "root")


def drop_database(admin: Any, name: str) -> None:
    """Drop ``name``, first ending the sessions still in it. A connection a test leaves
    open in a transaction holds a metadata lock, and DROP DATABASE then waits for it up to
    MariaDB's lock_wait_timeout (a day): a CI run took 18 minutes, its DROPs waiting until
    the garbage collector closed the leaked connections (seen 2026-11-30)."""
    with admin.cursor() as cursor:
        cursor.execute("SET SESSION lock_wait_timeout = 60")
        cursor.execute(
            "SELECT ID FROM information_schema.PROCESSLIST WHERE DB = %s AND ID <> CONNECTION_ID()",
            (name,),
        )
        for (session,) in cursor.fetchall():
            with contextlib.suppress(Exception):  # it may have ended meanwhile
                cursor.execute("KILL %s", (int(session),))
        cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
