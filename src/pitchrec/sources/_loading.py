"""Shared pieces of the loaders: time conversion, column plumbing, timed queries.

Used by :mod:`.catalogue_loader` and :mod:`.history_loader`; the whole load is described in
:mod:`pitchrec.sources.loaders`. Private to the ``sources`` package.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Connection, Select, case, or_
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.sql.elements import ColumnElement

from pitchrec.errors import DataSourceError
from pitchrec.progress import Reporter
from pitchrec.sources.jsonlists import JsonListStats, parse_json_lists
from pitchrec.sources.schema import CHALLENGE_MODEL_TYPE, RESUME_MODEL_TYPE
from pitchrec.sources.tables import Floats, Int64s, ItemType, LoadReport, TextLists

#: Ratings are clamped to this (spec 1.2.3).
MAX_RATING: Final = 5.0
OTHER_TYPE: Final = 2  # type code of a row about neither a resume nor a challenge


def utc_naive(now: datetime | None) -> datetime:
    """``now`` as a naive UTC datetime (default: the current time, whole seconds)."""
    if now is None:
        return datetime.now(UTC).replace(tzinfo=None, microsecond=0)
    if now.tzinfo is not None:
        return now.astimezone(UTC).replace(tzinfo=None)
    return now


def _coerce_datetime(value: object) -> datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:  # e.g. MySQL's '0000-00-00 00:00:00'
            return None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            return value.astimezone(UTC).replace(tzinfo=None)
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day)
    return None


def to_epoch_seconds(values: Sequence[object]) -> Floats:
    """Seconds since the Unix epoch of naive-UTC datetimes; NaN for NULL or unparseable."""
    if not values:
        return np.empty(0, dtype=np.float64)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy warns (not fails) on aware datetimes
        try:
            stamps = np.array(values, dtype="datetime64[us]")
        except (TypeError, ValueError, Warning):
            stamps = np.array([_coerce_datetime(v) for v in values], dtype="datetime64[us]")
    seconds = stamps.astype(np.int64).astype(np.float64) / 1e6
    seconds[np.isnat(stamps)] = np.nan
    return seconds


def int64s(values: Sequence[Any]) -> Int64s:
    return np.array(values, dtype=np.int64).reshape(-1)


def transpose(rows: Sequence[Sequence[Any]], width: int) -> list[tuple[Any, ...]]:
    if not rows:
        return [() for _ in range(width)]
    return list(zip(*rows, strict=True))


def columns(rows: Sequence[Sequence[Any]], stmt: Select[Any]) -> dict[str, tuple[Any, ...]]:
    """The columns of ``rows`` by the labels of ``stmt``."""
    keys = stmt.selected_columns.keys()
    return dict(zip(keys, transpose(rows, len(keys)), strict=True))


def lookup(ids: Int64s, keys: Int64s, values: NDArray[Any], fill: float = 0) -> NDArray[Any]:
    """``values`` of ``keys`` (unique) found for each of ``ids``; ``fill`` elsewhere."""
    out = np.full(ids.shape[0], fill, dtype=values.dtype)
    if keys.shape[0] == 0 or ids.shape[0] == 0:
        return out
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    pos = np.minimum(np.searchsorted(sorted_keys, ids), sorted_keys.shape[0] - 1)
    found = sorted_keys[pos] == ids
    out[found] = values[order][pos[found]]
    return out


def resume_or_untyped(model_type: ColumnElement[Any]) -> ColumnElement[bool]:
    return or_(model_type == RESUME_MODEL_TYPE, model_type.is_(None))


def type_code(model_type: ColumnElement[Any]) -> ColumnElement[Any]:
    """0 (resume: the resume type or NULL), 1 (challenge) or 2 (another entity)."""
    return case(
        (model_type == CHALLENGE_MODEL_TYPE, int(ItemType.CHALLENGE)),
        (resume_or_untyped(model_type), int(ItemType.RESUME)),
        else_=OTHER_TYPE,
    )


def clamped(value: ColumnElement[Any]) -> ColumnElement[Any]:
    return case((value > MAX_RATING, MAX_RATING), else_=value)


def describe(exc: SQLAlchemyError) -> str:
    cause = getattr(exc, "orig", None) or exc
    return f"{type(cause).__name__}: {str(cause).splitlines()[0][:300] if str(cause) else ''}"


class Reader:
    """Runs named queries on one connection, timing and counting them."""

    def __init__(self, connection: Connection, report: LoadReport, reporter: Reporter) -> None:
        self.connection = connection
        self.report = report
        self.reporter = reporter

    def rows(self, name: str, stmt: Select[Any]) -> Sequence[Any]:
        started = time.perf_counter()
        with self.reporter.stage(f"load {name}", None) as advance:
            try:
                rows = self.connection.execute(stmt).all()
            except SQLAlchemyError as exc:
                raise DataSourceError(f"loading {name} failed: {describe(exc)}") from exc
            advance(len(rows))
        self.report.seconds[name] = time.perf_counter() - started
        self.report.rows[f"fetched.{name}"] = len(rows)
        return rows


def parse_lists(cells: Sequence[Any], table: str, column: str, report: LoadReport) -> TextLists:
    stats = JsonListStats()
    parsed = parse_json_lists(cells, stats)
    for reason, count in stats.skipped().items():
        report.skip(f"{table}.{column}.{reason}", count)
    return parsed


def not_after(created_at: ColumnElement[Any], now: datetime) -> ColumnElement[bool]:
    """``created_at`` is not after the load's ``now`` (NULL passes: undated rows are not
    from the future). Every loader bounds its reads by it, so a snapshot built as of a
    past time reads nothing that happened later."""
    return or_(created_at.is_(None), created_at <= now)
