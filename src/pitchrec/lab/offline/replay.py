"""Online replay of held-out users: does learning from feedback raise likes?

The offline split (:mod:`.split`) knows what each user liked after the cut. A replay
serves those users feeds through the real service path (recommender, tracker, feedback
loop, learner; in-process stores), a few pages each, and answers each page as the user
would have: a like for every shown resume the user went on to like, and a skip for every
other one (``--skips all``, the definition issue 13 gave) or only for the ones shown above
the page's last like (``--skips above-last-like``: the cascade assumption of click
models, that a user reads a feed down to the last item they act on and no further, so
what lies below it was never looked at and says nothing). Learning then moves the next
feeds, of this user (taste profile, fold-in) and of every later user (the pool
policies). Variants of one engine configuration differ only in what the feedback reaches:

* ``learn``: the events reach the taste profiles and the policies (what the service does);
* ``frozen``: the events reach the taste profiles; the policies stay at their prior;
* ``none``: no event is posted (a feed with no feedback at all).

Every variant replays the same users in the same order with the same request seeds, so the
per-user differences are paired; intervals are bootstrapped over users. Users are replayed
in a seeded random order (the split keeps no per-user time).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime

import numpy as np
from numpy.typing import NDArray

from pitchrec.domain.events import FeedbackEvent
from pitchrec.domain.feed import FeedKind, FeedRequest, ItemKind
from pitchrec.lab.offline.split import Split
from pitchrec.learning.feedback import LearningConfig
from pitchrec.recommender import RequestInfo
from pitchrec.service import ServiceConfig, build_service
from pitchrec.tracking.memory_store import MemoryStore
from pitchrec.tracking.tracker import TrackingConfig

Floats = NDArray[np.float64]
Ints = NDArray[np.int64]
VARIANTS = ("learn", "frozen", "none")
#: Which shown resumes that the user did not go on to like are answered with a skip.
SKIP_MODELS = ("all", "above-last-like")
#: Requests between learner syncs: the server syncs every second; a replayed request is a
#: simulated second, and real traffic serves tens of feeds a second per replica.
SYNC_EVERY = 20


@dataclass(frozen=True)
class ReplayOptions:
    """``users``: how many held-out users are replayed (a seeded sample); ``pages``:
    feeds per user; ``page_size``: items per feed; ``min_positives``: only users with at
    least this many positives after the cut (most held-out users have one, found on the
    first page whatever was learned: learning can only show on users with more to find)."""

    users: int = 300
    pages: int = 5
    page_size: int = 24
    min_positives: int = 1
    #: One of :data:`SKIP_MODELS` (module docstring).
    skips: str = "all"

    def __post_init__(self) -> None:
        if self.skips not in SKIP_MODELS:
            raise ValueError(f"unknown skip model {self.skips!r}; known: {', '.join(SKIP_MODELS)}")


@dataclass(frozen=True)
class ReplayResult:
    """``likes`` (users, pages): likes each replayed user gave on each page."""

    variant: str
    users: Ints
    likes: Floats

    @property
    def per_user(self) -> Floats:
        total: Floats = self.likes.sum(axis=1)
        return total


def replay_users(split: Split, options: ReplayOptions, seed: int) -> Ints:
    """The replayed users, in replay order: a seeded sample of the held-out users."""
    rng = np.random.default_rng(seed)
    users = split.users
    if options.min_positives > 1:
        keep = [len(split.truth[int(u)]) >= options.min_positives for u in users.tolist()]
        users = users[np.asarray(keep, dtype=np.bool_)]
    take = min(options.users, users.shape[0])
    return rng.permutation(users)[:take].astype(np.int64)


def variant_config(config: ServiceConfig, variant: str) -> ServiceConfig:
    """``config`` with what the feedback reaches set for ``variant``."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown replay variant {variant!r}; known: {', '.join(VARIANTS)}")
    if variant == "frozen":
        return replace(config, learn_online=False)
    if variant == "none":
        return replace(
            config,
            learn_online=False,
            tracking=TrackingConfig(taste_profiles=False),
            learning=LearningConfig(taste_profiles=False),
        )
    return config


def replay(
    split: Split, config: ServiceConfig, variant: str, options: ReplayOptions, seed: int
) -> ReplayResult:
    """Replay the sampled held-out users through a fresh service built from ``config``."""
    clock = {"now": float(split.source.loaded_at)}
    store = MemoryStore(clock=lambda: clock["now"], keep_archive=False)
    service = build_service(variant_config(config, variant), store, snapshot=split.snapshot)
    recommender, feedback = service.recommender, service.feedback
    assert recommender is not None
    users = replay_users(split, options, seed)
    likes = np.zeros((users.shape[0], options.pages))
    served = 0
    for row, user in enumerate(users.tolist()):
        liked_before: set[int] = set()
        truth = set(split.truth[user].tolist())
        for page in range(options.pages):
            clock["now"] += 1.0
            request_id = f"replay-{seed}-{row}-{page}"
            feed = recommender.serve(
                FeedRequest(
                    FeedKind.DISCOVER,
                    user,
                    size=options.page_size,
                    seed=seed * 1_000_003 + row * 101 + page,
                    now=clock["now"],
                    exclude=split.seen.get(user, frozenset()),
                ),
                RequestInfo(
                    request_id=request_id,
                    endpoint="v1/discover",
                    raw_user=user,
                    params={"size": options.page_size, "excluded_count": 0},
                    session_id=f"replay-{seed}-{row}",
                ),
            )
            ids = [item.item_id for item in feed.items if item.kind is ItemKind.RESUME]
            hits = [i in truth and i not in liked_before for i in ids]
            liked_before.update(i for i, hit in zip(ids, hits, strict=True) if hit)
            likes[row, page] = sum(hits)
            if variant != "none":
                answers = answered(hits, options.skips)
                feedback.record_events(_events(user, ids, answers, request_id, clock["now"]))
            feedback.process_once()
            served += 1
            if served % SYNC_EVERY == 0:
                feedback.sync_now()
    return ReplayResult(variant, users, likes)


def answered(hits: list[bool], skips: str) -> list[bool | None]:
    """Per shown resume: True (a like), False (a skip) or None (no event), by the skip
    model (:data:`SKIP_MODELS`)."""
    if skips == "all":
        return list(hits)
    last = max((i for i, hit in enumerate(hits) if hit), default=-1)
    return [hit if i <= last else None for i, hit in enumerate(hits)]


def _events(
    user: int, ids: list[int], answered: list[bool | None], request_id: str, now: float
) -> list[FeedbackEvent]:
    """The v1 events of one page: a like or a skip for each answered resume."""
    stamp = datetime.fromtimestamp(now, UTC).replace(tzinfo=None).isoformat()
    return [
        FeedbackEvent(
            event_id=f"{request_id}:{position}",
            type="like" if hit else "skip",
            user_id=user,
            item_id=item,
            item_type=ItemKind.RESUME.value,
            request_id=request_id,
            position=position,
            timestamp=stamp,
        )
        for position, (item, hit) in enumerate(zip(ids, answered, strict=True), start=1)
        if hit is not None
    ]
