"""The synthetic world generator on the real MariaDB: same rows as on SQLite, real UTF-8."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text

from pitchrec.errors import DataSourceError
from pitchrec.lab.world import generate_world
from pitchrec.sources import schema
from pitchrec.sources.database import make_engine

pytestmark = pytest.mark.integration

NOW = datetime(2025, 11, 20, 12, 0, 0)


def _dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {
            t.name: [tuple(r) for r in conn.execute(select(t).order_by(t.c.id))]
            for t in schema.ALL_TABLES
        }


def test_scale_002_world_inserts_and_counts_match(mariadb_url: str, tmp_path: Path) -> None:
    engine = make_engine(mariadb_url)
    try:
        summary = generate_world(
            engine, scale=0.02, seed=9, truth_path=tmp_path / "truth.npz", now=NOW
        )
        with engine.connect() as conn:
            for table in schema.ALL_TABLES:
                rows = conn.execute(select(func.count()).select_from(table)).scalar_one()
                assert rows == summary.rows[table.name], table.name
            # accents are stored as real UTF-8, not double-encoded (spec D-C26)
            name = conn.execute(
                select(schema.users.c.name).where(schema.users.c.name.like("%é%")).limit(1)
            ).scalar_one()
            raw = conn.execute(
                text("SELECT HEX(name) FROM users WHERE name = :n LIMIT 1"), {"n": name}
            ).scalar_one()
            assert bytes.fromhex(raw).decode("utf-8") == name
        assert summary.rows["users"] == 3960
        assert summary.eligible_resumes == round(1962 * 0.02)
        with pytest.raises(DataSourceError):
            generate_world(engine, scale=0.02, seed=9, truth_path=None, now=NOW)
        mariadb_rows = _dump(engine)
    finally:
        engine.dispose()
    sqlite = make_engine(f"sqlite:///{tmp_path / 'same.db'}")
    try:
        generate_world(sqlite, scale=0.02, seed=9, truth_path=None, now=NOW)
        assert _dump(sqlite) == mariadb_rows
    finally:
        sqlite.dispose()
