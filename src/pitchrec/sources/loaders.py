"""Read the catalogue, the history and the social graph into columnar tables.

One call of :func:`load_sources` runs a fixed set of SQLAlchemy Core queries (no SQL text,
every value a bound parameter), all inside one read transaction on one connection, so on
InnoDB (REPEATABLE READ) they see one consistent snapshot. The same statements run on
SQLite, MariaDB and MySQL: no window functions, no hints, no dialect-only functions.

Filters and windows follow spec 1.2, 1.3 and 1.7, with ``now`` given by the caller (naive
UTC) and every window computed here as ``now - timedelta(days=...)``. What differs from the
legacy loader, on purpose:

* D-S1: the blacklist is never pasted into SQL; it is compared in Python after fetching
  (exact string equality, as the spec says), so a URL holding a quote is harmless.
* D-C14: the all-time resume aggregates (ratings, accepted matches, saves) count rows whose
  ``model_type`` is the resume type or NULL; ``views`` counts resume-typed rows only (as the
  legacy did). History rows whose type is another entity are skipped and counted; challenge
  types become :attr:`ItemType.CHALLENGE` rows instead of resume ids.
* D-C15/D-C16: the test-content rule is word-level (:mod:`.content_filters`) for resumes
  and challenges alike; challenges with a NULL name or description stay excluded.
* D-C17: challenges of deleted owners are excluded. Row filters run **before** the
  de-duplication by video URL, so a URL whose newest copy is excluded (deleted owner,
  test content...) keeps its newest eligible copy.
* De-duplication keeps the newest ``created_at`` (then the highest id) per exact URL and is
  done in numpy, not with ``ROW_NUMBER()`` (which SQLite < 3.25 and MySQL 5.7 lack).
* D-C19: nothing relative to "now" is frozen into the tables: timestamps are epoch seconds
  and ages are computed downstream at request time; ``now`` is UTC, not server-local time.
* D-C21: JSON lists are parsed element by element (:mod:`.jsonlists`), never truncated.
* D-C25: the legacy ``view_implicit`` fallback (synthetic history rows with a NULL user,
  created when the history is empty) is not implemented: such rows can never match a user.
* Blank video URLs (``''`` after trimming) are dropped like NULL ones: they cannot play.
* Duplicate rows (a join fan-out in a replica without primary keys) are dropped by id;
  duplicate social edges and self-loops are dropped; all of it is counted.

Everything skipped is counted in the :class:`LoadReport` (``skipped["<table>.<reason>"]``),
with the rows fetched and returned and the seconds spent per query.

Row order of the tables returned: resumes by id ascending; challenges newest
``created_at`` first (then highest id); interactions by user, then ``created_at``;
connections by ``(from_id, to_id)``; profiles by user id.

Measured on a scale-1-sized world in MariaDB 10.11 (2.6k resumes, 200k views rows, 13k
history rows in the windows, 26k edges): about 0.5 s with PyMySQL, 0.4 s with mysqlclient,
0.25 s on SQLite.

Layout: :mod:`.catalogue_loader` (resumes, their aggregates, challenges),
:mod:`.history_loader` (interactions, connections, profiles) and :mod:`._loading` (shared
helpers); this module is the entry point and re-exports the public constants.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from pitchrec.errors import DataSourceError
from pitchrec.progress import SILENT, Reporter
from pitchrec.sources._loading import (
    MAX_RATING,
    Reader,
    describe,
    to_epoch_seconds,
    utc_naive,
)
from pitchrec.sources.catalogue_loader import (
    CHALLENGE_WINDOW,
    RESUME_WINDOW,
    read_challenges,
    read_resumes,
)
from pitchrec.sources.history_loader import (
    CONNECTION_WINDOW,
    HISTORY_WINDOW,
    MATCH_RATING,
    SAVE_RATING,
    USER_WINDOW,
    VIEW_HISTORY_WINDOW,
    VIEW_LOG_PATTERN,
    VIEW_RATING,
    read_connections,
    read_declared_skills,
    read_interactions,
    read_profiles,
)
from pitchrec.sources.tables import LoadReport, ProfileTable, SourceData

__all__ = [
    "CHALLENGE_WINDOW",
    "CONNECTION_WINDOW",
    "HISTORY_WINDOW",
    "MATCH_RATING",
    "MAX_RATING",
    "RESUME_WINDOW",
    "SAVE_RATING",
    "USER_WINDOW",
    "VIEW_HISTORY_WINDOW",
    "VIEW_LOG_PATTERN",
    "VIEW_RATING",
    "load_profiles",
    "load_sources",
    "to_epoch_seconds",
    "utc_naive",
]

logger = logging.getLogger(__name__)


def _epoch(now: datetime) -> float:
    return now.replace(tzinfo=UTC).timestamp()


def load_sources(
    engine: Engine,
    *,
    now: datetime | None = None,
    blacklist: frozenset[str] = frozenset(),
    reporter: Reporter = SILENT,
    declared_skills: bool = True,
    as_of: bool = False,
) -> SourceData:
    """Load everything the index is built from, as seen at ``now`` (naive UTC);
    ``declared_skills``: also the users' profile skills (the fix of D-C20); ``as_of``:
    ``now`` is a past instant, so the all-time resume aggregates are bounded by it too
    (every windowed read always is).

    Raises :class:`DataSourceError` when a query fails (unreachable server, missing table).
    """
    now = utc_naive(now)
    report = LoadReport()
    started = time.perf_counter()
    try:
        with engine.connect() as connection:
            reader = Reader(connection, report, reporter)
            data = SourceData(
                resumes=read_resumes(reader, now, blacklist, report, as_of=as_of),
                challenges=read_challenges(reader, now, blacklist, report),
                interactions=read_interactions(reader, now, report),
                connections=read_connections(reader, now, report),
                loaded_at=_epoch(now),
                report=report,
                declared_skills=(
                    read_declared_skills(reader, now, report) if declared_skills else None
                ),
            )
    except SQLAlchemyError as exc:  # connect() itself, or closing the connection
        raise DataSourceError(f"loading sources failed: {describe(exc)}") from exc
    report.seconds["total"] = time.perf_counter() - started
    logger.info(
        "loaded %d resumes, %d challenges, %d interactions, %d connections in %.2f s; skipped %s",
        len(data.resumes),
        len(data.challenges),
        len(data.interactions),
        len(data.connections),
        report.seconds["total"],
        report.skipped or "nothing",
    )
    return data


def load_profiles(engine: Engine, *, now: datetime | None = None) -> ProfileTable:
    """Active users (created or updated within 90 days, not deleted) and their skills."""
    now = utc_naive(now)
    report = LoadReport()
    try:
        with engine.connect() as connection:
            table = read_profiles(Reader(connection, report, SILENT), now, report)
    except SQLAlchemyError as exc:
        raise DataSourceError(f"loading profiles failed: {describe(exc)}") from exc
    logger.info("loaded %d profiles; skipped %s", len(table), report.skipped or "nothing")
    return table
