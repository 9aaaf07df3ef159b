"""Challenges (spec 1.2.2): the eligible rows plus every kind of ineligible one (too old,
draft, deleted, no description, test names and descriptions, without video, blacklisted,
older duplicates of a video URL, test words), each with an organisation owner and a latent
quality, drawn by :func:`build_challenges` from the ``challenges`` stream."""

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
from pitchrec.lab.world.people import Users
from pitchrec.lab.world.rules import challenge_eligibility

# category, share of the eligible count (each at least 1 row)
CHALLENGE_MIX = (
    ("old", 0.15),
    ("draft", 0.08),
    ("deleted", 0.06),
    ("null_description", 0.04),
    ("name_prueba", 0.03),
    ("name_test", 0.02),
    ("description_prueba", 0.02),
    ("no_video", 0.03),
    ("blacklisted", 0.05),
    ("duplicate", 0.08),
    ("test_word", 0.01),
)


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


@dataclass(frozen=True)
class _ChallengeDraft:
    """The challenges in id order before their text; ``partner``: row of the newer copy
    whose video URL a duplicate shares (-1: none)."""

    cats: Objects
    owner: Ints
    age: Floats
    upd: Floats
    partner: Ints


def _challenge_times(rng: np.random.Generator, cats: Objects) -> tuple[Floats, Floats, Bools]:
    """Age, update age and the stale flag (old, but updated recently) of each row."""
    n = len(cats)
    age = rng.uniform(MINUTE, 90 * DAY - EDGE, n)
    upd = age * rng.random(n) ** 2
    stale = (cats == "eligible") & (rng.random(n) < 0.12)  # old, but updated recently
    old = cats == "old"
    age[stale | old] = rng.uniform(90 * DAY + EDGE, 500 * DAY, int((stale | old).sum()))
    upd[stale] = rng.uniform(MINUTE, 90 * DAY - EDGE, int(stale.sum()))
    upd[old] = rng.uniform(90 * DAY + EDGE, age[old])
    return age, upd, stale


def _challenge_draft(rng: np.random.Generator, users: Users, cats: Objects) -> _ChallengeDraft:
    n = len(cats)
    orgs = np.flatnonzero(users.org)
    owner = orgs[weighted_pick(rng, np.exp(rng.standard_normal(len(orgs))), n)]
    age, upd, stale = _challenge_times(rng, cats)
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
    partner = np.where(partner[order] >= 0, rank[np.maximum(partner[order], 0)], -1)
    return _ChallengeDraft(cats[order], owner[order], age[order], upd[order], partner)


@dataclass
class _ChallengeTexts:
    names: list[str | None]
    descs: list[str | None]
    slugs: list[str | None]
    videos: list[str | None]
    blacklist: list[str]


def _challenge_texts(
    rng: np.random.Generator, users: Users, draft: _ChallengeDraft
) -> _ChallengeTexts:
    """Name, description, slug and video URL of each challenge, and the blacklist."""
    cats, owner = draft.cats, draft.owner
    out = _ChallengeTexts([], [], [], [], [])
    for i in range(len(cats)):
        org = users.name[owner[i]] or "nuestra empresa"
        name = text.challenge_name(rng, vocab.PLACES[users.place[owner[i]]][0])
        if cats[i] == "test_word":  # passes the legacy exact-match filter (D-C16)
            name = "testing 002"
        desc: str | None = text.challenge_description(rng, org)
        name = {"name_prueba": "prueba", "name_test": "test"}.get(cats[i], name)
        desc = {"null_description": None, "description_prueba": "prueba"}.get(cats[i], desc)
        slug = "video-de-prueba" if cats[i] == "test_word" else text.slugify(name) or "reto"
        out.names.append(name)
        out.descs.append(desc)
        out.slugs.append(slug if rng.random() < 0.85 else None)
        out.videos.append(text.challenge_url(i + 1, slug))
    for i in np.flatnonzero(draft.partner >= 0).tolist():  # older copies share the URL
        out.videos[i] = out.videos[draft.partner[i]]
    for i in range(len(cats)):
        if cats[i] == "no_video":
            out.videos[i] = None
        elif cats[i] == "blacklisted":
            out.blacklist.append(str(out.videos[i]))
    return out


def build_challenges(seed: int, vol: Volumes, users: Users) -> Challenges:
    rng = stream(seed, "challenges")
    cats = np.asarray(category_labels(vol.eligible_challenges, CHALLENGE_MIX), dtype=object)
    n = len(cats)
    draft = _challenge_draft(rng, users, cats)
    quality = rng.beta(2.0, 2.5, n)
    texts = _challenge_texts(rng, users, draft)
    status = np.where(draft.cats == "draft", "draft", "published")
    deleted_age = np.where(draft.cats == "deleted", draft.upd * rng.random(n), np.nan)
    status_at_age = np.where(status == "published", draft.age * rng.uniform(0.9, 1.0, n), np.nan)
    images = [
        f"{text.MEDIA}/challenges/{i}/cover.jpg" if rng.random() < 0.7 else None
        for i in range(1, n + 1)
    ]
    columns: Columns = {
        "id": np.arange(1, n + 1).tolist(),
        "user_id": (draft.owner + 1).tolist(),
        "video": texts.videos,
        "name": texts.names,
        "slug": texts.slugs,
        "image": images,
        "description": texts.descs,
        "status": status.tolist(),
        "_status_at_age": status_at_age,
        "_created_age": draft.age.astype(np.int64),
        "_updated_age": draft.upd.astype(np.int64),
        "_deleted_age": deleted_age,
    }
    eligible, legacy_only = challenge_eligibility(columns, set(texts.blacklist))
    return Challenges(columns, draft.owner, quality, eligible, legacy_only, texts.blacklist)
