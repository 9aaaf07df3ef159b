"""Users, their profiles, their hidden tastes and the social graph."""

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
    csr_from_groups,
    stream,
    weighted_pick,
)

#: Relative frequency of each taste cluster (the soft-skill cluster has none).
CLUSTER_WEIGHTS = np.array([16, 10, 12, 12, 8, 10, 6, 6, 8, 7, 5], dtype=np.float64)
N_SKILLS = len(vocab.SKILLS)
SOFT_CLUSTER = len(vocab.SKILL_CLUSTERS) - 1
CLUSTER_START = np.concatenate([[0], np.cumsum([len(c) for c in vocab.SKILL_CLUSTERS])])


@dataclass
class Users:
    """Latent and observable state of every user; index i is user id i + 1."""

    n: int
    place: Ints  # index into vocab.PLACES: where the user lives
    pref_place: Ints  # the city whose content they favour
    org: Bools
    deleted: Bools
    main_cluster: Ints
    taste_indptr: Ints
    taste_indices: Ints
    taste_weights: Floats
    social: Floats  # weight of social ties in the affinity, in [0, 1]
    activity: Floats  # relative rate of interactions; 0 for deleted users
    age: Ints  # seconds since created_at
    name: list[str | None]
    columns: Columns

    @property
    def ids(self) -> Ints:
        return np.arange(1, self.n + 1, dtype=np.int64)


def skill_of(rng: np.random.Generator, clusters: Ints) -> Ints:
    """A uniformly chosen skill of each given cluster."""
    sizes = np.diff(CLUSTER_START)[clusters]
    return (CLUSTER_START[clusters] + (rng.random(len(clusters)) * sizes).astype(np.int64)).astype(
        np.int64
    )


def _tastes(rng: np.random.Generator, n: int) -> tuple[Ints, Ints, Ints, Floats]:
    main = weighted_pick(rng, CLUSTER_WEIGHTS, n)
    n_clusters = 1 + weighted_pick(rng, np.array([0.5, 0.35, 0.15]), n)
    clusters = np.stack([main, *(weighted_pick(rng, CLUSTER_WEIGHTS, n) for _ in range(2))], 1)
    cw = np.stack([np.ones(n), rng.uniform(0.2, 0.6, n), rng.uniform(0.1, 0.4, n)], 1)
    cw[np.arange(3)[None, :] >= n_clusters[:, None]] = 0.0
    k = rng.integers(4, 11, n)
    owner = np.repeat(np.arange(n, dtype=np.int64), k)
    cum = np.cumsum(cw, 1)[owner]
    slot = (rng.random(len(owner))[:, None] * cum[:, -1:] > cum).sum(1)
    chosen = clusters[owner, slot]
    skills = skill_of(rng, chosen)
    weights = cw[owner, slot] * rng.exponential(1.0, len(owner))
    soft_n = rng.integers(0, 3, n)  # a little taste for soft skills
    soft_owner = np.repeat(np.arange(n, dtype=np.int64), soft_n)
    soft = skill_of(rng, np.full(len(soft_owner), SOFT_CLUSTER, dtype=np.int64))
    owner = np.concatenate([owner, soft_owner])
    skills = np.concatenate([skills, soft])
    weights = np.concatenate([weights, 0.1 * rng.exponential(1.0, len(soft_owner))])
    keys, inverse = np.unique(owner * N_SKILLS + skills, return_inverse=True)
    summed = np.bincount(inverse, weights=weights).astype(np.float64)
    rows, cols = keys // N_SKILLS, (keys % N_SKILLS).astype(np.int64)
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    summed /= np.repeat(np.add.reduceat(summed, indptr[:-1]), np.diff(indptr))
    return main, indptr, cols, summed


def _raw_cities(rng: np.random.Generator, place: Ints) -> tuple[list[str | None], list[str | None]]:
    n = len(place)
    city = np.empty(n, dtype=object)
    for p, (_canon, _country, _w, spellings) in enumerate(vocab.PLACES):
        where = np.flatnonzero(place == p)
        names = np.asarray([s for s, _ in spellings], dtype=object)
        city[where] = names[weighted_pick(rng, np.array([w for _, w in spellings]), len(where))]
    country = np.asarray([c for _, c, _, _ in vocab.PLACES], dtype=object)[place]
    shape = rng.random(n)
    blank = np.asarray([None, "", "  "], dtype=object)[rng.integers(0, 3, n)]
    no_city = shape >= 0.86
    city[no_city] = blank[no_city]
    no_country = (shape >= 0.94) | ((shape < 0.86) & (rng.random(n) < 0.04))
    country[no_country] = blank[no_country]
    return city.tolist(), country.tolist()


def _user_ages(rng: np.random.Generator, deleted: Bools) -> tuple[Ints, Ints, Floats]:
    """created_at, updated_at and deleted_at ages (seconds) of each user; ids follow age."""
    n = len(deleted)
    age = np.sort(rng.integers(DAY, 1095 * DAY, n))[::-1].astype(np.int64)  # id order = age
    recent = rng.random(n) < 0.22
    upd = np.where(recent, rng.integers(MINUTE, 85 * DAY, n), age * rng.random(n)).astype(np.int64)
    upd = np.minimum(upd, age)
    deleted_age: Floats = np.where(deleted, upd * rng.random(n), np.nan)
    return age, upd, deleted_age


def build_users(seed: int, vol: Volumes) -> Users:
    rng = stream(seed, "users")
    n = vol.users
    place_w = np.array([w for _, _, w, _ in vocab.PLACES])
    place = weighted_pick(rng, place_w, n)
    pref = np.where(rng.random(n) < 0.8, place, weighted_pick(rng, place_w, n))
    org = np.zeros(n, dtype=bool)
    org[rng.choice(n, size=min(vol.orgs, n), replace=False)] = True
    deleted = (rng.random(n) < 0.03) & ~org
    if not deleted.any():  # tiny worlds still get a deleted owner to test the filter
        deleted[np.flatnonzero(~org)[-1]] = True
    main, indptr, indices, weights = _tastes(rng, n)
    social = rng.beta(2.0, 4.0, n)
    activity = np.exp(1.6 * rng.standard_normal(n))
    activity[deleted] = 0.0
    age, upd, deleted_age = _user_ages(rng, deleted)
    names = text.person_names(rng, n)
    org_idx = np.flatnonzero(org)
    for i, name in zip(org_idx.tolist(), text.org_names(rng, len(org_idx)), strict=True):
        names[i] = name
    city, country = _raw_cities(rng, place)
    now_cols: Columns = {
        "id": np.arange(1, n + 1).tolist(),
        "name": names,
        "city": city,
        "country": country,
        "_created_age": age,
        "_updated_age": upd,
        "_deleted_age": deleted_age,
    }
    return Users(
        n,
        place,
        pref,
        org,
        deleted,
        main,
        indptr,
        indices,
        weights,
        social,
        activity,
        age,
        names,
        now_cols,
    )


def build_profiles(seed: int, users: Users) -> Columns:
    """One profile per user; its skills are a noisy subset of the user's hidden taste."""
    rng = stream(seed, "profiles")
    n = users.n
    keep = rng.random(len(users.taste_indices)) < 0.55
    rows = np.repeat(np.arange(n), np.diff(users.taste_indptr))[keep]
    ptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=ptr[1:])
    skills: list[str | None] = list(
        text.json_lists_from_csr(ptr, users.taste_indices[keep], vocab.SKILLS)
    )
    for i in np.flatnonzero(rng.random(n) < 0.08).tolist():
        skills[i] = None

    def maybe_null(values: list[str], rate: float) -> list[str | None]:
        out: list[str | None] = list(values)
        for i in np.flatnonzero(rng.random(n) < rate).tolist():
            out[i] = None
        return out

    return {
        "id": np.arange(1, n + 1).tolist(),
        "user_id": np.arange(1, n + 1).tolist(),
        "skills": skills,
        "languages": maybe_null(text.language_lists(rng, n), 0.1),
        "tools": maybe_null(text.random_json_lists(rng, n, vocab.TOOLS, 4), 0.15),
        "knowledge": maybe_null(text.random_json_lists(rng, n, vocab.KNOWLEDGES, 3), 0.2),
        "hobbies": maybe_null(text.random_json_lists(rng, n, vocab.HOBBIES, 3), 0.25),
        "type_talentees": maybe_null(
            text.random_json_lists(rng, n, vocab.TYPE_TALENTEES, 2, min_len=1), 0.3
        ),
        "opencall_objective": maybe_null(
            np.asarray(vocab.OPENCALL_OBJECTIVES, dtype=object)[
                rng.integers(0, len(vocab.OPENCALL_OBJECTIVES), n)
            ].tolist(),
            0.4,
        ),
        "_created_age": users.age,
        "_updated_age": users.columns["_updated_age"],
    }


@dataclass
class Connections:
    columns: Columns
    accepted_from: Ints  # all accepted edges, any age (user indices, not ids)
    accepted_to: Ints
    recent_accepted: int


#: Status and age range (seconds) of each block of edges: recent accepted, old accepted,
#: pending, rejected.
_EDGE_SPANS = (
    ("accepted", MINUTE, 90 * DAY - EDGE),
    ("accepted", 90 * DAY + EDGE, 900 * DAY),
    ("pending", MINUTE, 200 * DAY),
    ("rejected", MINUTE, 400 * DAY),
)


def _edge_counts(vol: Volumes) -> tuple[int, int, int, int]:
    """Edges per block of :data:`_EDGE_SPANS`."""
    n_recent = vol.connections_recent
    return n_recent, round(0.22 * n_recent), round(0.12 * n_recent), round(0.04 * n_recent)


def _draw_edges(
    rng: np.random.Generator, users: Users, creator: Bools, total: int
) -> tuple[Ints, Ints]:
    """Up to ``total`` distinct directed edges (source, target user indices), 75 % of the
    draws inside the source's city."""
    n = users.n
    alive = ~users.deleted
    src_w = (users.activity + 0.3 * users.activity.mean()) * alive
    dst_w = np.exp(rng.standard_normal(n)) * (1 + 60 * creator) * (1 + 8 * users.org) * alive
    draw = int(total * 1.4) + 10
    src = weighted_pick(rng, src_w, draw)
    dst = weighted_pick(rng, dst_w, draw)
    # same-city targets: sample inside the source's place segment of the target CDF
    indptr, order = csr_from_groups(users.place, len(vocab.PLACES))
    cdf = np.cumsum(dst_w[order])
    seg_lo = np.where(indptr[:-1] > 0, cdf[np.maximum(indptr[:-1] - 1, 0)], 0.0)
    seg_hi = cdf[np.maximum(indptr[1:] - 1, 0)]
    local = rng.random(draw) < 0.75
    p = users.place[src[local]]
    u = seg_lo[p] + rng.random(int(local.sum())) * (seg_hi[p] - seg_lo[p])
    dst[local] = order[np.minimum(np.searchsorted(cdf, u, side="right"), n - 1)]
    ok = src != dst
    src, dst = src[ok], dst[ok]
    _, first = np.unique(src * n + dst, return_index=True)
    first = np.sort(first)[:total]
    return src[first], dst[first]


def _edge_status_and_age(
    rng: np.random.Generator, m: int, counts: tuple[int, int, int, int]
) -> tuple[Objects, Ints]:
    """Status and age of ``m`` edges, block by block (a block past ``m`` is cut)."""
    status = np.empty(m, dtype=object)
    age = np.zeros(m, dtype=np.int64)
    cuts = np.cumsum([0, *counts])
    for (name, lo, hi), a, b in zip(_EDGE_SPANS, cuts[:-1], cuts[1:], strict=True):
        sl = slice(min(a, m), min(b, m))
        status[sl] = name
        age[sl] = rng.integers(lo, hi, sl.stop - sl.start)
    return status, age


def build_connections(seed: int, vol: Volumes, users: Users, creator: Bools) -> Connections:
    """Directed edges clustered by city; creators and organisations attract more edges."""
    rng = stream(seed, "connections")
    counts = _edge_counts(vol)
    src, dst = _draw_edges(rng, users, creator, sum(counts))
    m = len(src)
    status, age = _edge_status_and_age(rng, m, counts)
    upd = (age * rng.uniform(0.0, 1.0, m) ** 4).astype(np.int64)
    perm = np.argsort(-age, kind="stable")  # ids follow creation time
    src, dst, status, age, upd = src[perm], dst[perm], status[perm], age[perm], upd[perm]
    accepted = status == "accepted"
    columns: Columns = {
        "id": np.arange(1, m + 1).tolist(),
        "from_id": (src + 1).tolist(),
        "to_id": (dst + 1).tolist(),
        "status": status.tolist(),
        "_created_age": age,
        "_updated_age": upd,
    }
    recent = int((accepted & (age < 90 * DAY)).sum())
    return Connections(columns, src[accepted], dst[accepted], recent)
