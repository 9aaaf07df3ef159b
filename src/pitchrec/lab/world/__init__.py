"""A deterministic synthetic TalentPitch world: every table pitchrec reads, filled with
realistic (and realistically dirty) rows, plus a hidden ground truth for simulators.

``generate_world(engine, scale=1.0, seed=7, truth_path=...)`` writes about 198,000 users,
1,962 eligible resumes, 94 eligible challenges, ~20,000 in-window history rows and
26,000 in-window accepted connections at scale 1.0 (volumes are linear in ``scale``).
Small scales keep floors (at least 50 users, 5 eligible resumes, 3 eligible challenges and
one row of every ineligible kind). The same ``(scale, seed, now)`` always gives the same
rows. Timestamps are naive UTC, whole seconds (MariaDB ``DATETIME`` keeps no fraction),
relative to ``now``; no generated timestamp lies within two days of a window edge, so a
loader run up to two days later sees the same eligible rows and windows.

Modules: :mod:`.vocabulary` (fixed word lists), :mod:`.text` (names, JSON, descriptions),
:mod:`.people` (users, profiles, tastes, social graph), :mod:`.catalogue` (resumes and
challenges), :mod:`.rules` (the catalogue filters, evaluated on the generated rows),
:mod:`.affinity` (the hidden behaviour model), :mod:`.activity` (interaction and aggregate
tables), :mod:`.collaborative` and :mod:`.popular` (the latent-factor behaviour models),
:mod:`.generate` (assembly), :mod:`.writer` (bulk insert) and
:mod:`.truth`, whose docstring documents every key of the ground-truth ``.npz`` file.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from pitchrec.lab.world.common import Volumes
from pitchrec.lab.world.generate import WORLD_KINDS, build_world
from pitchrec.lab.world.truth import COLLABORATIVE_KEYS as COLLABORATIVE_TRUTH_KEYS
from pitchrec.lab.world.truth import KEYS as TRUTH_KEYS
from pitchrec.lab.world.truth import write_truth
from pitchrec.lab.world.writer import ensure_empty, write_tables
from pitchrec.progress import SILENT, Reporter
from pitchrec.sources.database import create_schema

__all__ = [
    "COLLABORATIVE_TRUTH_KEYS",
    "TRUTH_KEYS",
    "WORLD_KINDS",
    "WorldSummary",
    "generate_world",
    "write_blacklist",
]


@dataclass(frozen=True)
class WorldSummary:
    """What :func:`generate_world` wrote, and what a loader should read back.

    ``eligible_resumes`` applies spec 1.2.1 with ``blacklist`` in force and the project's
    *word-level* test rule (:mod:`pitchrec.sources.content_filters`: a run of letters is
    test/tests/testing/prueba/pruebas) instead of the legacy substring rule, which drops
    ``near_miss_resumes`` more ("testimonio", "contest", ...). ``eligible_challenges``
    applies spec 1.2.2 (exact-name rules, NULL name/description excluded, newest row per
    URL) *and* the word rule; the legacy filters alone keep ``test_word_challenges`` more
    ("testing 002" with a video-de-prueba URL, D-C16). Without a blacklist,
    ``blacklisted_resumes`` / ``blacklisted_challenges`` more rows are eligible.
    History counts follow spec 1.2.3 (windows 90/90/90/30 days) for rows whose model type
    is the resume type; the ``challenge_*`` counts are the same filters on challenge-typed
    rows (which the legacy loader also reads, D-C14).
    """

    seed: int
    scale: float
    now: datetime
    rows: Mapping[str, int]
    eligible_resumes: int
    eligible_challenges: int
    ratings_in_window: int
    saves_in_window: int
    matches_in_window: int
    views_in_window: int
    challenge_saves_in_window: int
    challenge_matches_in_window: int
    challenge_views_in_window: int
    connections_in_window: int
    near_miss_resumes: int
    blacklisted_resumes: int
    blacklisted_challenges: int
    test_word_challenges: int
    blacklist: tuple[str, ...]
    kind: str = "skills"

    @property
    def interactions_in_window(self) -> int:
        """Resume-typed history rows inside their windows."""
        return (
            self.ratings_in_window
            + self.saves_in_window
            + self.matches_in_window
            + self.views_in_window
        )

    @property
    def challenge_interactions_in_window(self) -> int:
        return (
            self.challenge_saves_in_window
            + self.challenge_matches_in_window
            + self.challenge_views_in_window
        )


def generate_world(
    engine: Engine,
    *,
    scale: float,
    seed: int,
    truth_path: Path | None,
    reporter: Reporter = SILENT,
    now: datetime | None = None,
    kind: str = "skills",
) -> WorldSummary:
    """Create the schema if needed and fill an empty database with a synthetic world.

    ``now`` (default: the current UTC time) is converted to naive UTC and truncated to the
    second. Inserts run one transaction per table, reported as one ``reporter`` stage per
    table. Raises :class:`pitchrec.errors.DataSourceError` when ``users`` or ``resumes``
    already holds rows, and ``ValueError`` for a non-positive scale or an unknown ``kind``.

    ``kind`` picks the behaviour model: ``"skills"`` (the default; preferences follow the
    users' skill taste, byte-identical to the original generator), ``"collaborative"``
    (latent taste factors dominate, long-tailed popularity, interactions spread along a
    time axis; four times the behaviour events; see :mod:`.collaborative`) or
    ``"popular"`` (the collaborative model with a dominant, heavier-tailed popularity and
    weak personal taste, so likes concentrate on few resumes; see :mod:`.popular`).
    """
    Volumes.at(scale)  # validates the scale before touching the database
    if kind not in WORLD_KINDS:
        raise ValueError(f"world kind must be one of {WORLD_KINDS}, got {kind!r}")
    if now is None:
        now = datetime.now(UTC)
    now = now.astimezone(UTC).replace(tzinfo=None) if now.tzinfo else now
    now = now.replace(microsecond=0)
    create_schema(engine)
    ensure_empty(engine)
    world = build_world(scale, seed, now, kind)
    write_tables(engine, world.tables, reporter)
    if truth_path is not None:
        write_truth(truth_path, world.truth)
    c = world.counts
    return WorldSummary(
        seed=seed,
        scale=scale,
        now=now,
        rows={name: table.n for name, table in world.tables.items()},
        eligible_resumes=c["eligible_resumes"],
        eligible_challenges=c["eligible_challenges"],
        ratings_in_window=c["ratings_in_window"],
        saves_in_window=c["saves_in_window"],
        matches_in_window=c["matches_in_window"],
        views_in_window=c["views_in_window"],
        challenge_saves_in_window=c["challenge_saves_in_window"],
        challenge_matches_in_window=c["challenge_matches_in_window"],
        challenge_views_in_window=c["challenge_views_in_window"],
        connections_in_window=c["connections_in_window"],
        near_miss_resumes=c["near_miss_resumes"],
        blacklisted_resumes=c["blacklisted_resumes"],
        blacklisted_challenges=c["blacklisted_challenges"],
        test_word_challenges=c["test_word_challenges"],
        blacklist=tuple(world.blacklist),
        kind=kind,
    )


def write_blacklist(path: Path, urls: tuple[str, ...] | list[str]) -> None:
    """Write ``urls`` in the legacy blacklist format (spec 1.2.7): one URL a line."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# synthetic world blacklist\n" + "\n".join(urls) + "\n", encoding="utf-8")
