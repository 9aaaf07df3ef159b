"""Assemble the whole world in memory: every table's rows (in insertion order) plus the
ground truth arrays and the counts a loader should read back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np

from pitchrec.lab.world import collaborative as collab
from pitchrec.lab.world import vocabulary as vocab
from pitchrec.lab.world.activity import build_activity
from pitchrec.lab.world.affinity import COEFFICIENTS
from pitchrec.lab.world.catalogue import build_challenges, build_resumes
from pitchrec.lab.world.common import DAY, Columns, Floats, Volumes, ages_to_datetimes
from pitchrec.lab.world.people import build_connections, build_profiles, build_users
from pitchrec.lab.world.popular import POPULAR
from pitchrec.lab.world.truth import COLLABORATIVE_FORMAT_VERSION, FORMAT_VERSION, unicode_array
from pitchrec.sources import schema

_PLURAL = {"rating": "ratings", "save": "saves", "match": "matches", "view": "views"}
_AGE_COLUMNS = (
    ("_created_age", "created_at"),
    ("_updated_age", "updated_at"),
    ("_deleted_age", "deleted_at"),
    ("_status_at_age", "status_at"),
)


@dataclass
class World:
    tables: dict[str, TableRows]  # in schema.ALL_TABLES order
    truth: dict[str, np.ndarray]
    counts: dict[str, int]
    blacklist: list[str]


def _in_window(cols: Columns, days: int) -> np.ndarray:
    return np.asarray(cols["_created_age"], dtype=np.int64) <= days * DAY


def _not_null(values: Any) -> np.ndarray:
    return np.array([v is not None for v in values], dtype=bool)


def _history_counts(tables: dict[str, Columns]) -> dict[str, int]:
    """Rows each legacy history query of spec 1.2.3 returns, split by item model type."""
    tf, likes, matches, log = (
        tables[k] for k in ("team_feedbacks", "likes", "matches", "activity_log")
    )
    value = np.asarray(tf["value"], dtype=np.float64)
    masks = {
        "rating": (tf["type"] == "ranking_resume")
        & (value > 0)
        & _not_null(tf["user_id"])
        & _in_window(tf, 90),
        "save": (likes["type"] == "save") & _not_null(likes["user_id"]) & _in_window(likes, 90),
        "match": (matches["status"] == "accepted")
        & _not_null(matches["user_id"])
        & _in_window(matches, 90),
        "view": np.array(
            ["video" in d and "view" in d.split("video", 1)[1] for d in log["description"]],
            dtype=bool,
        )
        & _not_null(log["causer_id"])
        & _not_null(log["subject_id"])
        & _in_window(log, 30),
    }
    types = {
        "rating": tf["model_type"],
        "save": likes["model_type"],
        "match": matches["model_type"],
        "view": log["subject_type"],
    }
    out: dict[str, int] = {}
    for kind, mask in masks.items():
        is_resume = np.asarray(types[kind]) == schema.RESUME_MODEL_TYPE
        out[f"{_PLURAL[kind]}_in_window"] = int((mask & is_resume).sum())
        out[f"challenge_{_PLURAL[kind]}_in_window"] = int((mask & ~is_resume).sum())
    return out


@dataclass
class TableRows:
    """One table's rows in insertion order, kept compact (numpy where possible) and turned
    into Python values one chunk at a time by :meth:`chunk`."""

    n: int
    columns: dict[str, Any]  # column -> ndarray or list, already in row order
    ages: dict[str, Floats]  # timestamp column -> seconds before ``now`` (NaN: NULL)
    now: np.datetime64

    def chunk(self, lo: int, hi: int) -> dict[str, list[Any]]:
        out: dict[str, list[Any]] = {}
        for key, value in self.columns.items():
            part = value[lo:hi]
            out[key] = part.tolist() if isinstance(part, np.ndarray) else part
        for key, ages in self.ages.items():
            out[key] = ages_to_datetimes(self.now, ages[lo:hi])
        if "updated_at" not in out:
            out["updated_at"] = out["created_at"]
        return out


def _finalise(cols: Columns, now: np.datetime64) -> TableRows:
    """Order rows by creation (ids follow time) unless ids are already set."""
    created = np.asarray(cols["_created_age"], dtype=np.int64)
    order = None if "id" in cols else np.argsort(-created, kind="stable")
    out: dict[str, Any] = {}
    if order is not None:
        out["id"] = np.arange(1, len(created) + 1, dtype=np.int64)
    for key, value in cols.items():
        if key.startswith("_"):
            continue
        if isinstance(value, np.ndarray):
            out[key] = value if order is None else value[order]
        else:
            out[key] = value if order is None else [value[i] for i in order.tolist()]
    ages: dict[str, Floats] = {}
    for src, dst in _AGE_COLUMNS:
        if src in cols:
            arr = np.asarray(cols[src], dtype=np.float64)
            ages[dst] = arr if order is None else arr[order]
    return TableRows(len(created), out, ages, now)


#: The world kinds :func:`build_world` knows: the skills-driven world (the original), the
#: collaborative one (:mod:`.collaborative`) and the popularity-dominated one
#: (:mod:`.popular`, the collaborative model with other coefficients).
WORLD_KINDS = ("skills", "collaborative", "popular")
#: The latent-factor kinds and their coefficient sets.
LATENT_MODELS: dict[str, collab.LatentModel] = {
    "collaborative": collab.COLLABORATIVE,
    "popular": POPULAR,
}


def build_world(scale: float, seed: int, now: datetime, kind: str = "skills") -> World:
    if kind not in WORLD_KINDS:
        raise ValueError(f"world kind must be one of {WORLD_KINDS}, got {kind!r}")
    vol = Volumes.at(scale)
    now64 = np.datetime64(now.replace(microsecond=0, tzinfo=None), "s")
    users = build_users(seed, vol)
    resumes = build_resumes(seed, vol, users)
    challenges = build_challenges(seed, vol, users)
    creator = np.zeros(users.n, dtype=bool)
    creator[resumes.owner] = True
    ties = build_connections(seed, vol, users, creator)
    model = LATENT_MODELS.get(kind)
    latent = None if model is None else collab.build_latent(seed, users, resumes, model)
    raw: dict[str, Columns] = {
        "users": users.columns,
        "profiles": build_profiles(seed, users),
        "resumes": resumes.columns,
        "challenges": challenges.columns,
        **build_activity(seed, vol, users, resumes, challenges, ties, now64, latent),
        "user_connections": ties.columns,
    }
    counts = _history_counts(raw)
    counts["eligible_resumes"] = int(resumes.eligible.sum())
    counts["eligible_challenges"] = int(challenges.eligible.sum())
    counts["near_miss_resumes"] = int(resumes.near_miss.sum())
    listed = set(resumes.blacklist)
    counts["blacklisted_resumes"] = sum(v in listed for v in resumes.columns["video"])
    counts["blacklisted_challenges"] = len(challenges.blacklist)
    counts["test_word_challenges"] = int(challenges.test_word.sum())
    conn = ties.columns
    counts["connections_in_window"] = int(
        ((np.asarray(conn["status"]) == "accepted") & _in_window(conn, 90)).sum()
    )
    blacklist = [
        *resumes.blacklist,
        *challenges.blacklist,
        "https://media.talentpitch.co/medias/3/promo%20final.mp4",
        "https://media.talentpitch.co/challenges/999999/retirado.mp4",
    ]
    tables = {t.name: _finalise(raw[t.name], now64) for t in schema.ALL_TABLES}
    truth = _truth(seed, scale, now64, users, resumes, challenges, blacklist)
    if latent is not None:
        truth.update(_collaborative_truth(latent))
    return World(tables, truth, counts, blacklist)


def _collaborative_truth(latent: collab.Latent) -> dict[str, np.ndarray]:
    """The keys a latent-factor world (collaborative or popular) adds or overrides, with
    the coefficients its picks used (see :mod:`.truth`)."""
    coefficients = latent.model.coefficients
    return {
        "format_version": np.asarray(COLLABORATIVE_FORMAT_VERSION, dtype=np.int64),
        "world_kind": np.asarray(latent.model.kind),
        "affinity_names": unicode_array(coefficients),
        "affinity_coefficients": np.asarray(list(coefficients.values()), dtype=np.float64),
        "user_factors": latent.user_factors.astype(np.float64),
        "resume_factors": latent.resume_factors.astype(np.float64),
        "resume_popularity": latent.popularity.astype(np.float64),
        "user_active_from_age": latent.period_start.astype(np.int64),
        "user_active_until_age": latent.period_end.astype(np.int64),
        "attention_days": np.asarray(collab.ATTENTION_DAYS, dtype=np.float64),
    }


def _truth(
    seed: int,
    scale: float,
    now: np.datetime64,
    users: Any,
    resumes: Any,
    challenges: Any,
    blacklist: list[str],
) -> dict[str, np.ndarray]:
    cities = unicode_array(p[0] for p in vocab.PLACES)
    skills = resumes.skills
    has = skills >= 0
    r_ptr = np.zeros(len(skills) + 1, dtype=np.int64)
    np.cumsum(has.sum(1), out=r_ptr[1:])
    return {
        "format_version": np.int64(FORMAT_VERSION),
        "seed": np.int64(seed),
        "scale": np.float64(scale),
        "now": np.str_(str(now)),
        "skill_vocabulary": unicode_array(vocab.SKILLS),
        "city_vocabulary": cities,
        "affinity_names": unicode_array(COEFFICIENTS),
        "affinity_coefficients": np.asarray(list(COEFFICIENTS.values()), dtype=np.float64),
        "user_id": users.ids,
        "user_taste_indptr": users.taste_indptr.astype(np.int64),
        "user_taste_indices": users.taste_indices.astype(np.int32),
        "user_taste_weights": users.taste_weights.astype(np.float64),
        "user_city": cities[users.pref_place],
        "user_home_city": cities[users.place],
        "user_social_weight": users.social,
        "user_activity": users.activity,
        "user_is_org": users.org,
        "resume_id": np.arange(1, resumes.n + 1, dtype=np.int64),
        "resume_user_id": (resumes.owner + 1).astype(np.int64),
        "resume_quality": resumes.quality,
        "resume_city": cities[users.place[resumes.owner]],
        "resume_skill_indptr": r_ptr,
        "resume_skill_indices": skills[has].astype(np.int32),
        "resume_eligible": resumes.eligible,
        "challenge_id": np.arange(1, challenges.n + 1, dtype=np.int64),
        "challenge_quality": challenges.quality,
        "challenge_eligible": challenges.eligible,
        "blacklist": unicode_array(blacklist),
    }
