"""Build a :class:`~pitchrec.index.snapshot.Snapshot` from the loaders' columnar tables."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.engine import URL

from pitchrec.index.csr import Csr
from pitchrec.index.packed_strings import PackedStrings
from pitchrec.index.scores import static_scores
from pitchrec.index.snapshot import (
    ChallengeIndex,
    ResumeIndex,
    Snapshot,
    UserIndex,
    Vocabularies,
)
from pitchrec.models.collaborative import train_collaborative
from pitchrec.progress import SILENT, Reporter
from pitchrec.sources.blacklist import load_blacklist
from pitchrec.sources.database import make_engine
from pitchrec.sources.loaders import load_sources
from pitchrec.sources.tables import (
    ChallengeTable,
    ConnectionTable,
    DeclaredSkillsTable,
    InteractionKind,
    InteractionTable,
    ResumeTable,
    SourceData,
)

# Spec 1.4: attribute sets keep only the first N list elements.
MAX_SKILLS = 5
MAX_KNOWLEDGES = 3
MAX_TOOLS = 3
MAX_LANGUAGES = 3

#: Preference weight of a history row by kind (fix of D-C13: the legacy counted a
#: one-star rating like an accepted match). A rating r in [1, 5] weighs (r - 1) / 4.
KIND_WEIGHTS = {
    InteractionKind.SAVE: 0.8,
    InteractionKind.MATCH: 1.0,
    InteractionKind.VIEW: 0.3,
    InteractionKind.FEEDBACK: 0.8,  # a v1 like, save, match or share: as a save
}


T = TypeVar("T")


def _take(values: Sequence[T], positions: list[int]) -> list[T]:
    return [values[i] for i in positions]


def _vocabulary(lists: Sequence[Sequence[str]], limit: int) -> tuple[list[str], Csr]:
    """Sorted vocabulary of the truncated lists, and the lists as CSR of vocabulary ids."""
    truncated = [tuple(values[:limit]) for values in lists]
    vocabulary = sorted({value for values in truncated for value in values})
    position = {value: i for i, value in enumerate(vocabulary)}
    return vocabulary, Csr.from_rows([position[v] for v in values] for values in truncated)


def _resume_index(
    resumes: ResumeTable, city_ids: NDArray[np.int32]
) -> tuple[ResumeIndex, dict[str, list[str]]]:
    order = np.argsort(resumes.id, kind="stable")
    positions = order.tolist()

    skills_vocab, skills = _vocabulary(_take(resumes.skills, positions), MAX_SKILLS)
    knowledges_vocab, knowledges = _vocabulary(_take(resumes.knowledges, positions), MAX_KNOWLEDGES)
    tools_vocab, tools = _vocabulary(_take(resumes.tools, positions), MAX_TOOLS)
    languages_vocab, languages = _vocabulary(_take(resumes.languages, positions), MAX_LANGUAGES)
    skill_lengths = skills.lengths()
    norm_inverse = np.zeros(len(order), dtype=np.float64)
    nonempty = skill_lengths > 0
    norm_inverse[nonempty] = 1.0 / np.sqrt(skill_lengths[nonempty])
    attribute_count = skill_lengths + knowledges.lengths() + tools.lengths()
    scores = static_scores(
        resumes.views[order],
        resumes.avg_rating[order],
        resumes.rating_count[order],
        resumes.connection_count[order],
        attribute_count,
        skills.indptr,
        skills.indices.astype(np.int32),
        len(skills_vocab),
    )
    index = ResumeIndex(
        id=resumes.id[order].astype(np.int64),
        creator=resumes.user_id[order].astype(np.int64),
        created_at=resumes.created_at[order].astype(np.float64),
        views=resumes.views[order].astype(np.int64),
        avg_rating=resumes.avg_rating[order].astype(np.float64),
        rating_count=resumes.rating_count[order].astype(np.int64),
        connection_count=resumes.connection_count[order].astype(np.int64),
        like_count=resumes.like_count[order].astype(np.int64),
        exhibited_count=resumes.exhibited_count[order].astype(np.int64),
        city=city_ids[order],
        skills=skills,
        knowledges=knowledges,
        tools=tools,
        languages=languages,
        skill_norm_inverse=norm_inverse,
        engagement=scores.engagement,
        quality=scores.quality,
        popularity=scores.popularity,
        attribute_diversity=scores.attribute_diversity,
        rarity=scores.rarity,
        gate_static=scores.gate_static,
        video=PackedStrings.from_values(_take(resumes.video, positions)),
        description=PackedStrings.from_values(_take(resumes.description, positions)),
        creator_name=PackedStrings.from_values(_take(resumes.creator_name, positions)),
    )
    vocab = {
        "skills": skills_vocab,
        "knowledges": knowledges_vocab,
        "tools": tools_vocab,
        "languages": languages_vocab,
    }
    return index, vocab


def _challenge_index(challenges: ChallengeTable, city_ids: NDArray[np.int32]) -> ChallengeIndex:
    return ChallengeIndex(
        id=challenges.id.astype(np.int64),
        creator=challenges.user_id.astype(np.int64),
        created_at=challenges.created_at.astype(np.float64),
        city=city_ids,
        video=PackedStrings.from_values(challenges.video),
        name=PackedStrings.from_values(challenges.name),
        description=PackedStrings.from_values(challenges.description),
        creator_name=PackedStrings.from_values(challenges.creator_name),
        order_by_id=np.argsort(challenges.id, kind="stable").astype(np.int64),
    )


def history_weights(kind: NDArray[np.uint8], rating: NDArray[np.float32]) -> NDArray[np.float32]:
    """(k,) preference weight of each history row (see :data:`KIND_WEIGHTS`)."""
    weights = np.zeros(kind.shape[0], dtype=np.float32)
    for interaction_kind, weight in KIND_WEIGHTS.items():
        weights[kind == interaction_kind] = weight
    is_rating = kind == InteractionKind.RATING
    weights[is_rating] = np.clip((rating[is_rating] - 1.0) / 4.0, 0.0, 1.0)
    return weights


def _grouped(keys: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Distinct sorted keys of an already sorted array, and CSR row pointers over it."""
    unique, counts = np.unique(keys, return_counts=True)
    indptr = np.zeros(unique.shape[0] + 1, dtype=np.int64)
    np.cumsum(counts, out=indptr[1:])
    return unique.astype(np.int64), indptr


def _declared_skills(
    profiles: DeclaredSkillsTable | None, skills_vocab: Sequence[str]
) -> tuple[NDArray[np.int64], Csr]:
    """Sorted ids of users whose profile declares skills of the resume vocabulary, and
    those skills as vocabulary ids (the first MAX_SKILLS of the list, as for resumes;
    skills no resume holds cannot match anything and are dropped)."""
    if profiles is None or len(profiles) == 0:
        return np.zeros(0, dtype=np.int64), Csr.from_rows([])
    position = {skill: i for i, skill in enumerate(skills_vocab)}
    order = np.argsort(profiles.user_id, kind="stable")
    users: list[int] = []
    rows: list[list[int]] = []
    for i in order.tolist():
        known = sorted({position[s] for s in profiles.skills[i][:MAX_SKILLS] if s in position})
        if known:
            users.append(int(profiles.user_id[i]))
            rows.append(known)
    return np.asarray(users, dtype=np.int64), Csr.from_rows(rows)


def _user_index(
    interactions: InteractionTable,
    connections: ConnectionTable,
    declared: tuple[NDArray[np.int64], Csr],
) -> UserIndex:
    # History: by user, newest first.
    order = np.lexsort((-interactions.created_at, interactions.user_id))
    users, indptr = _grouped(interactions.user_id[order].astype(np.int64))
    weights = history_weights(interactions.kind[order], interactions.rating[order])
    # Social graph: directed, without self-loops or duplicate edges.
    edges = np.stack([connections.from_id, connections.to_id], axis=1).astype(np.int64)
    edges = edges[edges[:, 0] != edges[:, 1]]
    edges = np.unique(edges, axis=0) if edges.size else edges.reshape(0, 2)
    social_users, social_indptr = _grouped(edges[:, 0])
    return UserIndex(
        history_users=users,
        history=Csr(indptr, interactions.item_id[order].astype(np.int64)),
        history_item_type=interactions.item_type[order].astype(np.uint8),
        history_weight=weights,
        social_users=social_users,
        social=Csr(social_indptr, edges[:, 1].copy()),
        declared_users=declared[0],
        declared_skills=declared[1],
    )


def build_snapshot(source: SourceData, *, built_at: float | None = None) -> Snapshot:
    """Derive every array the request path needs from one consistent load."""
    cities = sorted(set(source.resumes.city) | set(source.challenges.city))
    city_position = {city: i for i, city in enumerate(cities)}

    def city_ids(values: Sequence[str]) -> NDArray[np.int32]:
        return np.fromiter((city_position[c] for c in values), dtype=np.int32, count=len(values))

    resumes, vocab = _resume_index(source.resumes, city_ids(source.resumes.city))
    challenges = _challenge_index(source.challenges, city_ids(source.challenges.city))
    declared = _declared_skills(source.declared_skills, vocab["skills"])
    users = _user_index(source.interactions, source.connections, declared)
    vocabularies = Vocabularies(
        skills=PackedStrings.from_values(vocab["skills"]),
        knowledges=PackedStrings.from_values(vocab["knowledges"]),
        tools=PackedStrings.from_values(vocab["tools"]),
        languages=PackedStrings.from_values(vocab["languages"]),
        cities=PackedStrings.from_values(cities),
    )
    collab = train_collaborative(source.interactions, resumes.id, source.loaded_at)
    return Snapshot(
        resumes=resumes,
        challenges=challenges,
        users=users,
        vocab=vocabularies,
        collab=collab,
        built_at=time.time() if built_at is None else built_at,
        loaded_at=source.loaded_at,
    )


def snapshot_from_database(
    database_url: str | URL,
    *,
    blacklist_path: Path | None = None,
    reporter: Reporter = SILENT,
    declared_skills: bool = True,
) -> Snapshot:
    """Load the sources and build a snapshot in memory (``declared_skills``: also the
    users' declared skills, D-C20)."""
    engine = make_engine(database_url)
    try:
        blacklist = load_blacklist(blacklist_path)
        source = load_sources(
            engine, blacklist=blacklist, reporter=reporter, declared_skills=declared_skills
        )
    finally:
        engine.dispose()
    with reporter.stage("build snapshot", None):
        return build_snapshot(source)
