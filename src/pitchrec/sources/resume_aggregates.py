"""The all-time per-resume aggregates of the catalogue (spec 1.2.1): ratings, connections,
likes, exhibitions and views.

Used by :func:`pitchrec.sources.catalogue_loader.read_resumes`; part of
:func:`pitchrec.sources.loaders.load_sources`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Select, Table, case, func, select, true
from sqlalchemy.sql.elements import ColumnElement

from pitchrec.sources._loading import (
    MAX_RATING,
    Reader,
    clamped,
    lookup,
    not_after,
    resume_or_untyped,
    transpose,
)
from pitchrec.sources.schema import (
    RESUME_MODEL_TYPE,
    likes,
    matches,
    resumes_exhibited,
    team_feedbacks,
    views,
)
from pitchrec.sources.tables import Int64s, LoadReport


def read_resume_aggregates(
    reader: Reader, ids: Int64s, until: datetime | None, report: LoadReport
) -> dict[str, NDArray[Any]]:
    """All-time per-resume aggregates (spec 1.2.1), one GROUP BY query each; with
    ``until``, only rows created up to it (NULL dates count)."""

    def bounded(column: ColumnElement[Any]) -> ColumnElement[bool]:
        return not_after(column, until) if until is not None else true()

    tf, m, lk = team_feedbacks.c, matches.c, likes.c
    resumeish = resume_or_untyped(tf.model_type)
    ratings = reader.rows(
        "resume_ratings",
        select(
            tf.model_id,
            func.sum(case((resumeish, clamped(tf.value)), else_=0.0)),
            func.sum(case((resumeish, 1), else_=0)),
            func.count(),
        )
        .where(
            tf.type == "ranking_resume",
            tf.value > 0,
            tf.model_id.is_not(None),
            bounded(tf.created_at),
        )
        .group_by(tf.model_id),
    )
    keys, total, count, all_rows = (np.array(c) for c in transpose(ratings, 4))
    keys = keys.astype(np.int64)
    rating_sum = lookup(ids, keys, total.astype(np.float64))
    rating_count = lookup(ids, keys, count.astype(np.int64))
    rated_rows = lookup(ids, keys, all_rows.astype(np.int64))
    report.skip("resume_ratings.other_model_type", int((rated_rows - rating_count).sum()))
    with np.errstate(invalid="ignore", divide="ignore"):
        avg = np.where(rating_count > 0, rating_sum / np.maximum(rating_count, 1), 0.0)

    def typed_count(name: str, table: Table, where: ColumnElement[bool]) -> Int64s:
        """Rows per model id of the resume type (or untyped); other types are counted."""
        model_id, model_type = table.c.model_id, table.c.model_type
        rows = reader.rows(
            name,
            select(model_id, func.sum(case((resume_or_untyped(model_type), 1), else_=0)))
            .add_columns(func.count())
            .where(where, model_id.is_not(None), bounded(table.c.created_at))
            .group_by(model_id),
        )
        keys, typed, every = (np.array(c) for c in transpose(rows, 3))
        keys = keys.astype(np.int64)
        counts = lookup(ids, keys, typed.astype(np.int64))
        others = lookup(ids, keys, every.astype(np.int64)) - counts
        report.skip(f"{name}.other_model_type", int(others.sum()))
        return counts

    def plain_count(name: str, stmt: Select[Any]) -> Int64s:
        keys, counts = (np.array(c) for c in transpose(reader.rows(name, stmt), 2))
        return lookup(ids, keys.astype(np.int64), counts.astype(np.int64))

    re_ = resumes_exhibited.c
    return {
        "avg_rating": np.minimum(avg.astype(np.float64), MAX_RATING),
        "rating_count": rating_count,
        "connection_count": typed_count("resume_matches", matches, m.status == "accepted"),
        "like_count": typed_count("resume_likes", likes, lk.type == "save"),
        "exhibited_count": plain_count(
            "resume_exhibited",
            select(re_.resume_id, func.count())
            .where(bounded(re_.created_at))
            .group_by(re_.resume_id),
        ),
        "views": plain_count(
            "resume_views",
            select(views.c.model_id, func.count())
            .where(
                views.c.model_type == RESUME_MODEL_TYPE,
                views.c.model_id.is_not(None),
                bounded(views.c.created_at),
            )
            .group_by(views.c.model_id),
        ),
    }
