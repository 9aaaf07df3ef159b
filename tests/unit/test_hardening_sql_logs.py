"""Database errors never carry the rows' values into logs: SQLAlchemy appends the bound
parameters to an error's text ("[parameters: ...]"), so a refused archive batch logged
users' ids, watch fractions and client properties (hardening, suspected item)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, insert
from sqlalchemy.exc import IntegrityError

from pitchrec.sources.database import make_engine

SECRET = "user-secret-value-1234"


def test_an_integrity_error_does_not_show_the_rows_values(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'x.db'}")
    table = Table("t", MetaData(), Column("id", Integer, primary_key=True), Column("v", String))
    table.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(table), {"id": 1, "v": SECRET})
    with pytest.raises(IntegrityError) as caught, engine.begin() as conn:
        conn.execute(insert(table), {"id": 1, "v": SECRET})
    assert SECRET not in str(caught.value)
    engine.dispose()
