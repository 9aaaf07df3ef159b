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
from typing import Any

import numpy as np
from numpy.typing import NDArray

from pitchrec.domain.events import FeedbackEvent
from pitchrec.domain.feed import FeedKind, FeedRequest, ItemKind
from pitchrec.lab.offline.metrics import bootstrap, resample_indices
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


#: Paired differences reported for each configuration: what learning adds to profiles
#: alone, and to no feedback at all.
COMPARISONS = (("learn", "frozen"), ("learn", "none"), ("frozen", "none"))


def summarise_replay(
    results: dict[str, dict[str, list[ReplayResult]]], bootstrap_seed: int = 12_345
) -> dict[str, Any]:
    """Per configuration and variant: likes per user and per page (means over seeds,
    95 % bootstrap intervals over users: a user's likes are averaged over the seeds that
    replayed them, so each user is one unit, however many seeds); the paired differences
    of :data:`COMPARISONS`. ``results``: config -> variant -> one result per seed, every
    variant on the same users."""
    out: dict[str, Any] = {}
    for name, variants in results.items():
        per_user = {v: _mean_per_user(runs) for v, runs in variants.items()}
        n = next(iter(per_user.values())).shape[0]
        resampler = resample_indices(n, bootstrap_seed)
        entry: dict[str, Any] = {"users": n, "variants": {}, "differences": {}}
        for variant, runs in variants.items():
            pages = np.concatenate([r.likes for r in runs]).mean(axis=0)
            entry["variants"][variant] = {
                "likes_per_user": bootstrap(per_user[variant], resampler).as_dict(),
                "likes_per_page": [float(x) for x in pages],
            }
        for a, b in COMPARISONS:
            if a in per_user and b in per_user:
                diff = per_user[a] - per_user[b]
                entry["differences"][f"{a} - {b}"] = bootstrap(diff, resampler).as_dict()
        out[name] = entry
    return out


def runs_record(results: dict[str, dict[str, list[ReplayResult]]]) -> dict[str, Any]:
    """Every run's users and likes as JSON (a report's ``runs.json``), so a summary can be
    recomputed later (:func:`runs_from_record`) without replaying."""
    return {
        name: {
            variant: [{"users": r.users.tolist(), "likes": r.likes.tolist()} for r in runs]
            for variant, runs in variants.items()
        }
        for name, variants in results.items()
    }


def runs_from_record(record: dict[str, Any]) -> dict[str, dict[str, list[ReplayResult]]]:
    """The results :func:`runs_record` wrote."""
    return {
        name: {
            variant: [
                ReplayResult(
                    variant,
                    np.asarray(run["users"], dtype=np.int64),
                    np.asarray(run["likes"], dtype=np.float64),
                )
                for run in runs
            ]
            for variant, runs in variants.items()
        }
        for name, variants in record.items()
    }


def _mean_per_user(runs: list[ReplayResult]) -> Floats:
    """Each user's likes (u,), averaged over the runs (seeds) that replayed them, in
    ascending user id (so every variant's users pair up)."""
    users = np.concatenate([r.users for r in runs])
    likes = np.concatenate([r.per_user for r in runs])
    ids, rows = np.unique(users, return_inverse=True)
    counts = np.bincount(rows, minlength=ids.shape[0])
    means: Floats = np.bincount(rows, weights=likes, minlength=ids.shape[0]) / counts
    return means


def replay_markdown(summary: dict[str, Any], command: str, options: ReplayOptions) -> str:
    """The replay report as Markdown."""
    lines = [
        "# Online replay",
        "",
        f"Generated by `{command}`. At most {options.users} held-out users per seed (with at"
        f" least {options.min_positives} positive(s) after the cut), {options.pages}"
        f" pages of {options.page_size}; a like for every shown resume the user went on to"
        " like after the cut, a skip for every other one"
        + (" shown above the page's last like" if options.skips != "all" else "")
        + " (module `pitchrec.lab.offline.replay`). Means with 95 % bootstrap intervals"
        " over users.",
        "",
        "| configuration | variant | likes per user | likes per page |",
        "|---|---|---|---|",
    ]
    for name, entry in summary.items():
        for variant, values in entry["variants"].items():
            likes = values["likes_per_user"]
            pages = ", ".join(f"{x:.3f}" for x in values["likes_per_page"])
            lines.append(f"| {name} | {variant} | {_interval(likes)} | {pages} |")
    lines += ["", "| configuration | difference | likes per user |", "|---|---|---|"]
    for name, entry in summary.items():
        for label, values in entry["differences"].items():
            lines.append(f"| {name} | {label} | {_interval(values, signed=True)} |")
    return "\n".join(lines) + "\n"


def _interval(values: dict[str, float], signed: bool = False) -> str:
    sign = "+" if signed else ""
    return (
        f"{values['mean']:{sign}.3f} [{values['ci_low']:{sign}.3f}, {values['ci_high']:{sign}.3f}]"
    )
