"""What one simulator run records: its result (:class:`RunResult`), the per-request
trace it fills (:class:`Trace`), one served feed and its reaction (:class:`Served`), the
session a request belongs to (:class:`Session`), the v1 events a reaction posts
(:func:`feed_events`) and a shadow run's hooks (:class:`ShadowHooks`, :data:`Probe`).
The request loop that fills them is :mod:`.simulator`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from pitchrec.domain.activity import ArchiveRow
from pitchrec.domain.events import FeedbackEvent
from pitchrec.domain.feed import ItemKind
from pitchrec.lab.world.user_model import UserState
from pitchrec.ranking.options import RankingOptions
from pitchrec.ranking.shadow import ShadowConfig

if TYPE_CHECKING:
    from pitchrec.lab.simulation.variants import EngineArm

#: A served resume counts as fresh with at most this many earlier impressions: the
#: service's exposure guarantee's definition (RankingOptions.fresh_max_impressions).
FRESH_IMPRESSIONS = RankingOptions.service().fresh_max_impressions

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]
#: Called after request i is served and before the user reacts, with the engine, i, the
#: user, the resume rows the session already got and its creator counts (shadow mode's
#: ground truth, :mod:`pitchrec.lab.simulation.shadow`). It must not change them.
Probe = Callable[["EngineArm | None", int, UserState, set[int], dict[int, int]], None]


@dataclass(frozen=True)
class ShadowHooks:
    """What a shadow-mode run adds: the candidate the service shadows (``config``), the
    receiver of the archive rows the service writes (else dropped) and a :data:`Probe`."""

    config: ShadowConfig
    archive_sink: Callable[[list[ArchiveRow]], None] | None = None
    probe: Probe | None = None


@dataclass
class RunResult:
    """What one (arm, seed) run measured. R = requests, n = catalogue resumes.

    ``expected`` (R,): the feed's expected reward under the true model (sum over items of
    exam(p) * q); ``realised`` (R,): likes drawn; ``items`` (R,): resumes served;
    ``new_items`` (R,): of which at most 45 days old; ``fresh_items`` (R,): of which fresh
    when served (at most :data:`FRESH_IMPRESSIONS` earlier impressions, the snapshot's and
    the run's: the exposure guarantee's definition); ``skill_diversity`` (R,): legacy
    per-feed metric (%); ``pool_coverage`` (R,): the engine's per-feed ``catalog_coverage``
    (%, NaN for bypass arms); ``counts`` / ``counts_late`` (n,): impressions per resume row
    over the run / over its second half; ``warm`` (R,): the requesting user has a history
    in the snapshot; ``page`` (R,): the request's page in its session (1, 2, ...). Both
    depend on the stream only, so every arm has the same (:mod:`.segments`).
    """

    arm: str
    seed: int
    expected: Floats
    realised: Floats
    items: Ints
    new_items: Ints
    skill_diversity: Floats
    pool_coverage: Floats
    counts: Ints
    counts_late: Ints
    seconds: float
    fresh_items: Ints = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    events_matched: int = 0
    diagnostics: dict[str, Any] = field(default_factory=dict)
    warm: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=np.bool_))
    page: Ints = field(default_factory=lambda: np.zeros(0, dtype=np.int64))


@dataclass
class Session:
    rows: set[int] = field(default_factory=set)
    creators: dict[int, int] = field(default_factory=dict)
    pages: int = 0


def feed_events(
    user_id: int,
    ids: list[int],
    reactions: tuple[NDArray[np.bool_], Floats],
    request_id: str,
    stamp: str,
) -> list[FeedbackEvent]:
    """The v1 events of one feed: like or skip for each examined item; ``reactions``:
    (examined (k,), liked (k,))."""
    examined, liked = reactions
    return [
        FeedbackEvent(
            event_id=f"{request_id}:{position}",
            type="like" if like > 0 else "skip",
            user_id=user_id,
            item_id=item_id,
            item_type=ItemKind.RESUME.value,
            request_id=request_id,
            position=position,
            timestamp=stamp,
        )
        for position, (item_id, seen, like) in enumerate(
            zip(ids, examined.tolist(), liked.tolist(), strict=True), start=1
        )
        if seen
    ]


@dataclass
class Trace:
    """The per-request and per-resume measurements of a run (see :class:`RunResult`)."""

    expected: Floats
    realised: Floats
    items: Ints
    new_items: Ints
    skill_diversity: Floats
    pool_coverage: Floats
    counts: Ints
    counts_late: Ints
    fresh_items: Ints
    warm: NDArray[np.bool_]
    page: Ints

    @classmethod
    def empty(cls, requests: int, resumes: int) -> Trace:
        return cls(
            expected=np.zeros(requests),
            realised=np.zeros(requests),
            items=np.zeros(requests, dtype=np.int64),
            new_items=np.zeros(requests, dtype=np.int64),
            skill_diversity=np.zeros(requests),
            pool_coverage=np.full(requests, np.nan),
            counts=np.zeros(resumes, dtype=np.int64),
            counts_late=np.zeros(resumes, dtype=np.int64),
            fresh_items=np.zeros(requests, dtype=np.int64),
            warm=np.zeros(requests, dtype=np.bool_),
            page=np.zeros(requests, dtype=np.int64),
        )


@dataclass(frozen=True)
class Served:
    """One served feed: catalogue rows, resume ids and the user's reaction."""

    rows: Ints
    ids: list[int]
    expected: Floats
    examined: NDArray[np.bool_]
    liked: Floats
