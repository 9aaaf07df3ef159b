"""The chaos suite (``make chaos``): outages, slow dependencies and SIGKILLs against the
real ``pitchrec serve`` and ``pitchrec archive`` processes, under load, with exact
accounting of every accepted event (issue 15).

It takes minutes, so the default ``make test`` run does not collect it: the files are
collected only when ``PITCHREC_CHAOS=1`` (``make chaos`` sets it) or when a file is named
on the command line.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from chaos_kit import Chaos

if os.environ.get("PITCHREC_CHAOS") != "1":
    collect_ignore_glob = ["test_*.py"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "chaos: the chaos suite (make chaos)")


@pytest.fixture
def chaos(tmp_path: Path, mariadb_url: str) -> Iterator[Chaos]:
    """Processes of one scenario, all stopped afterwards; needs MariaDB (its database is
    the test's own) and redis-server."""
    if shutil.which("redis-server") is None:
        if os.environ.get("PITCHREC_REQUIRE_SERVERS") == "1":
            pytest.fail("redis-server is not installed")
        pytest.skip("redis-server is not installed")
    started = Chaos(tmp_path)
    try:
        yield started
    finally:
        started.close()
