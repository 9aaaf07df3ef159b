"""The history (ratings, saves, accepted matches, views), the social graph and the user
profiles (spec 1.2.3-1.2.5).

Part of :func:`pitchrec.sources.loaders.load_sources` and
:func:`~pitchrec.sources.loaders.load_profiles`, where the whole load is described.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Select, or_, select
from sqlalchemy.sql.elements import ColumnElement

from pitchrec.sources._loading import (
    OTHER_TYPE,
    Reader,
    clamped,
    columns,
    int64s,
    not_after,
    parse_lists,
    to_epoch_seconds,
    transpose,
    type_code,
)
from pitchrec.sources.cities import normalise_city
from pitchrec.sources.schema import (
    V1_EVENTS_URL,
    V1_TASTE_DESCRIPTIONS,
    activity_log,
    likes,
    matches,
    profiles,
    team_feedbacks,
    user_connections,
    users,
)
from pitchrec.sources.tables import (
    ConnectionTable,
    DeclaredSkillsTable,
    Floats,
    Int64s,
    InteractionKind,
    InteractionTable,
    LoadReport,
    ProfileTable,
)
from pitchrec.sources.v1_feedback import repeated_feedback, served_or_logged

# Windows of spec 1.7.
HISTORY_WINDOW: Final = timedelta(days=90)  # ratings, saves, accepted matches
VIEW_HISTORY_WINDOW: Final = timedelta(days=30)  # activity_log views
CONNECTION_WINDOW: Final = timedelta(days=90)
USER_WINDOW: Final = timedelta(days=90)

#: ``activity_log.description`` pattern of a view (spec 1.2.3), sent as a bound parameter.
VIEW_LOG_PATTERN: Final = "%video%view%"
#: Legacy constant ratings of the history sources (spec 1.2.3).
SAVE_RATING: Final = 3.0
MATCH_RATING: Final = 4.0
VIEW_RATING: Final = 2.0
#: A v1 like/save/match/share counts as a save (:class:`InteractionKind.FEEDBACK`).
FEEDBACK_RATING: Final = SAVE_RATING


# --------------------------------------------------------------------------- history


def _history_query(
    user_id: ColumnElement[Any],
    item_id: ColumnElement[Any],
    item_type: ColumnElement[Any],
    created_at: ColumnElement[Any],
    window: tuple[datetime, datetime],
    *where: ColumnElement[bool],
    rating: ColumnElement[Any] | None = None,
) -> Select[Any]:
    """User id, item id, item type code, the clamped ``rating`` (when given) and
    ``created_at`` of the rows meeting ``where`` that name a user and an item, created in
    ``window`` = (since, now]: nothing dated after the load's ``now`` is read, so a
    snapshot built as of a past time holds no later row (and a clock-skewed future row
    does not count as recent until its date)."""
    since, now = window
    rated = () if rating is None else (clamped(rating),)
    return select(user_id, item_id, type_code(item_type), *rated, created_at).where(
        *where,
        user_id.is_not(None),
        item_id.is_not(None),
        created_at >= since,
        created_at <= now,
    )


def read_interactions(reader: Reader, now: datetime, report: LoadReport) -> InteractionTable:
    tf, lk, m, al = team_feedbacks.c, likes.c, matches.c, activity_log.c
    window = (now - HISTORY_WINDOW, now)
    sources: list[tuple[str, InteractionKind, Select[Any]]] = [
        (
            "history_ratings",
            InteractionKind.RATING,
            _history_query(
                tf.user_id,
                tf.model_id,
                tf.model_type,
                tf.created_at,
                window,
                tf.type == "ranking_resume",
                tf.value > 0,
                rating=tf.value,
            ),
        ),
        (
            "history_saves",
            InteractionKind.SAVE,
            _history_query(
                lk.user_id, lk.model_id, lk.model_type, lk.created_at, window, lk.type == "save"
            ),
        ),
        (
            "history_matches",
            InteractionKind.MATCH,
            _history_query(
                m.user_id,
                m.model_id,
                m.model_type,
                m.created_at,
                window,
                m.status == "accepted",
            ),
        ),
        (
            "history_views",
            InteractionKind.VIEW,
            _history_query(
                al.causer_id,
                al.subject_id,
                al.subject_type,
                al.created_at,
                (now - VIEW_HISTORY_WINDOW, now),
                al.description.like(VIEW_LOG_PATTERN),
                served_or_logged(now),
            ),
        ),
        (
            "history_feedback",
            InteractionKind.FEEDBACK,
            _history_query(
                al.causer_id,
                al.subject_id,
                al.subject_type,
                al.created_at,
                window,
                al.description.in_(V1_TASTE_DESCRIPTIONS),
                al.url == V1_EVENTS_URL,
                served_or_logged(now),
            ),
        ),
    ]
    constant = {
        InteractionKind.SAVE: SAVE_RATING,
        InteractionKind.MATCH: MATCH_RATING,
        InteractionKind.VIEW: VIEW_RATING,
        InteractionKind.FEEDBACK: FEEDBACK_RATING,
    }
    parts: list[tuple[Int64s, Int64s, NDArray[np.uint8], NDArray[np.float32], Floats]] = []
    kinds: list[NDArray[np.uint8]] = []
    for name, kind, stmt in sources:
        cols = transpose(reader.rows(name, stmt), 5 if kind is InteractionKind.RATING else 4)
        codes = int64s(cols[2])
        if kind is InteractionKind.RATING:
            rating = np.array(cols[3], dtype=np.float32).reshape(-1)
        else:
            rating = np.full(codes.shape[0], constant[kind], dtype=np.float32)
        keep = codes != OTHER_TYPE
        report.skip(f"{name}.other_model_type", int((~keep).sum()))
        parts.append(
            (
                int64s(cols[0])[keep],
                int64s(cols[1])[keep],
                codes[keep].astype(np.uint8),
                rating[keep],
                to_epoch_seconds(cols[-1])[keep],
            )
        )
        kinds.append(np.full(int(keep.sum()), int(kind), dtype=np.uint8))
    user_id, item_id, item_type, rating, created = (
        np.concatenate([p[i] for p in parts]) for i in range(5)
    )
    kind_all = np.concatenate(kinds)
    repeated = repeated_feedback(user_id, item_id, item_type, kind_all, created)
    report.skip("history_feedback.repeated", int(repeated.sum()))
    user_id, item_id, item_type, rating, created = (
        a[~repeated] for a in (user_id, item_id, item_type, rating, created)
    )
    kind_all = kind_all[~repeated]
    order = np.lexsort((item_type, item_id, kind_all, created, user_id))  # user, then time
    table = InteractionTable(
        user_id=user_id[order].astype(np.int64),
        item_id=item_id[order].astype(np.int64),
        item_type=item_type[order].astype(np.uint8),
        kind=kind_all[order],
        rating=rating[order].astype(np.float32),
        created_at=created[order].astype(np.float64),
    )
    report.rows["interactions"] = len(table)
    return table


def read_connections(reader: Reader, now: datetime, report: LoadReport) -> ConnectionTable:
    uc = user_connections.c
    rows = reader.rows(
        "connections",
        select(uc.from_id, uc.to_id, uc.created_at).where(
            uc.status == "accepted",
            uc.created_at >= now - CONNECTION_WINDOW,
            uc.created_at <= now,
        ),
    )
    cols = transpose(rows, 3)
    src, dst, created = int64s(cols[0]), int64s(cols[1]), to_epoch_seconds(cols[2])
    loops = src == dst
    report.skip("connections.self_loop", int(loops.sum()))
    src, dst, created = src[~loops], dst[~loops], created[~loops]
    order = np.lexsort((created, dst, src))  # by edge, earliest first
    src, dst, created = src[order], dst[order], created[order]
    first = np.ones(src.shape[0], dtype=bool)
    first[1:] = (src[1:] != src[:-1]) | (dst[1:] != dst[:-1])
    report.skip("connections.duplicate_edge", int((~first).sum()))
    table = ConnectionTable(from_id=src[first], to_id=dst[first], created_at=created[first])
    report.rows["connections"] = len(table)
    return table


# --------------------------------------------------------------------------- profiles


def read_declared_skills(reader: Reader, now: datetime, report: LoadReport) -> DeclaredSkillsTable:
    """The users of :func:`read_profiles` whose newest profile lists skills: two columns
    instead of six, so the fix of D-C20 costs little at load (bench/RESULTS.md)."""
    u, p = users.c, profiles.c
    since = now - USER_WINDOW
    stmt = (
        select(p.user_id, p.skills)
        .select_from(profiles.join(users, p.user_id == u.id))
        .where(
            u.deleted_at.is_(None),
            or_(u.created_at >= since, u.updated_at >= since),
            not_after(u.created_at, now),
        )
        .order_by(p.user_id, p.id)
    )
    latest: dict[int, Any] = {}  # user id -> skills cell of its newest profile
    for row in reader.rows("declared_skills", stmt):
        latest[row.user_id] = row.skills
    ids = np.fromiter(latest.keys(), dtype=np.int64, count=len(latest))
    parsed = parse_lists(list(latest.values()), "declared_skills", "skills", report)
    keep = [i for i, skills in enumerate(parsed) if skills]
    table = DeclaredSkillsTable(user_id=ids[keep], skills=tuple(parsed[i] for i in keep))
    report.rows["declared_skills"] = len(table)
    return table


def read_profiles(reader: Reader, now: datetime, report: LoadReport) -> ProfileTable:
    u, p = users.c, profiles.c
    since = now - USER_WINDOW
    stmt = (
        select(u.id, u.name, u.city, u.country, p.id.label("profile_id"), p.skills)
        .select_from(users.outerjoin(profiles, p.user_id == u.id))
        .where(
            u.deleted_at.is_(None),
            or_(u.created_at >= since, u.updated_at >= since),
            not_after(u.created_at, now),
        )
        .order_by(u.id, p.id)
    )
    latest: dict[int, Any] = {}  # user id -> row of its newest profile (highest id)
    for row in reader.rows("profiles", stmt):
        if row.id in latest:
            report.skip("profiles.older_profile_row")
        latest[row.id] = row
    cols = columns(list(latest.values()), stmt)
    table = ProfileTable(
        user_id=int64s(cols["id"]),
        name=tuple(name or "" for name in cols["name"]),
        city=tuple(map(normalise_city, cols["city"], cols["country"])),
        skills=parse_lists(cols["skills"], "profiles", "skills", report),
    )
    report.rows["profiles"] = len(table)
    return table
