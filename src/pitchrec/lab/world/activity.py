"""Interaction and aggregate tables: team_feedbacks, likes, matches, resumes_exhibited,
views and activity_log.

User-attributed rows of the first three tables and the ``#video #view`` rows of
activity_log all come from the behaviour model (:mod:`.affinity`), so every user's history
follows the ground truth. ``views`` and ``resumes_exhibited`` (aggregates only) and a few
anonymous rows are drawn from a popularity that grows with the latent quality.
"""

from __future__ import annotations

import json

import numpy as np

from pitchrec.lab.world.affinity import pick_resumes
from pitchrec.lab.world.catalogue import Challenges, Resumes
from pitchrec.lab.world.common import (
    DAY,
    EDGE,
    MINUTE,
    Columns,
    Floats,
    Ints,
    Objects,
    Volumes,
    stream,
    weighted_pick,
)
from pitchrec.lab.world.people import Connections, Users
from pitchrec.sources import schema

RES = schema.RESUME_MODEL_TYPE
CHA = schema.CHALLENGE_MODEL_TYPE
PROFILE_MODEL_TYPE = "App\\Interacpedia\\Profiles\\Profile"
#: Event kinds of the behaviour model and their history window (days; 0: not history).
KINDS = ("rating", "save", "match", "view", "like", "match_pending", "match_rejected", "other")
WINDOW_DAYS = (90, 90, 90, 30, 0, 0, 0, 0)
P_RECENT = 0.75
SLOTS = np.asarray(["VMP", "AU", "NU", "resume"], dtype=object)


def _times(rng: np.random.Generator, kind: Ints, item_age: Ints) -> Ints:
    """Event ages: inside the kind's window with P_RECENT (or whenever the item is too
    young for an older event), else before the window; never before the item existed."""
    window = np.asarray(WINDOW_DAYS, dtype=np.int64)[kind] * DAY
    n = len(kind)
    can_be_old = (window > 0) & (item_age > window + EDGE + MINUTE)
    old = can_be_old & (rng.random(n) >= P_RECENT)
    recent_hi = np.where(window > 0, np.minimum(item_age, window - EDGE), item_age)
    recent_hi = np.maximum(recent_hi, MINUTE + 1)
    age = rng.uniform(MINUTE, recent_hi)
    age[old] = rng.uniform(window[old] + EDGE, item_age[old])
    return age.astype(np.int64)


def _nullable_ids(ids: np.ndarray, null: np.ndarray) -> Objects:
    out = ids.astype(object)
    out[null] = None
    return out


def _concat(*parts: Columns) -> Columns:
    keys = parts[0].keys()
    return {k: np.concatenate([np.asarray(p[k], dtype=object) for p in parts]) for k in keys}


def _rows(n: int, **cols: object) -> Columns:
    out: Columns = {}
    for k, v in cols.items():
        arr = np.asarray(v, dtype=object)
        out[k] = np.full(n, v, dtype=object) if arr.ndim == 0 else arr
    return out


def build_activity(
    seed: int,
    vol: Volumes,
    users: Users,
    resumes: Resumes,
    challenges: Challenges,
    ties: Connections,
    now: np.datetime64,
) -> dict[str, Columns]:
    rng = stream(seed, "activity")
    picks = pick_resumes(stream(seed, "affinity"), users, resumes, ties, vol.events)
    n = len(picks.user)
    noise = rng.random(n) < 0.09
    p_view = 0.50 + 0.20 * picks.rank_frac
    u = rng.random(n)
    rest = 1 - p_view  # split 20:15:10 over rating, save, match
    main = np.select(
        [u < p_view, u < p_view + rest * 20 / 45, u < p_view + rest * 35 / 45], [3, 0, 1], 2
    )
    kind = np.where(noise, weighted_pick(rng, np.array([4, 2.5, 1.5, 1.0]), n) + 4, main)
    age = _times(rng, kind, resumes.age[picks.resume])
    uid = picks.user + 1
    rid = picks.resume + 1
    quality = resumes.quality[picks.resume]
    raw = 1 + 4 * (0.55 * quality + 0.45 * (1 - picks.rank_frac)) + rng.normal(0, 0.6, n)
    value = np.clip(np.round(raw), 1, 5)
    odd = rng.random(n)
    value[odd < 0.015] = 0.0
    value[(odd >= 0.015) & (odd < 0.025)] = rng.choice([6.0, 7.0, 10.0], n)[
        (odd >= 0.015) & (odd < 0.025)
    ]

    # challenge-typed rows (model_type = challenge, model_id = challenge id)
    ch_vis = np.flatnonzero(np.array([v is not None for v in challenges.columns["video"]]))
    m = vol.challenge_events if len(ch_vis) else 0
    c_user = weighted_pick(rng, users.activity, m) + 1
    c_idx = ch_vis[weighted_pick(rng, challenges.quality[ch_vis] ** 2 + 0.05, m)] if m else ch_vis
    c_kind = weighted_pick(rng, np.array([0.15, 0.35, 0.2, 0.3]), m)  # other, save, match, view
    c_item_age = np.asarray(challenges.columns["_created_age"], dtype=np.int64)[c_idx]
    c_age = _times(rng, np.array([7, 1, 2, 3])[c_kind], c_item_age)
    cid = c_idx + 1

    # anonymous, popularity-driven rows
    pop = np.exp(2.2 * resumes.quality + 0.7 * rng.standard_normal(resumes.n)) * resumes.visible
    n_anon = max(3, round(0.02 * n))
    a_res = weighted_pick(rng, pop, n_anon)
    a_age = rng.uniform(MINUTE, resumes.age[a_res]).astype(np.int64)
    a_kind = rng.integers(0, 3, n_anon)  # rating, save, match

    def sel(k: int) -> np.ndarray:
        return np.asarray(kind == k)

    fb_other = rng.choice(["ranking_team", "comment_resume", "recommendation"], n)
    tf = _concat(
        _rows(int(sel(0).sum()), user_id=uid[sel(0)], model_id=rid[sel(0)], model_type=RES,
              type="ranking_resume", value=value[sel(0)], _created_age=age[sel(0)]),
        _rows(int(sel(7).sum()), user_id=uid[sel(7)], model_id=rid[sel(7)], model_type=RES,
              type=fb_other[sel(7)], value=rng.integers(1, 6, n)[sel(7)].astype(float),
              _created_age=age[sel(7)]),
        _rows(int((c_kind == 0).sum()), user_id=c_user[c_kind == 0], model_id=cid[c_kind == 0],
              model_type=CHA, type="ranking_challenge",
              value=rng.integers(1, 6, m)[c_kind == 0].astype(float),
              _created_age=c_age[c_kind == 0]),
        _rows(int((a_kind == 0).sum()), user_id=None, model_id=a_res[a_kind == 0] + 1,
              model_type=RES, type="ranking_resume", value=rng.integers(1, 6, n_anon)[a_kind == 0]
              .astype(float), _created_age=a_age[a_kind == 0]),
    )  # fmt: skip
    like_mask = sel(1) | sel(4)
    likes = _concat(
        _rows(int(like_mask.sum()), user_id=uid[like_mask], model_id=rid[like_mask],
              model_type=RES, type=np.where(kind[like_mask] == 1, "save", "like"),
              _created_age=age[like_mask]),
        _rows(int((c_kind == 1).sum()), user_id=c_user[c_kind == 1], model_id=cid[c_kind == 1],
              model_type=CHA, type="save", _created_age=c_age[c_kind == 1]),
        _rows(int((a_kind == 1).sum()), user_id=None, model_id=a_res[a_kind == 1] + 1,
              model_type=RES, type="save", _created_age=a_age[a_kind == 1]),
    )  # fmt: skip
    match_mask = sel(2) | sel(5) | sel(6)
    m_status = np.asarray(["accepted"] * 5 + ["pending", "rejected"], dtype=object)  # by kind
    matches = _concat(
        _rows(int(match_mask.sum()), user_id=uid[match_mask], model_id=rid[match_mask],
              model_type=RES, status=m_status[kind[match_mask]], _created_age=age[match_mask]),
        _rows(int((c_kind == 2).sum()), user_id=c_user[c_kind == 2], model_id=cid[c_kind == 2],
              model_type=CHA, status="accepted", _created_age=c_age[c_kind == 2]),
        _rows(int((a_kind == 2).sum()), user_id=None, model_id=a_res[a_kind == 2] + 1,
              model_type=RES, status="accepted", _created_age=a_age[a_kind == 2]),
    )  # fmt: skip
    log = _activity_log(rng, now, users, resumes, challenges, pop,
                        (uid[sel(3)], rid[sel(3)], age[sel(3)]),
                        (c_user[c_kind == 3], cid[c_kind == 3], c_age[c_kind == 3]))  # fmt: skip
    views = _views(rng, vol, users, resumes, challenges, pop)
    r_ex = weighted_pick(rng, pop**0.8, vol.exhibited)
    exhibited = _rows(
        vol.exhibited,
        resume_id=r_ex + 1,
        user_id=_nullable_ids(weighted_pick(rng, users.activity, vol.exhibited) + 1,
                              rng.random(vol.exhibited) < 0.2),
        _created_age=rng.uniform(MINUTE, resumes.age[r_ex]).astype(np.int64),
    )  # fmt: skip
    for table in (tf, likes, matches):
        table["user_id"] = np.asarray(table["user_id"], dtype=object)
    return {
        "team_feedbacks": tf,
        "likes": likes,
        "matches": matches,
        "resumes_exhibited": exhibited,
        "views": views,
        "activity_log": log,
    }


def _views(
    rng: np.random.Generator,
    vol: Volumes,
    users: Users,
    resumes: Resumes,
    challenges: Challenges,
    pop: Floats,
) -> Columns:
    n = vol.popularity_views
    r = weighted_pick(rng, pop, n)
    n_other = max(2, round(0.04 * n))
    kind = rng.integers(0, 2, n_other)
    other_id = np.where(
        kind == 0, rng.integers(1, challenges.n + 1, n_other), rng.integers(1, users.n + 1, n_other)
    )
    other_type = np.where(kind == 0, CHA, PROFILE_MODEL_TYPE)
    total = n + n_other
    viewer = weighted_pick(rng, users.activity, total) + 1
    return _rows(
        total,
        model_id=np.concatenate([r + 1, other_id]),
        model_type=np.concatenate([np.full(n, RES, dtype=object), other_type]),
        user_id=_nullable_ids(viewer, rng.random(total) < 0.4),
        _created_age=np.concatenate(
            [rng.uniform(MINUTE, resumes.age[r]), rng.uniform(MINUTE, 400 * DAY, n_other)]
        ).astype(np.int64),
    )


def _activity_log(
    rng: np.random.Generator,
    now: np.datetime64,
    users: Users,
    resumes: Resumes,
    challenges: Challenges,
    pop: Floats,
    resume_views: tuple[Ints, Ints, Ints],
    challenge_views: tuple[Ints, Ints, Ints],
) -> Columns:
    ru, rid, rage = resume_views
    cu, cid, cage = challenge_views
    n_anon = max(1, round(0.01 * len(ru)))  # views with no causer: not history
    a_res = weighted_pick(rng, pop, n_anon)
    user = np.concatenate([ru, cu, np.zeros(n_anon, dtype=np.int64)])
    item = np.concatenate([rid, cid, a_res + 1])
    age = np.concatenate([rage, cage, rng.uniform(MINUTE, resumes.age[a_res]).astype(np.int64)])
    is_ch = np.concatenate(
        [np.zeros(len(ru), bool), np.ones(len(cu), bool), np.zeros(n_anon, bool)]
    )
    slot = np.where(is_ch, "FW", SLOTS[rng.integers(0, len(SLOTS), len(user))])
    r_urls, c_urls = resumes.columns["video"], challenges.columns["video"]
    stamps = np.datetime_as_string((now - age.astype("timedelta64[s]")).astype("datetime64[us]"))
    unix = (now - age.astype("timedelta64[s]")).astype(np.int64)
    position = rng.integers(1, 25, len(user))
    props, urls, descs = [], [], []
    for i in range(len(user)):
        uid = int(user[i]) if user[i] else None
        vid = int(item[i])
        event = {
            "event_type": "video_view", "user_id": uid, "video_id": vid,
            "video_url": (c_urls if is_ch[i] else r_urls)[vid - 1], "position": int(position[i]),
            "feed_type": slot[i], "timestamp": str(stamps[i]),
            "session_id": f"session:{uid}:{unix[i]}",
        }  # fmt: skip
        props.append(json.dumps(event, ensure_ascii=False))
        urls.append(f"/api/search/feed/video/{vid}")
        descs.append(f"#video #view #{slot[i]}")
    views = _rows(
        len(user), log_name="app", description=descs, subject_id=item,
        subject_type=np.where(is_ch, CHA, RES), causer_id=_nullable_ids(user, user == 0),
        causer_type=_nullable_ids(np.full(len(user), schema.USER_MODEL_TYPE, dtype=object),
                                  user == 0), properties=props,
        url=urls, _created_age=age,
    )  # fmt: skip
    # feed requests (not history: no video/view in the description) and Laravel model logs
    n_req = max(1, len(ru) // 10)
    endpoint = np.asarray(["total", "discover", "flow"], dtype=object)[rng.integers(0, 3, n_req)]
    req_user = weighted_pick(rng, users.activity, n_req) + 1
    req_age = rng.uniform(MINUTE, 60 * DAY, n_req).astype(np.int64)
    req_props = [
        json.dumps({"event_type": "feed_request", "user_id": int(req_user[i]),
                    "endpoint": endpoint[i], "params": {"excluded_count": int(i % 30)}})
        for i in range(n_req)
    ]  # fmt: skip
    requests = _rows(
        n_req, log_name="app", description=np.char.add("#feed #request #", endpoint.astype(str)),
        subject_id=None, subject_type=None, causer_id=req_user,
        causer_type=schema.USER_MODEL_TYPE, properties=req_props,
        url=np.char.add("/api/search/", endpoint.astype(str)), _created_age=req_age,
    )  # fmt: skip
    n_model = max(1, resumes.n // 2)
    m_res = rng.integers(0, resumes.n, n_model)
    model_logs = _rows(
        n_model, log_name="default", description=rng.choice(["created", "updated"], n_model),
        subject_id=m_res + 1, subject_type=RES, causer_id=resumes.owner[m_res] + 1,
        causer_type=schema.USER_MODEL_TYPE, properties="{}", url=None,
        _created_age=rng.uniform(MINUTE, resumes.age[m_res]).astype(np.int64),
    )  # fmt: skip
    return _concat(views, requests, model_logs)
