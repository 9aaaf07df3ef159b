"""An in-process app over a small saved snapshot, ready to answer (for API tests)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient

from factories import random_snapshot
from pitchrec.api.app import create_app
from pitchrec.index import snapshot as snapshot_files
from pitchrec.index.lifecycle import SnapshotSource
from pitchrec.settings import Settings


def saved_snapshot(directory: Path, seed: int = 1) -> Path:
    snapshot = random_snapshot(seed, n_resumes=400, n_challenges=12, n_creators=250)
    return snapshot_files.save(snapshot, directory / "snapshot")


@contextmanager
def served(directory: Path, settings: Settings | None = None) -> Iterator[TestClient]:
    app = create_app(settings or Settings(), SnapshotSource(None, saved_snapshot(directory)))
    with TestClient(app) as client:
        deadline = time.monotonic() + 10
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline, "snapshot did not load"
            time.sleep(0.02)
        yield client
