"""Resumes (spec 1.2.1): the eligible rows plus every kind of ineligible one (deleted,
draft, pending, too old, without video, owner deleted, blacklisted, test URL or text), each
with an owner, an age, its true skills and a latent quality, drawn by
:func:`build_resumes` from the ``resumes`` stream."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pitchrec.lab.world import text
from pitchrec.lab.world import vocabulary as vocab
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
    category_labels,
    stream,
    weighted_pick,
)
from pitchrec.lab.world.people import CLUSTER_WEIGHTS, SOFT_CLUSTER, Users, skill_of
from pitchrec.lab.world.rules import has_test_substring, resume_eligibility

MAX_SKILLS = 8
# category, share of the eligible count (each at least 1 row)
RESUME_MIX = (
    ("deleted", 0.05),
    ("draft", 0.04),
    ("pending", 0.03),
    ("old", 0.06),
    ("no_video", 0.02),
    ("owner_deleted", 0.02),
    ("blacklisted", 0.015),
    ("test_url", 0.01),
    ("test_text", 0.012),
)


@dataclass
class Resumes:
    columns: Columns
    owner: Ints  # user index
    quality: Floats
    skills: Ints  # [n, MAX_SKILLS] true skill indices, -1 padded
    visible: Bools  # published once (status 'send' with a video): users could see it
    eligible: Bools
    near_miss: Bools  # eligible, but dropped by the legacy substring filter (D-C15)
    blacklist: list[str]
    age: Ints

    @property
    def n(self) -> int:
        return len(self.owner)


def _resume_skills(rng: np.random.Generator, users: Users, owner: Ints) -> Ints:
    n = len(owner)
    own = rng.random(n) < 0.7
    primary = np.where(own, users.main_cluster[owner], weighted_pick(rng, CLUSTER_WEIGHTS, n))
    k = 1 + weighted_pick(rng, np.array([4, 8, 14, 16, 14, 9, 5, 3], dtype=np.float64), n)
    src = rng.random((n, MAX_SKILLS))
    other = weighted_pick(rng, CLUSTER_WEIGHTS, n * MAX_SKILLS).reshape(n, MAX_SKILLS)
    clusters = np.where(src < 0.75, primary[:, None], np.where(src < 0.9, SOFT_CLUSTER, other))
    drawn = skill_of(rng, clusters.ravel()).reshape(n, MAX_SKILLS)
    out = np.full((n, MAX_SKILLS), -1, dtype=np.int64)
    for i in range(n):
        seen = list(dict.fromkeys(drawn[i, : k[i]].tolist()))
        out[i, : len(seen)] = seen
    return out


def _skills_text(rng: np.random.Generator, skills: Ints) -> list[str | None]:
    """JSON skill lists, with ~1% each of malformed JSON, [], NULL and non-string items."""
    out: list[str | None] = []
    kind = rng.random(len(skills))
    for i, row in enumerate(skills.tolist()):
        names = [vocab.SKILLS[j] for j in row if j >= 0]
        r = kind[i]
        if r < 0.01:
            out.append(text.json_list(names)[:-1] + ', "')  # truncated JSON
        elif r < 0.02:
            out.append("[]")
        elif r < 0.03:
            out.append(None)
        elif r < 0.04:
            out.append(text.json_list(names)[:-1] + ', {"name": "Excel", "nivel": 3}, 7]')
        else:
            out.append(text.json_list(names))
    return out


def _resume_owners_and_ages(
    rng: np.random.Generator, users: Users, cats: Objects
) -> tuple[Ints, Ints]:
    """Owner (user index) and age (seconds) of each resume, in ``cats`` order."""
    n = len(cats)
    pool = np.flatnonzero(~users.deleted & ~users.org)
    owner = pool[weighted_pick(rng, np.exp(1.3 * rng.standard_normal(len(pool))), n)]
    dead = np.flatnonzero(users.deleted)
    od = cats == "owner_deleted"
    owner[od] = dead[rng.integers(0, len(dead), int(od.sum()))]
    old = cats == "old"
    age_f = (360 * DAY - EDGE) * rng.random(n) ** 1.727
    age_f = np.where(old, rng.uniform(360 * DAY + EDGE, 1000 * DAY, n), age_f)
    age: Ints = np.maximum(age_f, MINUTE).astype(np.int64)
    return owner, age


@dataclass(frozen=True)
class _ResumeDraft:
    """The resumes in id order before their text: category, owner, age, skills."""

    cats: Objects
    owner: Ints
    age: Ints
    skills: Ints


@dataclass
class _ResumeTexts:
    videos: list[str | None]
    descriptions: list[str | None]
    near_miss: Bools
    blacklist: list[str]


def _resume_texts(rng: np.random.Generator, users: Users, draft: _ResumeDraft) -> _ResumeTexts:
    """Video URL and description of each resume, the near misses and the blacklist."""
    n = len(draft.cats)
    out = _ResumeTexts([], [], np.zeros(n, dtype=bool), [])
    null_desc = rng.random(n) < 0.07
    near_pick = rng.random(n) < 0.015
    for i in range(n):
        cat = draft.cats[i]
        name = users.name[draft.owner[i]] or ""
        url = _resume_url(rng, cat, i, name)
        out.videos.append(None if cat == "no_video" else url)
        if cat == "blacklisted":
            out.blacklist.append(url)
        first = name.strip().split(" ")[0] if name.strip() else ""
        canon = vocab.PLACES[users.place[draft.owner[i]]][0]
        names = [vocab.SKILLS[j] for j in draft.skills[i] if j >= 0]
        if cat == "test_text":
            out.descriptions.append(vocab.TEST_DESCRIPTIONS[i % len(vocab.TEST_DESCRIPTIONS)])
            continue
        nm = bool(near_pick[i]) and cat == "eligible"
        out.near_miss[i] = nm
        out.descriptions.append(
            None
            if null_desc[i] and not nm
            else text.resume_description(rng, first, canon, names, nm)
        )
    return out


def _resume_url(rng: np.random.Generator, cat: str, i: int, name: str) -> str:
    """The video URL of resume row ``i`` (id ``i + 1``)."""
    hexpart = f"{int(rng.integers(0, 16**6)):06x}"
    slug = f"{text.slugify(name) or 'pitch'}-{hexpart}"
    if cat == "test_url":
        slug = f"{vocab.TEST_SLUGS[i % len(vocab.TEST_SLUGS)]}-{i + 1}"
    return text.resume_url(i + 1, slug)


def build_resumes(seed: int, vol: Volumes, users: Users) -> Resumes:
    rng = stream(seed, "resumes")
    cats = np.asarray(category_labels(vol.eligible_resumes, RESUME_MIX), dtype=object)
    rng.shuffle(cats)
    n = len(cats)
    owner, age = _resume_owners_and_ages(rng, users, cats)
    order = np.argsort(-age, kind="stable")  # ids follow creation time
    cats, owner, age = cats[order], owner[order], age[order]
    quality = 1 / (1 + np.exp(-(rng.normal(-0.2, 1.1, n))))
    skills = _resume_skills(rng, users, owner)
    status = np.where(cats == "draft", "draft", np.where(cats == "pending", "pending", "send"))
    deleted_age = np.where(cats == "deleted", age * rng.random(n), np.nan)
    upd = (age * rng.random(n) ** 3).astype(np.int64)
    texts = _resume_texts(rng, users, _ResumeDraft(cats, owner, age, skills))
    columns: Columns = {
        "id": np.arange(1, n + 1).tolist(),
        "user_id": (owner + 1).tolist(),
        "video": texts.videos,
        **_resume_profile_columns(rng, quality, skills),
        "description": texts.descriptions,
        "status": status.tolist(),
        "_created_age": age,
        "_updated_age": upd,
        "_deleted_age": deleted_age,
    }
    visible = (status == "send") & np.array([v is not None for v in texts.videos])
    eligible = resume_eligibility(columns, users.deleted[owner], set(texts.blacklist))
    near_miss = texts.near_miss & eligible
    near_miss &= np.array([has_test_substring(d) for d in texts.descriptions])
    return Resumes(
        columns, owner, quality, skills, visible, eligible, near_miss, texts.blacklist, age
    )


def _resume_profile_columns(rng: np.random.Generator, quality: Floats, skills: Ints) -> Columns:
    """views, skills, knowledges, tools, languages and role_objectives (in draw order)."""
    n = len(quality)
    return {
        "views": rng.poisson(40 * quality * rng.exponential(1.0, n) + 1).tolist(),
        "skills": _skills_text(rng, skills),
        "knowledges": _nullify(rng, text.random_json_lists(rng, n, vocab.KNOWLEDGES, 3), 0.05),
        "tools": _nullify(rng, text.random_json_lists(rng, n, vocab.TOOLS, 4), 0.05),
        "languages": _nullify(rng, text.language_lists(rng, n), 0.03),
        "role_objectives": _nullify(
            rng, text.random_json_lists(rng, n, vocab.ROLE_OBJECTIVES, 2, min_len=1), 0.1
        ),
    }


def _nullify(rng: np.random.Generator, values: list[str], rate: float) -> list[str | None]:
    out: list[str | None] = list(values)
    for i in np.flatnonzero(rng.random(len(values)) < rate).tolist():
        out[i] = None
    return out
