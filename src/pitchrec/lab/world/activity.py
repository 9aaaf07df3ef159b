"""Interaction and aggregate tables: team_feedbacks, likes, matches, resumes_exhibited,
views and activity_log.

User-attributed rows of the first three tables and the ``#video #view`` rows of
activity_log all come from the behaviour model (:mod:`.affinity`), so every user's history
follows the ground truth. ``views`` and ``resumes_exhibited`` (aggregates only) and a few
anonymous rows are drawn from a popularity that grows with the latent quality.

In the collaborative world (``latent`` given, :mod:`.collaborative`) the behaviour model is
:func:`.collaborative.pick_collaborative`, every user-attributed row is timed on its
resume's attention curve inside the user's activity period, the kinds and ratings follow
each pick's utility rank, and the aggregates use the long-tailed latent popularity.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from pitchrec.lab.world import collaborative as collab
from pitchrec.lab.world.affinity import Picks, pick_resumes
from pitchrec.lab.world.catalogue import Challenges, Resumes
from pitchrec.lab.world.common import (
    DAY,
    EDGE,
    MINUTE,
    Bools,
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


@dataclass(frozen=True)
class _ResumeEvents:
    """Behaviour-model events on resumes: user and resume ids, kind (index into KINDS),
    age in seconds and rating value, one entry per pick."""

    uid: Ints
    rid: Ints
    kind: Ints
    age: Ints
    value: Floats

    @property
    def n(self) -> int:
        return len(self.uid)

    def of_kind(self, k: int) -> np.ndarray:
        return np.asarray(self.kind == k)


@dataclass(frozen=True)
class _ChallengeEvents:
    """Challenge-typed events (model_type = challenge, model_id = challenge id); ``kind``:
    0 other, 1 save, 2 match, 3 view."""

    user: Ints
    cid: Ints
    kind: Ints
    age: Ints

    @property
    def n(self) -> int:
        return len(self.user)


@dataclass(frozen=True)
class _AnonymousEvents:
    """Popularity-driven rows without a user; ``kind``: 0 rating, 1 save, 2 match."""

    resume: Ints
    age: Ints
    kind: Ints

    @property
    def n(self) -> int:
        return len(self.resume)


def build_activity(
    seed: int,
    vol: Volumes,
    users: Users,
    resumes: Resumes,
    challenges: Challenges,
    ties: Connections,
    now: np.datetime64,
    latent: collab.Latent | None = None,
) -> dict[str, Columns]:
    """The interaction and aggregate tables; ``latent`` selects the collaborative world."""
    rng = stream(seed, "activity")
    if latent is None:
        picks = pick_resumes(stream(seed, "affinity"), users, resumes, ties, vol.events)
        events = _resume_events(rng, picks, resumes)
    else:
        n_events = vol.events * collab.EVENTS_FACTOR
        picks = collab.pick_collaborative(
            stream(seed, "affinity"), users, resumes, ties, latent, n_events
        )
        events = _collab_resume_events(rng, picks, resumes, latent)
    ch = _challenge_events(rng, vol, users, challenges)
    if latent is None:
        pop = np.exp(2.2 * resumes.quality + 0.7 * rng.standard_normal(resumes.n))
    else:
        pop = latent.weights
    pop = pop * resumes.visible
    anon = _anonymous_events(rng, resumes, pop, max(3, round(0.02 * events.n)), latent)
    tf = _team_feedbacks(rng, events, ch, anon)
    likes = _likes(events, ch, anon)
    matches = _matches(events, ch, anon)
    catalogue = _Catalogue(users, resumes, challenges, pop, latent is not None)
    log = _activity_log(rng, now, catalogue, _video_views(events, ch))
    views = _views(rng, vol, catalogue)
    exhibited = _exhibited(rng, vol, catalogue)
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


def _event_kinds(rng: np.random.Generator, rank_frac: Floats) -> Ints:
    """Kind of each pick: mostly view/rating/save/match (favourites are viewed more), 9 %
    noise kinds (like, pending or rejected match, other feedback)."""
    n = len(rank_frac)
    noise = rng.random(n) < 0.09
    p_view = 0.50 + 0.20 * rank_frac
    u = rng.random(n)
    rest = 1 - p_view  # split 20:15:10 over rating, save, match
    main = np.select(
        [u < p_view, u < p_view + rest * 20 / 45, u < p_view + rest * 35 / 45], [3, 0, 1], 2
    )
    kind: Ints = np.where(noise, weighted_pick(rng, np.array([4, 2.5, 1.5, 1.0]), n) + 4, main)
    return kind


def _rating_values(rng: np.random.Generator, quality: Floats, rank_frac: Floats) -> Floats:
    """Ratings 1-5 driven by quality and rank, with 1.5 % zeros and 1 % out-of-range."""
    n = len(quality)
    raw = 1 + 4 * (0.55 * quality + 0.45 * (1 - rank_frac)) + rng.normal(0, 0.6, n)
    value: Floats = np.clip(np.round(raw), 1, 5)
    odd = rng.random(n)
    value[odd < 0.015] = 0.0
    out_of_range = (odd >= 0.015) & (odd < 0.025)
    value[out_of_range] = rng.choice([6.0, 7.0, 10.0], n)[out_of_range]
    return value


def _resume_events(rng: np.random.Generator, picks: Picks, resumes: Resumes) -> _ResumeEvents:
    kind = _event_kinds(rng, picks.rank_frac)
    age = _times(rng, kind, resumes.age[picks.resume])
    value = _rating_values(rng, resumes.quality[picks.resume], picks.rank_frac)
    return _ResumeEvents(picks.user + 1, picks.resume + 1, kind, age, value)


def _collab_resume_events(
    rng: np.random.Generator, picks: Picks, resumes: Resumes, latent: collab.Latent
) -> _ResumeEvents:
    kind = collab.positive_kinds(rng, picks.rank_frac)
    age = collab.pick_ages(rng, latent, resumes, picks)
    value = collab.rating_values(rng, resumes.quality[picks.resume], picks.rank_frac)
    return _ResumeEvents(picks.user + 1, picks.resume + 1, kind, age, value)


def _after_creation(rng: np.random.Generator, item_age: Ints, collaborative: bool) -> Ints:
    """Ages of rows on items of ``item_age``: uniform over the item's life in the skills
    world, on the item's attention curve in the collaborative world."""
    if collaborative:
        return collab.attention_ages(rng, item_age)
    out: Ints = rng.uniform(MINUTE, item_age).astype(np.int64)
    return out


def _challenge_events(
    rng: np.random.Generator, vol: Volumes, users: Users, challenges: Challenges
) -> _ChallengeEvents:
    ch_vis = np.flatnonzero(np.array([v is not None for v in challenges.columns["video"]]))
    m = vol.challenge_events if len(ch_vis) else 0
    user = weighted_pick(rng, users.activity, m) + 1
    idx = ch_vis[weighted_pick(rng, challenges.quality[ch_vis] ** 2 + 0.05, m)] if m else ch_vis
    kind = weighted_pick(rng, np.array([0.15, 0.35, 0.2, 0.3]), m)  # other, save, match, view
    item_age = np.asarray(challenges.columns["_created_age"], dtype=np.int64)[idx]
    age = _times(rng, np.array([7, 1, 2, 3])[kind], item_age)
    return _ChallengeEvents(user, idx + 1, kind, age)


def _anonymous_events(
    rng: np.random.Generator,
    resumes: Resumes,
    pop: Floats,
    n: int,
    latent: collab.Latent | None,
) -> _AnonymousEvents:
    res = weighted_pick(rng, pop, n)
    age = _after_creation(rng, resumes.age[res], latent is not None)
    kind = rng.integers(0, 3, n)  # rating, save, match
    return _AnonymousEvents(res, age, kind)


def _team_feedbacks(
    rng: np.random.Generator, ev: _ResumeEvents, ch: _ChallengeEvents, anon: _AnonymousEvents
) -> Columns:
    fb_other = rng.choice(["ranking_team", "comment_resume", "recommendation"], ev.n)
    rating, other = ev.of_kind(0), ev.of_kind(7)
    c_rating, a_rating = ch.kind == 0, anon.kind == 0
    return _concat(
        _rows(
            int(rating.sum()),
            user_id=ev.uid[rating],
            model_id=ev.rid[rating],
            model_type=RES,
            type="ranking_resume",
            value=ev.value[rating],
            _created_age=ev.age[rating],
        ),
        _rows(
            int(other.sum()),
            user_id=ev.uid[other],
            model_id=ev.rid[other],
            model_type=RES,
            type=fb_other[other],
            value=rng.integers(1, 6, ev.n)[other].astype(float),
            _created_age=ev.age[other],
        ),
        _rows(
            int(c_rating.sum()),
            user_id=ch.user[c_rating],
            model_id=ch.cid[c_rating],
            model_type=CHA,
            type="ranking_challenge",
            value=rng.integers(1, 6, ch.n)[c_rating].astype(float),
            _created_age=ch.age[c_rating],
        ),
        _rows(
            int(a_rating.sum()),
            user_id=None,
            model_id=anon.resume[a_rating] + 1,
            model_type=RES,
            type="ranking_resume",
            value=rng.integers(1, 6, anon.n)[a_rating].astype(float),
            _created_age=anon.age[a_rating],
        ),
    )


def _likes(ev: _ResumeEvents, ch: _ChallengeEvents, anon: _AnonymousEvents) -> Columns:
    mask = ev.of_kind(1) | ev.of_kind(4)
    c_save, a_save = ch.kind == 1, anon.kind == 1
    return _concat(
        _rows(
            int(mask.sum()),
            user_id=ev.uid[mask],
            model_id=ev.rid[mask],
            model_type=RES,
            type=np.where(ev.kind[mask] == 1, "save", "like"),
            _created_age=ev.age[mask],
        ),
        _rows(
            int(c_save.sum()),
            user_id=ch.user[c_save],
            model_id=ch.cid[c_save],
            model_type=CHA,
            type="save",
            _created_age=ch.age[c_save],
        ),
        _rows(
            int(a_save.sum()),
            user_id=None,
            model_id=anon.resume[a_save] + 1,
            model_type=RES,
            type="save",
            _created_age=anon.age[a_save],
        ),
    )


def _matches(ev: _ResumeEvents, ch: _ChallengeEvents, anon: _AnonymousEvents) -> Columns:
    mask = ev.of_kind(2) | ev.of_kind(5) | ev.of_kind(6)
    status = np.asarray(["accepted"] * 5 + ["pending", "rejected"], dtype=object)  # by kind
    c_match, a_match = ch.kind == 2, anon.kind == 2
    return _concat(
        _rows(
            int(mask.sum()),
            user_id=ev.uid[mask],
            model_id=ev.rid[mask],
            model_type=RES,
            status=status[ev.kind[mask]],
            _created_age=ev.age[mask],
        ),
        _rows(
            int(c_match.sum()),
            user_id=ch.user[c_match],
            model_id=ch.cid[c_match],
            model_type=CHA,
            status="accepted",
            _created_age=ch.age[c_match],
        ),
        _rows(
            int(a_match.sum()),
            user_id=None,
            model_id=anon.resume[a_match] + 1,
            model_type=RES,
            status="accepted",
            _created_age=anon.age[a_match],
        ),
    )


@dataclass(frozen=True)
class _VideoViews:
    """The ``#video #view`` events of the behaviour model: (user id, item id, age) of the
    resume views and of the challenge views."""

    resume: tuple[Ints, Ints, Ints]
    challenge: tuple[Ints, Ints, Ints]


def _video_views(ev: _ResumeEvents, ch: _ChallengeEvents) -> _VideoViews:
    view, c_view = ev.of_kind(3), ch.kind == 3
    return _VideoViews(
        (ev.uid[view], ev.rid[view], ev.age[view]),
        (ch.user[c_view], ch.cid[c_view], ch.age[c_view]),
    )


@dataclass(frozen=True)
class _Catalogue:
    """What the aggregate and log rows are drawn from: the people, the items and the
    resumes' popularity."""

    users: Users
    resumes: Resumes
    challenges: Challenges
    pop: Floats
    collaborative: bool = False


def _exhibited(rng: np.random.Generator, vol: Volumes, cat: _Catalogue) -> Columns:
    r_ex = weighted_pick(rng, cat.pop**0.8, vol.exhibited)
    viewer = weighted_pick(rng, cat.users.activity, vol.exhibited) + 1
    return _rows(
        vol.exhibited,
        resume_id=r_ex + 1,
        user_id=_nullable_ids(viewer, rng.random(vol.exhibited) < 0.2),
        _created_age=_after_creation(rng, cat.resumes.age[r_ex], cat.collaborative),
    )


def _views(rng: np.random.Generator, vol: Volumes, cat: _Catalogue) -> Columns:
    users, resumes, challenges = cat.users, cat.resumes, cat.challenges
    n = vol.popularity_views
    r = weighted_pick(rng, cat.pop, n)
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
            [
                _after_creation(rng, resumes.age[r], cat.collaborative),
                rng.uniform(MINUTE, 400 * DAY, n_other).astype(np.int64),
            ]
        ),
    )


def _activity_log(
    rng: np.random.Generator, now: np.datetime64, cat: _Catalogue, video_views: _VideoViews
) -> Columns:
    n_resume_views = len(video_views.resume[0])
    views = _view_logs(rng, now, cat, video_views)
    # feed requests (not history: no video/view in the description) and Laravel model logs
    requests = _request_logs(rng, cat.users, max(1, n_resume_views // 10))
    model_logs = _model_logs(rng, cat.resumes)
    return _concat(views, requests, model_logs)


@dataclass(frozen=True)
class _ViewRows:
    """Every ``#video #view`` row: causer (0: none), item id, age, challenge flag."""

    user: Ints
    item: Ints
    age: Ints
    is_challenge: Bools


def _view_rows(rng: np.random.Generator, cat: _Catalogue, video_views: _VideoViews) -> _ViewRows:
    ru, rid, rage = video_views.resume
    cu, cid, cage = video_views.challenge
    n_anon = max(1, round(0.01 * len(ru)))  # views with no causer: not history
    a_res = weighted_pick(rng, cat.pop, n_anon)
    user = np.concatenate([ru, cu, np.zeros(n_anon, dtype=np.int64)])
    item = np.concatenate([rid, cid, a_res + 1])
    a_age = _after_creation(rng, cat.resumes.age[a_res], cat.collaborative)
    age = np.concatenate([rage, cage, a_age])
    is_ch = np.concatenate(
        [np.zeros(len(ru), bool), np.ones(len(cu), bool), np.zeros(n_anon, bool)]
    )
    return _ViewRows(user, item, age, is_ch)


def _view_logs(
    rng: np.random.Generator, now: np.datetime64, cat: _Catalogue, video_views: _VideoViews
) -> Columns:
    v = _view_rows(rng, cat, video_views)
    user, item, is_ch = v.user, v.item, v.is_challenge
    slot = np.where(is_ch, "FW", SLOTS[rng.integers(0, len(SLOTS), len(user))])
    r_urls, c_urls = cat.resumes.columns["video"], cat.challenges.columns["video"]
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
    return _rows(
        len(user),
        log_name="app",
        description=descs,
        subject_id=item,
        subject_type=np.where(is_ch, CHA, RES),
        causer_id=_nullable_ids(user, no_causer),
        causer_type=_nullable_ids(causer_type, no_causer),
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
    return _rows(
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
    return _rows(
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
