"""Columnar tables the loaders return: aligned arrays, one entry per row, no DataFrames.

Numbers are numpy arrays; text is a tuple of ``str``; JSON lists are tuples of tuples of
``str`` (parsed, non-string elements dropped, order kept, duplicates removed). Timestamps
are float64 seconds since the Unix epoch, UTC (the database stores naive UTC datetimes).

The index builder (``pitchrec.index``) turns these into the immutable snapshot; nothing
on the request path ever sees them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
from numpy.typing import NDArray

Int64s = NDArray[np.int64]
Floats = NDArray[np.float64]
Texts = tuple[str, ...]
TextLists = tuple[tuple[str, ...], ...]


class InteractionKind(IntEnum):
    """Where a history row came from (spec 1.2.3); the value is stored as uint8."""

    RATING = 0  # team_feedbacks type='ranking_resume', value > 0; rating = min(value, 5)
    SAVE = 1  # likes type='save'; legacy rating 3.0
    MATCH = 2  # matches status='accepted'; legacy rating 4.0
    VIEW = 3  # activity_log '#video #view' rows; legacy rating 2.0
    #: activity_log rows of POST /v1/events likes, saves, matches and shares on items the
    #: service served to that user (not in the legacy service); rated 3.0 as a save.
    FEEDBACK = 4


class ItemType(IntEnum):
    """What an interaction or event points at."""

    RESUME = 0
    CHALLENGE = 1


@dataclass(frozen=True)
class ResumeTable:
    """Eligible resumes (spec 1.2.1, 1.3), with their all-time aggregates. Length n."""

    id: Int64s
    user_id: Int64s
    video: Texts
    description: tuple[str | None, ...]
    created_at: Floats
    skills: TextLists
    knowledges: TextLists
    tools: TextLists
    languages: TextLists
    role_objectives: TextLists
    creator_name: Texts  # users.name, NULL -> ''
    city: Texts  # normalised creator city (spec 1.3)
    country: Texts  # trimmed creator country, '' when blank
    views: Int64s  # count of `views` rows (actual_views, spec 1.3), not resumes.views
    avg_rating: Floats  # mean of min(value, 5) over ranking_resume feedback with value > 0
    rating_count: Int64s
    connection_count: Int64s  # accepted matches
    like_count: Int64s  # likes of type 'save'
    exhibited_count: Int64s  # resumes_exhibited rows

    def __len__(self) -> int:
        return int(self.id.shape[0])


@dataclass(frozen=True)
class ChallengeTable:
    """Eligible challenges (spec 1.2.2), de-duplicated by URL, newest first. Length m."""

    id: Int64s
    user_id: Int64s
    video: Texts
    name: Texts
    description: Texts
    created_at: Floats
    updated_at: Floats  # NaN when NULL
    creator_name: Texts
    city: Texts

    def __len__(self) -> int:
        return int(self.id.shape[0])


@dataclass(frozen=True)
class InteractionTable:
    """User history rows inside their windows (spec 1.2.3). Length k."""

    user_id: Int64s
    item_id: Int64s
    item_type: NDArray[np.uint8]  # ItemType
    kind: NDArray[np.uint8]  # InteractionKind
    rating: NDArray[np.float32]  # legacy rating of the row (see InteractionKind)
    created_at: Floats

    def __len__(self) -> int:
        return int(self.user_id.shape[0])


@dataclass(frozen=True)
class ConnectionTable:
    """Accepted, directed social edges from_id -> to_id within 90 days (spec 1.2.4)."""

    from_id: Int64s
    to_id: Int64s
    created_at: Floats

    def __len__(self) -> int:
        return int(self.from_id.shape[0])


@dataclass(frozen=True)
class ProfileTable:
    """Active users with their profile lists (spec 1.2.5). Length u."""

    user_id: Int64s
    name: Texts
    city: Texts
    skills: TextLists

    def __len__(self) -> int:
        return int(self.user_id.shape[0])


@dataclass(frozen=True)
class DeclaredSkillsTable:
    """The skills active users declare in their newest profile (spec 1.2.5's users and
    window; the fix of D-C20 reads them). Length u, users without skills left out."""

    user_id: Int64s
    skills: TextLists

    def __len__(self) -> int:
        return int(self.user_id.shape[0])


@dataclass
class LoadReport:
    """What a load read and what it skipped, by table and reason, for logs and the CLI."""

    rows: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def skip(self, reason: str, count: int = 1) -> None:
        if count:
            self.skipped[reason] = self.skipped.get(reason, 0) + count


@dataclass(frozen=True)
class SourceData:
    """Everything the index is built from, read at one instant ``loaded_at``."""

    resumes: ResumeTable
    challenges: ChallengeTable
    interactions: InteractionTable
    connections: ConnectionTable
    loaded_at: float  # unix seconds, UTC; the "now" of every window
    report: LoadReport
    #: Declared user skills (spec 1.2.5; the legacy loads and ignores them, D-C20);
    #: None when not loaded.
    declared_skills: DeclaredSkillsTable | None = None
