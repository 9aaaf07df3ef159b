"""Feedback posted to ``POST /v1/events`` as history: which archived rows the loaders may
trust, and which add nothing.

The tracker archives every v1 event to ``activity_log`` (legacy/events.py
``feedback_row``); :func:`~pitchrec.sources.history_loader.read_interactions` reads the
likes, saves, matches and shares as :attr:`InteractionKind.FEEDBACK` and the views as
views, under the two rules here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import exists, or_
from sqlalchemy.sql.elements import ColumnElement

from pitchrec.sources.schema import V1_EVENTS_URL, activity_log
from pitchrec.sources.tables import Floats, Int64s, InteractionKind

#: Kinds that already say the user chose the item: a v1 feedback row on the same item
#: adds nothing (an app that writes its own ``likes`` row and posts the v1 event too).
EXPLICIT_KINDS: Final = (InteractionKind.RATING, InteractionKind.SAVE, InteractionKind.MATCH)


def served_or_logged(now: datetime) -> ColumnElement[bool]:
    """An ``activity_log`` row that is not from ``POST /v1/events``, or is one about an item
    the service served to (or the apps logged for) the same user by ``now``: what a client
    sends about items it was never shown cannot plant history (brief: nothing a client
    sends can poison learning)."""
    al = activity_log.c
    shown = activity_log.alias("shown").c
    served = exists().where(
        shown.causer_id == al.causer_id,
        shown.subject_id == al.subject_id,
        shown.subject_type == al.subject_type,
        or_(shown.url.is_(None), shown.url != V1_EVENTS_URL),
        shown.created_at <= now,
    )
    return or_(al.url.is_(None), al.url != V1_EVENTS_URL, served)


def repeated_feedback(
    user_id: Int64s,
    item_id: Int64s,
    item_type: NDArray[np.uint8],
    kind: NDArray[np.uint8],
    created: Floats,
) -> NDArray[np.bool_]:
    """(m,) the FEEDBACK rows to drop: one whose user and item also have an explicit row
    (rating, save, match), and all but the newest of a user's v1 feedback on one item."""
    order = np.lexsort((created, kind == InteractionKind.FEEDBACK, item_type, item_id, user_id))
    u, i, t, k = user_id[order], item_id[order], item_type[order], kind[order]
    is_feedback = k == InteractionKind.FEEDBACK
    key_changes = np.ones(order.shape[0], dtype=bool)
    key_changes[1:] = (u[1:] != u[:-1]) | (i[1:] != i[:-1]) | (t[1:] != t[:-1])
    group = np.cumsum(key_changes) - 1
    explicit = np.isin(k, [int(x) for x in EXPLICIT_KINDS])
    group_has_explicit = np.zeros(int(group[-1]) + 1 if group.size else 0, dtype=bool)
    np.logical_or.at(group_has_explicit, group[explicit], True)
    # Within a key FEEDBACK rows sort last and by time: the newest is the key's last row.
    last_of_key = np.ones(order.shape[0], dtype=bool)
    last_of_key[:-1] = key_changes[1:]
    drop_sorted = is_feedback & (group_has_explicit[group] | ~last_of_key)
    drop = np.zeros(order.shape[0], dtype=bool)
    drop[order] = drop_sorted
    return drop
