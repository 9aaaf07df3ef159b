"""A worker serving an existing snapshot is ready when it starts accepting connections
(hardening issue, item 14: with --workers 2, /readyz answered by one worker while the
other was still loading, and 17 requests got 503)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from pitchrec.api.app import create_app
from pitchrec.index.lifecycle import SnapshotSource
from pitchrec.settings import Settings
from served_app import saved_snapshot


def test_ready_as_soon_as_start_up_completes(tmp_path: Path) -> None:
    for attempt in range(5):
        source = SnapshotSource(None, saved_snapshot(tmp_path / str(attempt)))
        with TestClient(create_app(Settings(), source)) as client:
            # No waiting loop: the lifespan has finished, the snapshot must be in.
            assert client.get("/readyz").status_code == 200
            assert client.post("/api/search/total", json={}).status_code == 200
