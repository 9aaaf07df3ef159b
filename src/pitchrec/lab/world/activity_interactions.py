"""The interaction tables team_feedbacks, likes and matches.

Each is the events of its kinds (:mod:`.activity_events`): the behaviour model's resume
events (ratings and other feedback; saves and likes; accepted, pending and rejected
matches), the challenge events and the anonymous, popularity-driven ones.
"""

from __future__ import annotations

import numpy as np

from pitchrec.lab.world.activity_events import (
    CHA,
    RES,
    AnonymousEvents,
    ChallengeEvents,
    ResumeEvents,
)
from pitchrec.lab.world.common import Columns, concat_columns, make_columns


def team_feedbacks_table(
    rng: np.random.Generator, ev: ResumeEvents, ch: ChallengeEvents, anon: AnonymousEvents
) -> Columns:
    """Resume ratings and other feedback, challenge and anonymous ratings."""
    fb_other = rng.choice(["ranking_team", "comment_resume", "recommendation"], ev.n)
    rating, other = ev.of_kind(0), ev.of_kind(7)
    c_rating, a_rating = ch.kind == 0, anon.kind == 0
    return concat_columns(
        make_columns(
            int(rating.sum()),
            user_id=ev.uid[rating],
            model_id=ev.rid[rating],
            model_type=RES,
            type="ranking_resume",
            value=ev.value[rating],
            _created_age=ev.age[rating],
        ),
        make_columns(
            int(other.sum()),
            user_id=ev.uid[other],
            model_id=ev.rid[other],
            model_type=RES,
            type=fb_other[other],
            value=rng.integers(1, 6, ev.n)[other].astype(float),
            _created_age=ev.age[other],
        ),
        make_columns(
            int(c_rating.sum()),
            user_id=ch.user[c_rating],
            model_id=ch.cid[c_rating],
            model_type=CHA,
            type="ranking_challenge",
            value=rng.integers(1, 6, ch.n)[c_rating].astype(float),
            _created_age=ch.age[c_rating],
        ),
        make_columns(
            int(a_rating.sum()),
            user_id=None,
            model_id=anon.resume[a_rating] + 1,
            model_type=RES,
            type="ranking_resume",
            value=rng.integers(1, 6, anon.n)[a_rating].astype(float),
            _created_age=anon.age[a_rating],
        ),
    )


def likes_table(ev: ResumeEvents, ch: ChallengeEvents, anon: AnonymousEvents) -> Columns:
    """Resume saves and likes, challenge and anonymous saves."""
    mask = ev.of_kind(1) | ev.of_kind(4)
    c_save, a_save = ch.kind == 1, anon.kind == 1
    return concat_columns(
        make_columns(
            int(mask.sum()),
            user_id=ev.uid[mask],
            model_id=ev.rid[mask],
            model_type=RES,
            type=np.where(ev.kind[mask] == 1, "save", "like"),
            _created_age=ev.age[mask],
        ),
        make_columns(
            int(c_save.sum()),
            user_id=ch.user[c_save],
            model_id=ch.cid[c_save],
            model_type=CHA,
            type="save",
            _created_age=ch.age[c_save],
        ),
        make_columns(
            int(a_save.sum()),
            user_id=None,
            model_id=anon.resume[a_save] + 1,
            model_type=RES,
            type="save",
            _created_age=anon.age[a_save],
        ),
    )


def matches_table(ev: ResumeEvents, ch: ChallengeEvents, anon: AnonymousEvents) -> Columns:
    """Resume matches (accepted, pending, rejected), challenge and anonymous matches."""
    mask = ev.of_kind(2) | ev.of_kind(5) | ev.of_kind(6)
    status = np.asarray(["accepted"] * 5 + ["pending", "rejected"], dtype=object)  # by kind
    c_match, a_match = ch.kind == 2, anon.kind == 2
    return concat_columns(
        make_columns(
            int(mask.sum()),
            user_id=ev.uid[mask],
            model_id=ev.rid[mask],
            model_type=RES,
            status=status[ev.kind[mask]],
            _created_age=ev.age[mask],
        ),
        make_columns(
            int(c_match.sum()),
            user_id=ch.user[c_match],
            model_id=ch.cid[c_match],
            model_type=CHA,
            status="accepted",
            _created_age=ch.age[c_match],
        ),
        make_columns(
            int(a_match.sum()),
            user_id=None,
            model_id=anon.resume[a_match] + 1,
            model_type=RES,
            status="accepted",
            _created_age=anon.age[a_match],
        ),
    )
