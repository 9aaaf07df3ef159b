"""Small in-memory worlds (SourceData) for fast, pure unit and property tests."""

from __future__ import annotations

import numpy as np

from pitchrec.index.build import build_snapshot
from pitchrec.index.snapshot import Snapshot
from pitchrec.sources.tables import (
    ChallengeTable,
    ConnectionTable,
    DeclaredSkillsTable,
    InteractionTable,
    LoadReport,
    ResumeTable,
    SourceData,
)

NOW = 1_760_000_000.0  # a fixed request clock (2025-10-09)
DAY = 86_400.0
SKILLS = tuple(f"skill-{i}" for i in range(60))
CITIES = ("Bogotá", "Medellín", "Cali", "Lima")


def random_source(
    seed: int,
    *,
    n_resumes: int = 60,
    n_challenges: int = 8,
    n_creators: int = 20,
    n_users: int = 30,
    n_interactions: int = 120,
    n_connections: int = 40,
) -> SourceData:
    """A random but valid world. Resume ids start at 1, challenge ids at 100_000 (the
    legacy id ranges are disjoint in practice, spec 2.8); users are 1..n_users and
    creators are users too."""
    rng = np.random.default_rng(seed)
    ids = np.arange(1, n_resumes + 1, dtype=np.int64)
    creators = rng.integers(1, n_creators + 1, size=n_resumes).astype(np.int64)

    def lists(vocabulary: tuple[str, ...], low: int, high: int) -> tuple[tuple[str, ...], ...]:
        out = []
        for _ in range(n_resumes):
            k = int(rng.integers(low, high + 1))
            out.append(tuple(rng.choice(vocabulary, size=k, replace=False).tolist()))
        return tuple(out)

    resumes = ResumeTable(
        id=ids,
        user_id=creators,
        video=tuple(f"https://media.example/resumes/{i}.mp4" for i in ids),
        description=tuple(None if i % 7 == 0 else f"Descripción {i}" for i in ids),
        created_at=NOW - rng.uniform(0, 360, size=n_resumes) * DAY,
        skills=lists(SKILLS, 0, 7),
        knowledges=lists(("k1", "k2", "k3", "k4"), 0, 4),
        tools=lists(("t1", "t2", "t3", "t4"), 0, 4),
        languages=lists(("Español", "Inglés", "Portugués"), 0, 3),
        role_objectives=tuple(() for _ in ids),
        creator_name=tuple(f"Creador Ñandú {c}" if c % 5 else "" for c in creators),
        city=tuple(rng.choice(CITIES, size=n_resumes).tolist()),
        country=tuple("Colombia" for _ in ids),
        views=rng.integers(0, 200, size=n_resumes).astype(np.int64),
        avg_rating=rng.uniform(0, 5, size=n_resumes),
        rating_count=rng.integers(0, 10, size=n_resumes).astype(np.int64),
        connection_count=rng.integers(0, 5, size=n_resumes).astype(np.int64),
        like_count=rng.integers(0, 8, size=n_resumes).astype(np.int64),
        exhibited_count=rng.integers(0, 4, size=n_resumes).astype(np.int64),
    )
    challenge_ids = np.arange(100_000, 100_000 + n_challenges, dtype=np.int64)
    created = np.sort(NOW - rng.uniform(0, 90, size=n_challenges) * DAY)[::-1].copy()
    challenges = ChallengeTable(
        id=challenge_ids,
        user_id=rng.integers(1, max(2, n_creators // 3) + 1, size=n_challenges).astype(np.int64),
        video=tuple(f"https://media.example/challenges/{i}.mp4" for i in challenge_ids),
        name=tuple(f"Reto {i}" for i in challenge_ids),
        description=tuple(f"Convocatoria número {i}" for i in challenge_ids),
        created_at=created,
        updated_at=created,
        creator_name=tuple("Organización" for _ in challenge_ids),
        city=tuple(rng.choice(CITIES, size=n_challenges).tolist()),
    )
    item_is_challenge = rng.random(n_interactions) < 0.1
    items = np.where(
        item_is_challenge,
        rng.choice(challenge_ids, size=n_interactions) if n_challenges else 1,
        rng.choice(ids, size=n_interactions) if n_resumes else 1,
    )
    interactions = InteractionTable(
        user_id=rng.integers(1, n_users + 1, size=n_interactions).astype(np.int64),
        item_id=items.astype(np.int64),
        item_type=item_is_challenge.astype(np.uint8),
        kind=rng.integers(0, 4, size=n_interactions).astype(np.uint8),
        rating=rng.integers(1, 6, size=n_interactions).astype(np.float32),
        created_at=NOW - rng.uniform(0, 30, size=n_interactions) * DAY,
    )
    connections = ConnectionTable(
        from_id=rng.integers(1, n_users + 1, size=n_connections).astype(np.int64),
        to_id=rng.integers(1, n_creators + 1, size=n_connections).astype(np.int64),
        created_at=NOW - rng.uniform(0, 90, size=n_connections) * DAY,
    )
    # Declared skills for every other user (the engine reads them only when asked, D-C20).
    profile_users = np.arange(1, n_users + 1, 2, dtype=np.int64)
    declared = DeclaredSkillsTable(
        user_id=profile_users,
        skills=tuple(
            tuple(rng.choice(SKILLS, size=int(rng.integers(0, 4)), replace=False).tolist())
            for _ in profile_users
        ),
    )
    return SourceData(
        resumes, challenges, interactions, connections, NOW, LoadReport(), declared_skills=declared
    )


def random_snapshot(seed: int, **sizes: int) -> Snapshot:
    return build_snapshot(random_source(seed, **sizes), built_at=NOW)
