"""Fixed vocabularies of the synthetic world, one namespace over the tables of
:mod:`.vocabulary_skills` (skill clusters, knowledges, tools, languages),
:mod:`.vocabulary_places` (cities and their raw spellings), :mod:`.vocabulary_people`
(names, organisations, profile choices) and :mod:`.vocabulary_text` (description and title
fragments).

Nothing here is random; the generators draw from these tables (as ``vocab.NAME``). No
entry contains the words ``test`` or ``prueba`` (not even as a substring), except the
test wordings and near misses of :mod:`.vocabulary_text`: the generator adds those on
purpose, to the rows that must fail the resume and challenge filters.
"""

from __future__ import annotations

from pitchrec.lab.world.vocabulary_people import (
    FIRST_NAMES,
    HOBBIES,
    LAST_NAMES,
    OPENCALL_OBJECTIVES,
    ORG_PREFIXES,
    ORG_STEMS,
    ORG_SUFFIXES,
    ROLE_OBJECTIVES,
    TYPE_TALENTEES,
)
from pitchrec.lab.world.vocabulary_places import PLACES
from pitchrec.lab.world.vocabulary_skills import (
    KNOWLEDGES,
    LANGUAGE_WEIGHTS,
    LANGUAGES,
    N_TASTE_CLUSTERS,
    SKILL_CLUSTER_OF,
    SKILL_CLUSTERS,
    SKILLS,
    TOOLS,
)
from pitchrec.lab.world.vocabulary_text import (
    CHALLENGE_KINDS,
    CHALLENGE_ROLES,
    CHALLENGE_SENTENCES,
    NEAR_MISS_SENTENCES,
    RESUME_BODIES,
    RESUME_CLOSINGS,
    RESUME_OPENINGS,
    TEST_DESCRIPTIONS,
    TEST_SLUGS,
)

__all__ = [
    "CHALLENGE_KINDS",
    "CHALLENGE_ROLES",
    "CHALLENGE_SENTENCES",
    "FIRST_NAMES",
    "HOBBIES",
    "KNOWLEDGES",
    "LANGUAGES",
    "LANGUAGE_WEIGHTS",
    "LAST_NAMES",
    "NEAR_MISS_SENTENCES",
    "N_TASTE_CLUSTERS",
    "OPENCALL_OBJECTIVES",
    "ORG_PREFIXES",
    "ORG_STEMS",
    "ORG_SUFFIXES",
    "PLACES",
    "RESUME_BODIES",
    "RESUME_CLOSINGS",
    "RESUME_OPENINGS",
    "ROLE_OBJECTIVES",
    "SKILLS",
    "SKILL_CLUSTERS",
    "SKILL_CLUSTER_OF",
    "TEST_DESCRIPTIONS",
    "TEST_SLUGS",
    "TOOLS",
    "TYPE_TALENTEES",
]
