"""A temporal split of a deployment's own history, with nothing from the future.

Train: everything the loaders read as of the cut (their 30/90/360-day windows measured
back from the cut, no row dated after it: :func:`pitchrec.sources.loaders.load_sources`
with ``now=cut``), built into the snapshot the engine serves from. Truth: each user's
positive interactions with catalogue items after the cut (:class:`PositiveRule`). Users
with at least one positive after the cut are evaluated; what they interacted with before
the cut is excluded from their lists, as an app's client would.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Engine, Select, null, select

from pitchrec.errors import EvaluationInputError
from pitchrec.index.build import build_snapshot
from pitchrec.index.snapshot import Snapshot
from pitchrec.sources.database import make_engine
from pitchrec.sources.loaders import load_sources, to_epoch_seconds
from pitchrec.sources.schema import (
    RESUME_MODEL_TYPE,
    activity_log,
    likes,
    matches,
    team_feedbacks,
)
from pitchrec.sources.tables import ItemType, SourceData

#: v1 feedback archived in activity_log (legacy/events.py ``feedback_row``) that is taste.
V1_POSITIVE_DESCRIPTIONS = ("#resume #like", "#resume #save", "#resume #match", "#resume #share")
#: A v1 ``view`` is archived as this description, its watch fraction in ``properties``.
WATCHED_DESCRIPTION = "#video #view #watched"


@dataclass(frozen=True)
class PositiveRule:
    """What counts as a sign of taste after the cut: a rating of at least
    ``min_rating`` (of 5), a save/like, an accepted match, a v1 like/save/match/share,
    and a v1 view watched for at least ``min_watch`` of the video (0 < ``min_watch``
    <= 1; above 1: views never count)."""

    min_rating: float = 4.0
    min_watch: float = 0.5


@dataclass(frozen=True)
class Split:
    """The train snapshot as of ``cut``, and the truth after it.

    ``truth``: user id -> sorted positive resume ids after the cut (only resumes in the
    snapshot's catalogue, never ones the user touched before the cut); ``seen``: user id
    -> resume ids the user interacted with before the cut (in the loaders' windows);
    ``source``: what the loaders read as of the cut (the baselines train on
    ``source.interactions``).
    """

    cut: datetime
    end: datetime
    snapshot: Snapshot
    source: SourceData
    truth: dict[int, NDArray[np.int64]]
    seen: dict[int, frozenset[int]] = field(default_factory=dict)

    @property
    def users(self) -> NDArray[np.int64]:
        """(n,) the evaluated users, sorted."""
        return np.asarray(sorted(self.truth), dtype=np.int64)


def _positive_queries(rule: PositiveRule) -> tuple[Select[Any], ...]:
    """(user id, resume id, created_at, watch JSON or NULL) of every positive row, one
    query per source (a UNION would mix text collations on MariaDB)."""
    tf, lk, m, al = team_feedbacks.c, likes.c, matches.c, activity_log.c
    none = null()
    return (
        select(tf.user_id, tf.model_id, tf.created_at, none).where(
            tf.type == "ranking_resume",
            tf.value >= rule.min_rating,
            tf.model_type == RESUME_MODEL_TYPE,
        ),
        select(lk.user_id, lk.model_id, lk.created_at, none).where(
            lk.type.in_(("save", "like")), lk.model_type == RESUME_MODEL_TYPE
        ),
        select(m.user_id, m.model_id, m.created_at, none).where(
            m.status == "accepted", m.model_type == RESUME_MODEL_TYPE
        ),
        select(al.causer_id, al.subject_id, al.created_at, none).where(
            al.description.in_(V1_POSITIVE_DESCRIPTIONS)
        ),
        select(al.causer_id, al.subject_id, al.created_at, al.properties).where(
            al.description == WATCHED_DESCRIPTION, al.subject_type == RESUME_MODEL_TYPE
        ),
    )


def _watched_enough(properties: str | None, min_watch: float) -> bool:
    try:
        value = json.loads(properties or "{}").get("value")
    except (ValueError, AttributeError):
        return False
    return isinstance(value, int | float) and value >= min_watch


@dataclass(frozen=True)
class Positives:
    """Every positive row: user (n,), resume (n,), unix seconds (n,)."""

    user: NDArray[np.int64]
    item: NDArray[np.int64]
    at: NDArray[np.float64]


def read_positives(engine: Engine, rule: PositiveRule) -> Positives:
    """All positive rows of the database (one query), oldest first."""
    with engine.connect() as connection:
        rows = [row for query in _positive_queries(rule) for row in connection.execute(query)]
    kept = [
        row
        for row in rows
        if row[0] is not None
        and row[1] is not None
        and row[2] is not None
        and (row[3] is None or _watched_enough(row[3], rule.min_watch))
    ]
    at = to_epoch_seconds([row[2] for row in kept]) if kept else np.zeros(0)
    order = np.argsort(at, kind="stable")
    return Positives(
        user=np.asarray([row[0] for row in kept], dtype=np.int64)[order],
        item=np.asarray([row[1] for row in kept], dtype=np.int64)[order],
        at=np.asarray(at, dtype=np.float64)[order],
    )


def choose_cut(positives: Positives, holdout_fraction: float) -> datetime:
    """The instant that leaves ``holdout_fraction`` of the positive rows after it."""
    if not 0.0 < holdout_fraction < 1.0:
        raise EvaluationInputError("--holdout-fraction must be between 0 and 1 (exclusive)")
    if positives.at.shape[0] < 2:
        raise EvaluationInputError(
            "the database has fewer than 2 positive interactions: nothing to split"
        )
    instant = float(np.quantile(positives.at, 1.0 - holdout_fraction, method="lower"))
    return _naive_utc(instant)


def _naive_utc(seconds: float) -> datetime:
    return datetime(1970, 1, 1) + timedelta(seconds=seconds)


def temporal_split(
    database_url: str,
    *,
    cut: datetime | None = None,
    holdout_fraction: float = 0.2,
    rule: PositiveRule | None = None,
    blacklist: frozenset[str] = frozenset(),
) -> Split:
    """Split the database's history at ``cut`` (naive UTC; default: the instant leaving
    ``holdout_fraction`` of the positives after it). Raises
    :class:`~pitchrec.errors.EvaluationInputError` on a database or cut with nothing to
    evaluate."""
    rule = rule or PositiveRule()
    engine = make_engine(database_url)
    try:
        positives = read_positives(engine, rule)
        if positives.at.shape[0] == 0:
            raise EvaluationInputError("the database holds no positive interaction to predict")
        end = _naive_utc(float(positives.at[-1]))
        if cut is None:
            cut = choose_cut(positives, holdout_fraction)
        _check_cut(cut, positives)
        source = load_sources(engine, now=cut, blacklist=blacklist, as_of=True)
    finally:
        engine.dispose()
    if len(source.resumes) == 0:
        raise EvaluationInputError(f"no catalogue resume exists as of the cut {cut.isoformat()}")
    snapshot = build_snapshot(source, built_at=source.loaded_at)
    seen = _seen_before(source)
    truth = _truth_after(positives, source, seen, cut)
    if not truth:
        raise EvaluationInputError(
            f"no user has a positive interaction with a catalogue resume after the cut "
            f"{cut.isoformat()}"
        )
    return Split(cut=cut, end=end, snapshot=snapshot, source=source, truth=truth, seen=seen)


def _check_cut(cut: datetime, positives: Positives) -> None:
    first, last = _naive_utc(float(positives.at[0])), _naive_utc(float(positives.at[-1]))
    if not first <= cut < last:
        raise EvaluationInputError(
            f"the cut {cut.isoformat()} is outside the data: positive interactions run "
            f"from {first.isoformat()} to {last.isoformat()}"
        )


def _seen_before(source: SourceData) -> dict[int, frozenset[int]]:
    interactions = source.interactions
    resumes = interactions.item_type == ItemType.RESUME
    seen: defaultdict[int, set[int]] = defaultdict(set)
    for user, item in zip(
        interactions.user_id[resumes].tolist(), interactions.item_id[resumes].tolist(), strict=True
    ):
        seen[user].add(item)
    return {user: frozenset(items) for user, items in seen.items()}


def _truth_after(
    positives: Positives, source: SourceData, seen: dict[int, frozenset[int]], cut: datetime
) -> dict[int, NDArray[np.int64]]:
    after = positives.at > (cut - datetime(1970, 1, 1)).total_seconds()
    catalogue = set(np.asarray(source.resumes.id).tolist())
    truth: defaultdict[int, set[int]] = defaultdict(set)
    for user, item in zip(
        positives.user[after].tolist(), positives.item[after].tolist(), strict=True
    ):
        if item in catalogue and item not in seen.get(user, frozenset()):
            truth[user].add(item)
    return {user: np.asarray(sorted(items), dtype=np.int64) for user, items in truth.items()}
