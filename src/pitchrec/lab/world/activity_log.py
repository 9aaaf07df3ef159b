"""The activity_log table: the ``#video #view`` rows of the behaviour model's views (the
view history) plus a few anonymous ones, feed requests and Laravel model logs (neither of
which is history).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from pitchrec.lab.world.activity_aggregates import ActivitySources
from pitchrec.lab.world.activity_events import (
    CHA,
    RES,
    ChallengeEvents,
    ResumeEvents,
    ages_after_creation,
)
from pitchrec.lab.world.catalogue import Resumes
from pitchrec.lab.world.common import (
    DAY,
    MINUTE,
    Bools,
    Columns,
    Ints,
    concat_columns,
    ids_or_none,
    make_columns,
    weighted_pick,
)
from pitchrec.lab.world.people import Users
from pitchrec.sources import schema

#: Feed slots of the resume views (challenge views are always FW).
SLOTS = np.asarray(["VMP", "AU", "NU", "resume"], dtype=object)


def activity_log_table(
    rng: np.random.Generator,
    now: np.datetime64,
    sources: ActivitySources,
    ev: ResumeEvents,
    ch: ChallengeEvents,
) -> Columns:
    """View rows of the events' ``view`` kinds, then feed requests and model logs."""
    video_views = _video_views(ev, ch)
    n_resume_views = len(video_views.resume[0])
    views = _view_logs(rng, now, sources, video_views)
    # feed requests (not history: no video/view in the description) and Laravel model logs
    requests = _request_logs(rng, sources.users, max(1, n_resume_views // 10))
    model_logs = _model_logs(rng, sources.resumes)
    return concat_columns(views, requests, model_logs)


@dataclass(frozen=True)
class _VideoViews:
    """The ``#video #view`` events of the behaviour model: (user id, item id, age) of the
    resume views and of the challenge views."""

    resume: tuple[Ints, Ints, Ints]
    challenge: tuple[Ints, Ints, Ints]


def _video_views(ev: ResumeEvents, ch: ChallengeEvents) -> _VideoViews:
    view, c_view = ev.of_kind(3), ch.kind == 3
    return _VideoViews(
        (ev.uid[view], ev.rid[view], ev.age[view]),
        (ch.user[c_view], ch.cid[c_view], ch.age[c_view]),
    )


@dataclass(frozen=True)
class _ViewRows:
    """Every ``#video #view`` row: causer (0: none), item id, age, challenge flag."""

    user: Ints
    item: Ints
    age: Ints
    is_challenge: Bools


def _view_rows(
    rng: np.random.Generator, sources: ActivitySources, video_views: _VideoViews
) -> _ViewRows:
    ru, rid, rage = video_views.resume
    cu, cid, cage = video_views.challenge
    n_anon = max(1, round(0.01 * len(ru)))  # views with no causer: not history
    a_res = weighted_pick(rng, sources.pop, n_anon)
    user = np.concatenate([ru, cu, np.zeros(n_anon, dtype=np.int64)])
    item = np.concatenate([rid, cid, a_res + 1])
    a_age = ages_after_creation(rng, sources.resumes.age[a_res], sources.collaborative)
    age = np.concatenate([rage, cage, a_age])
    is_ch = np.concatenate(
        [np.zeros(len(ru), bool), np.ones(len(cu), bool), np.zeros(n_anon, bool)]
    )
    return _ViewRows(user, item, age, is_ch)


def _view_logs(
    rng: np.random.Generator, now: np.datetime64, sources: ActivitySources, video_views: _VideoViews
) -> Columns:
    v = _view_rows(rng, sources, video_views)
    user, item, is_ch = v.user, v.item, v.is_challenge
    slot = np.where(is_ch, "FW", SLOTS[rng.integers(0, len(SLOTS), len(user))])
    r_urls, c_urls = sources.resumes.columns["video"], sources.challenges.columns["video"]
    stamps = np.datetime_as_string((now - v.age.astype("timedelta64[s]")).astype("datetime64[us]"))
    unix = (now - v.age.astype("timedelta64[s]")).astype(np.int64)
    position = rng.integers(1, 25, len(user))
    props, urls, descs = [], [], []
    for i in range(len(user)):
        uid = int(user[i]) if user[i] else None
        vid = int(item[i])
        event = {
            "event_type": "video_view",
            "user_id": uid,
            "video_id": vid,
            "video_url": (c_urls if is_ch[i] else r_urls)[vid - 1],
            "position": int(position[i]),
            "feed_type": slot[i],
            "timestamp": str(stamps[i]),
            "session_id": f"session:{uid}:{unix[i]}",
        }
        props.append(json.dumps(event, ensure_ascii=False))
        urls.append(f"/api/search/feed/video/{vid}")
        descs.append(f"#video #view #{slot[i]}")
    no_causer = user == 0
    causer_type = np.full(len(user), schema.USER_MODEL_TYPE, dtype=object)
    return make_columns(
        len(user),
        log_name="app",
        description=descs,
        subject_id=item,
        subject_type=np.where(is_ch, CHA, RES),
        causer_id=ids_or_none(user, no_causer),
        causer_type=ids_or_none(causer_type, no_causer),
        properties=props,
        url=urls,
        _created_age=v.age,
    )


def _request_logs(rng: np.random.Generator, users: Users, n_req: int) -> Columns:
    endpoint = np.asarray(["total", "discover", "flow"], dtype=object)[rng.integers(0, 3, n_req)]
    req_user = weighted_pick(rng, users.activity, n_req) + 1
    req_age = rng.uniform(MINUTE, 60 * DAY, n_req).astype(np.int64)
    req_props = [
        json.dumps(
            {
                "event_type": "feed_request",
                "user_id": int(req_user[i]),
                "endpoint": endpoint[i],
                "params": {"excluded_count": int(i % 30)},
            }
        )
        for i in range(n_req)
    ]
    return make_columns(
        n_req,
        log_name="app",
        description=np.char.add("#feed #request #", endpoint.astype(str)),
        subject_id=None,
        subject_type=None,
        causer_id=req_user,
        causer_type=schema.USER_MODEL_TYPE,
        properties=req_props,
        url=np.char.add("/api/search/", endpoint.astype(str)),
        _created_age=req_age,
    )


def _model_logs(rng: np.random.Generator, resumes: Resumes) -> Columns:
    n_model = max(1, resumes.n // 2)
    m_res = rng.integers(0, resumes.n, n_model)
    return make_columns(
        n_model,
        log_name="default",
        description=rng.choice(["created", "updated"], n_model),
        subject_id=m_res + 1,
        subject_type=RES,
        causer_id=resumes.owner[m_res] + 1,
        causer_type=schema.USER_MODEL_TYPE,
        properties="{}",
        url=None,
        _created_age=rng.uniform(MINUTE, resumes.age[m_res]).astype(np.int64),
    )
