"""The catalogue: resumes with their all-time aggregates, and challenges (spec 1.2.1-1.2.2).

Part of :func:`pitchrec.sources.loaders.load_sources`; the filters and the deliberate
differences from the legacy loader are described there. The resumes' aggregates are
counted in :mod:`.resume_aggregates`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Final

import numpy as np
from sqlalchemy import Select, Table, or_, select
from sqlalchemy.sql.elements import ColumnElement

from pitchrec.sources._loading import (
    Reader,
    columns,
    int64s,
    not_after,
    parse_lists,
    to_epoch_seconds,
)
from pitchrec.sources.cities import clean, normalise_city
from pitchrec.sources.content_filters import is_test_challenge, is_test_resume
from pitchrec.sources.resume_aggregates import read_resume_aggregates
from pitchrec.sources.schema import challenges, resumes, users
from pitchrec.sources.tables import ChallengeTable, LoadReport, ResumeTable

# Windows of spec 1.7.
RESUME_WINDOW: Final = timedelta(days=360)
CHALLENGE_WINDOW: Final = timedelta(days=90)

_RESUME_JSON_COLUMNS: Final = ("skills", "knowledges", "tools", "languages", "role_objectives")


def _owner_problem(owner_id: object, owner_deleted_at: object) -> str | None:
    if owner_id is None:
        return "owner_missing"
    if owner_deleted_at is not None:
        return "owner_deleted"
    return None


def _with_owner(
    table: Table, selected: tuple[ColumnElement[Any], ...], *where: ColumnElement[bool]
) -> Select[Any]:
    """``selected`` and the owner's columns (``owner_*``, NULL without an owner) of the rows
    of ``table`` meeting ``where``, by id."""
    u = users.c
    return (
        select(
            *selected,
            u.id.label("owner_id"),
            u.name.label("owner_name"),
            u.city.label("owner_city"),
            u.country.label("owner_country"),
            u.deleted_at.label("owner_deleted_at"),
        )
        .select_from(table.outerjoin(users, u.id == table.c.user_id))
        .where(*where)
        .order_by(table.c.id)
    )


def _screened(
    reader: Reader,
    name: str,
    stmt: Select[Any],
    blacklist: frozenset[str],
    report: LoadReport,
    content_problem: Callable[[Any], str | None],
) -> list[Any]:
    """The rows of ``stmt`` (by id, with owner columns) to keep; the others are counted as
    ``"<name>.<reason>"``: a repeated id, a missing or deleted owner, a blank or blacklisted
    video, then ``content_problem(row)``."""
    kept: list[Any] = []
    previous: int | None = None
    for row in reader.rows(name, stmt):
        reason = None
        if row.id == previous:
            reason = "duplicate_id"
        else:
            reason = _owner_problem(row.owner_id, row.owner_deleted_at)
            if reason is None and not row.video.strip():
                reason = "blank_video"
            elif reason is None and row.video in blacklist:
                reason = "blacklisted"
            elif reason is None:
                reason = content_problem(row)
        previous = row.id
        if reason is None:
            kept.append(row)
        else:
            report.skip(f"{name}.{reason}")
    return kept


# --------------------------------------------------------------------------- resumes


def read_resumes(
    reader: Reader,
    now: datetime,
    blacklist: frozenset[str],
    report: LoadReport,
    *,
    as_of: bool = False,
) -> ResumeTable:
    """The eligible resumes as of ``now``; ``as_of``: their all-time aggregates count
    only rows up to ``now`` too (a past instant, for offline evaluation). Serving loads
    skip that bound: it costs the ``views`` count its index-only scan (0.13 -> 0.62 s at
    scale 1 on MariaDB, measured) and a live ``now`` has no later rows to hide."""
    r = resumes.c
    stmt = _with_owner(
        resumes,
        (
            r.id,
            r.user_id,
            r.video,
            r.description,
            r.created_at,
            *(r[name] for name in _RESUME_JSON_COLUMNS),
        ),
        r.deleted_at.is_(None),
        r.status == "send",
        r.video.is_not(None),
        r.created_at >= now - RESUME_WINDOW,
        r.created_at <= now,
    )

    def content_problem(row: Any) -> str | None:
        return "test_content" if is_test_resume(row.video, row.description) else None

    kept = _screened(reader, "resumes", stmt, blacklist, report, content_problem)
    cols = columns(kept, stmt)
    ids = int64s(cols["id"])
    lists = {
        name: parse_lists(cols[name], "resumes", name, report) for name in _RESUME_JSON_COLUMNS
    }
    aggregates = read_resume_aggregates(reader, ids, now if as_of else None, report)
    table = ResumeTable(
        id=ids,
        user_id=int64s(cols["user_id"]),
        video=cols["video"],
        description=cols["description"],
        created_at=to_epoch_seconds(cols["created_at"]),
        skills=lists["skills"],
        knowledges=lists["knowledges"],
        tools=lists["tools"],
        languages=lists["languages"],
        role_objectives=lists["role_objectives"],
        creator_name=tuple(name or "" for name in cols["owner_name"]),
        city=tuple(map(normalise_city, cols["owner_city"], cols["owner_country"])),
        country=tuple(map(clean, cols["owner_country"])),
        **aggregates,
    )
    report.rows["resumes"] = len(table)
    return table


# --------------------------------------------------------------------------- challenges


def read_challenges(
    reader: Reader, now: datetime, blacklist: frozenset[str], report: LoadReport
) -> ChallengeTable:
    c = challenges.c
    since = now - CHALLENGE_WINDOW
    stmt = _with_owner(
        challenges,
        (c.id, c.user_id, c.video, c.name, c.description, c.created_at, c.updated_at),
        c.status == "published",
        c.deleted_at.is_(None),
        c.video.is_not(None),
        or_(c.created_at >= since, c.updated_at >= since),
        not_after(c.created_at, now),
    )

    def content_problem(row: Any) -> str | None:
        if row.name is None:
            return "null_name"
        if row.description is None:
            return "null_description"
        if is_test_challenge(row.video, row.name, row.description):
            return "test_content"
        return None

    kept = _screened(reader, "challenges", stmt, blacklist, report, content_problem)
    cols = columns(kept, stmt)
    ids = int64s(cols["id"])
    created = to_epoch_seconds(cols["created_at"])
    # Newest first (NULL created_at last), then the highest id; keep the first per URL.
    order = np.lexsort((-ids, -np.nan_to_num(created, nan=-np.inf)))
    seen: set[str] = set()
    chosen: list[int] = []
    for i in order.tolist():
        if cols["video"][i] in seen:
            report.skip("challenges.duplicate_video")
        else:
            seen.add(cols["video"][i])
            chosen.append(i)
    pick = np.array(chosen, dtype=np.intp)

    def texts(column: str) -> tuple[Any, ...]:
        return tuple(cols[column][i] for i in chosen)

    table = ChallengeTable(
        id=ids[pick],
        user_id=int64s(cols["user_id"])[pick],
        video=texts("video"),
        name=texts("name"),
        description=texts("description"),
        created_at=created[pick],
        updated_at=to_epoch_seconds(cols["updated_at"])[pick],
        creator_name=tuple(name or "" for name in texts("owner_name")),
        city=tuple(map(normalise_city, texts("owner_city"), texts("owner_country"))),
    )
    report.rows["challenges"] = len(table)
    return table
