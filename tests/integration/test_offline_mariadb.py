"""``pitchrec evaluate offline`` on the real MariaDB: the same split and results as the
same world on SQLite (the queries are portable, the datetimes compare the same way)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from pitchrec.lab.offline.evaluate import OfflineOptions, evaluate_offline
from pitchrec.lab.offline.split import temporal_split
from pitchrec.lab.world import generate_world
from pitchrec.sources.database import make_engine

pytestmark = pytest.mark.integration

NOW = datetime(2026, 6, 1, 12, 0, 0)


def _world(url: str) -> None:
    engine = make_engine(url)
    try:
        generate_world(engine, scale=0.02, seed=4, truth_path=None, now=NOW)
    finally:
        engine.dispose()


def test_offline_split_and_metrics_match_sqlite(mariadb_url: str, tmp_path: Path) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'w.db'}"
    _world(mariadb_url)
    _world(sqlite_url)
    on_mariadb, on_sqlite = temporal_split(mariadb_url), temporal_split(sqlite_url)
    assert on_mariadb.cut == on_sqlite.cut
    assert sorted(on_mariadb.truth) == sorted(on_sqlite.truth)
    for user, items in on_sqlite.truth.items():
        np.testing.assert_array_equal(on_mariadb.truth[user], items)
    options = OfflineOptions(configs=("popularity", "service"), k=10, ks=(10,), seeds=1)
    a, b = evaluate_offline(on_mariadb, options), evaluate_offline(on_sqlite, options)
    assert a["split"] == b["split"]
    for name in options.configs:
        assert a["configs"][name]["by_k"]["10"]["all"] == b["configs"][name]["by_k"]["10"]["all"]
