"""Resumes and challenges: eligible rows plus every kind of ineligible one (spec 1.2.1,
1.2.2), with a latent quality per item."""

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
    Volumes,
    stream,
    weighted_pick,
)
from pitchrec.lab.world.people import CLUSTER_WEIGHTS, SOFT_CLUSTER, Users, skill_of
from pitchrec.lab.world.rules import (
    challenge_eligibility,
    has_test_substring,
    resume_eligibility,
)

MAX_SKILLS = 8
RESUME_MIX = (  # category, share of the eligible count (each at least 1 row)
    ("deleted", 0.05), ("draft", 0.04), ("pending", 0.03), ("old", 0.06), ("no_video", 0.02),
    ("owner_deleted", 0.02), ("blacklisted", 0.015), ("test_url", 0.01), ("test_text", 0.012),
)  # fmt: skip
CHALLENGE_MIX = (
    ("old", 0.15), ("draft", 0.08), ("deleted", 0.06), ("null_description", 0.04),
    ("name_prueba", 0.03), ("name_test", 0.02), ("description_prueba", 0.02),
    ("no_video", 0.03), ("blacklisted", 0.05), ("duplicate", 0.08), ("test_word", 0.01),
)  # fmt: skip


def _categories(eligible: int, mix: tuple[tuple[str, float], ...]) -> list[str]:
    cats = ["eligible"] * eligible
    for name, share in mix:
        cats += [name] * max(1, round(share * eligible))
    return cats


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


def build_resumes(seed: int, vol: Volumes, users: Users) -> Resumes:
    rng = stream(seed, "resumes")
    cats = np.asarray(_categories(vol.eligible_resumes, RESUME_MIX), dtype=object)
    rng.shuffle(cats)
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
    order = np.argsort(-age, kind="stable")  # ids follow creation time
    cats, owner, age = cats[order], owner[order], age[order]
    ids = np.arange(1, n + 1)
    quality = 1 / (1 + np.exp(-(rng.normal(-0.2, 1.1, n))))
    skills = _resume_skills(rng, users, owner)
    status = np.where(cats == "draft", "draft", np.where(cats == "pending", "pending", "send"))
    deleted_age = np.where(cats == "deleted", age * rng.random(n), np.nan)
    upd = (age * rng.random(n) ** 3).astype(np.int64)
    videos: list[str | None] = []
    descriptions: list[str | None] = []
    near_miss = np.zeros(n, dtype=bool)
    blacklist: list[str] = []
    null_desc = rng.random(n) < 0.07
    near_pick = rng.random(n) < 0.015
    for i in range(n):
        cat = cats[i]
        name = users.name[owner[i]] or ""
        hexpart = f"{int(rng.integers(0, 16**6)):06x}"
        slug = f"{text.slugify(name) or 'pitch'}-{hexpart}"
        if cat == "test_url":
            slug = f"{vocab.TEST_SLUGS[i % len(vocab.TEST_SLUGS)]}-{int(ids[i])}"
        url = text.resume_url(int(ids[i]), slug)
        videos.append(None if cat == "no_video" else url)
        if cat == "blacklisted":
            blacklist.append(url)
        first = name.strip().split(" ")[0] if name.strip() else ""
        canon = vocab.PLACES[users.place[owner[i]]][0]
        names = [vocab.SKILLS[j] for j in skills[i] if j >= 0]
        if cat == "test_text":
            descriptions.append(vocab.TEST_DESCRIPTIONS[i % len(vocab.TEST_DESCRIPTIONS)])
            continue
        nm = bool(near_pick[i]) and cat == "eligible"
        near_miss[i] = nm
        descriptions.append(
            None
            if null_desc[i] and not nm
            else text.resume_description(rng, first, canon, names, nm)
        )
    columns: Columns = {
        "id": ids.tolist(),
        "user_id": (owner + 1).tolist(),
        "video": videos,
        "views": rng.poisson(40 * quality * rng.exponential(1.0, n) + 1).tolist(),
        "skills": _skills_text(rng, skills),
        "knowledges": _nullify(rng, text.random_json_lists(rng, n, vocab.KNOWLEDGES, 3), 0.05),
        "tools": _nullify(rng, text.random_json_lists(rng, n, vocab.TOOLS, 4), 0.05),
        "languages": _nullify(rng, text.language_lists(rng, n), 0.03),
        "role_objectives": _nullify(
            rng, text.random_json_lists(rng, n, vocab.ROLE_OBJECTIVES, 2, min_len=1), 0.1
        ),
        "description": descriptions,
        "status": status.tolist(),
        "_created_age": age,
        "_updated_age": upd,
        "_deleted_age": deleted_age,
    }
    visible = (status == "send") & np.array([v is not None for v in videos])
    eligible = resume_eligibility(columns, users.deleted[owner], set(blacklist))
    near_miss &= eligible & np.array([has_test_substring(d) for d in descriptions])
    return Resumes(columns, owner, quality, skills, visible, eligible, near_miss, blacklist, age)


def _nullify(rng: np.random.Generator, values: list[str], rate: float) -> list[str | None]:
    out: list[str | None] = list(values)
    for i in np.flatnonzero(rng.random(len(values)) < rate).tolist():
        out[i] = None
    return out


@dataclass
class Challenges:
    columns: Columns
    owner: Ints
    quality: Floats
    eligible: Bools  # passes the legacy filters, URL de-duplication and the test-word rule
    test_word: Bools  # passes the legacy filters but holds a test word (D-C16)
    blacklist: list[str]

    @property
    def n(self) -> int:
        return len(self.owner)


def build_challenges(seed: int, vol: Volumes, users: Users) -> Challenges:
    rng = stream(seed, "challenges")
    cats = np.asarray(_categories(vol.eligible_challenges, CHALLENGE_MIX), dtype=object)
    n = len(cats)
    orgs = np.flatnonzero(users.org)
    owner = orgs[weighted_pick(rng, np.exp(rng.standard_normal(len(orgs))), n)]
    age = rng.uniform(MINUTE, 90 * DAY - EDGE, n)
    upd = age * rng.random(n) ** 2
    stale = (cats == "eligible") & (rng.random(n) < 0.12)  # old, but updated recently
    old = cats == "old"
    age[stale | old] = rng.uniform(90 * DAY + EDGE, 500 * DAY, int((stale | old).sum()))
    upd[stale] = rng.uniform(MINUTE, 90 * DAY - EDGE, int(stale.sum()))
    upd[old] = rng.uniform(90 * DAY + EDGE, age[old])
    # a duplicate is an older copy of an eligible, non-stale row with the same video URL
    partners = np.flatnonzero((cats == "eligible") & ~stale)
    if len(partners) == 0:
        partners = np.flatnonzero(cats == "eligible")
    dup = np.flatnonzero(cats == "duplicate")
    partner = np.full(n, -1, dtype=np.int64)
    partner[dup] = partners[rng.integers(0, len(partners), len(dup))]
    age[dup] = age[partner[dup]] + rng.uniform(DAY, 60 * DAY, len(dup))
    upd[dup] = age[dup] * rng.random(len(dup))
    order = np.argsort(-age, kind="stable")
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    cats, owner, age, upd, stale = cats[order], owner[order], age[order], upd[order], stale[order]
    partner = np.where(partner[order] >= 0, rank[np.maximum(partner[order], 0)], -1)
    ids = np.arange(1, n + 1)
    quality = rng.beta(2.0, 2.5, n)
    names: list[str | None] = []
    descs: list[str | None] = []
    slugs: list[str | None] = []
    videos: list[str | None] = []
    blacklist: list[str] = []
    for i in range(n):
        org = users.name[owner[i]] or "nuestra empresa"
        name = text.challenge_name(rng, vocab.PLACES[users.place[owner[i]]][0])
        if cats[i] == "test_word":  # passes the legacy exact-match filter (D-C16)
            name = "testing 002"
        desc: str | None = text.challenge_description(rng, org)
        name = {"name_prueba": "prueba", "name_test": "test"}.get(cats[i], name)
        desc = {"null_description": None, "description_prueba": "prueba"}.get(cats[i], desc)
        slug = "video-de-prueba" if cats[i] == "test_word" else text.slugify(name) or "reto"
        names.append(name)
        descs.append(desc)
        slugs.append(slug if rng.random() < 0.85 else None)
        videos.append(text.challenge_url(int(ids[i]), slug))
    for i in np.flatnonzero(partner >= 0).tolist():  # older copies (lower ids) share the URL
        videos[i] = videos[partner[i]]
    for i in range(n):
        if cats[i] == "no_video":
            videos[i] = None
        elif cats[i] == "blacklisted":
            blacklist.append(str(videos[i]))
    status = np.where(cats == "draft", "draft", "published")
    deleted_age = np.where(cats == "deleted", upd * rng.random(n), np.nan)
    status_at_age = np.where(status == "published", age * rng.uniform(0.9, 1.0, n), np.nan)
    images = [
        f"{text.MEDIA}/challenges/{ids[i]}/cover.jpg" if rng.random() < 0.7 else None
        for i in range(n)
    ]
    columns: Columns = {
        "id": ids.tolist(),
        "user_id": (owner + 1).tolist(),
        "video": videos,
        "name": names,
        "slug": slugs,
        "image": images,
        "description": descs,
        "status": status.tolist(),
        "_status_at_age": status_at_age,
        "_created_age": age.astype(np.int64),
        "_updated_age": upd.astype(np.int64),
        "_deleted_age": deleted_age,
    }
    eligible, legacy_only = challenge_eligibility(columns, set(blacklist))
    return Challenges(columns, owner, quality, eligible, legacy_only, blacklist)
