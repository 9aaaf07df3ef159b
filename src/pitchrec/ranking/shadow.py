"""Shadow mode: a candidate configuration scored on a sample of served requests, never served.

For a sampled request (``PITCHREC_SHADOW_RATE``, by a hash of the server-made request
id, so every replica and every retry agrees) the service serves and tracks its feed as
usual; afterwards, off the request path (:class:`ShadowSampler`), it draws the same
request again ``draws`` times under the served configuration and ``draws`` times under
the candidate (``PITCHREC_SHADOW``), and logs how often each item landed at each position
(:class:`~pitchrec.domain.shadow.ShadowLog`). Rewards arrive later as usual, as feedback
events naming the request id. ``pitchrec evaluate shadow`` turns both into off-policy
estimates (:mod:`pitchrec.lab.offpolicy.slate`, where the estimators and their
assumptions are written down).

What the counts estimate. A feed is a slate of K positions drawn by several pools; the
"action" the estimators weigh is an item at a position, and its probability under a
configuration is estimated by Monte Carlo over the configuration's own randomness (the
tempered VMP and NU draws, Thompson draws, EXPLORE, FW noise) with everything else held
as served: the snapshot, the session's exclusions, the user's taste profile, the pool
policies and the clock of the served request. The estimators count the served feed as
one more logging draw, so a served item's estimated probability is at least 1/(R + 1);
the inverse of that estimate has expectation (1 - (1 - p)^(R+1)) / p for an item of true
probability p, i.e. 1/p clipped near R + 1 (the bias is downward and vanishes for
p >> 1/R). The candidate's draws use other seeds than the logging ones.

Overlap. Importance weights need the served configuration to show, with some
probability, what the candidate shows. The service's feed is nearly deterministic (AU is
a top-k, VMP and NU draw sharply from their best), so a candidate that reorders the pools
puts much of its examination on items the served configuration never shows, and IPS is
then biased low by that share (measured in bench/quality/SHADOW.md). Shadow exploration
(``PITCHREC_SHADOW_EXPLORE`` = e, 0 by default) closes the gap: a shadowed request is
served the candidate's feed with probability e (by another hash of the request id), so
the logging policy of shadowed requests is the mixture (1 - e) served + e candidate,
which shows everything the candidate shows, and every weight is at most (R + 1) / (R e).
The request path computes the candidate's feed instead of the served one on those
requests (no extra work), and their users get the candidate: e = 0 never serves it.

What the candidate is. The deployment's ranking options with the candidate's overrides
(the experiments' syntax, :func:`~pitchrec.ranking.variants.variant_options`) and,
optionally, another LinUCB reward scale. When its policies would have the deployment's
prior (same blend prior and reward scale) it scores with the deployment's serving
policies, i.e. with what they learned; otherwise with fresh policies at its own prior,
which never learn (the candidate is never served, so it gets no feedback).

Cost (bench/RESULTS.md, "Shadow mode"): 2R feed computations per shadowed request
(R = 16 by default), on the background thread of :mod:`.shadow_sampler`, which drops
what it has no time for.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import orjson
from numpy.typing import NDArray

from pitchrec.domain.experiment import VariantSpec
from pitchrec.domain.feed import Feed, FeedRequest, Pool
from pitchrec.domain.profile import TasteProfile
from pitchrec.domain.shadow import Counts, item_key
from pitchrec.index.snapshot import Snapshot
from pitchrec.policies.base import Policy
from pitchrec.ranking.engine import recommend
from pitchrec.ranking.options import RankingOptions
from pitchrec.ranking.variants import variant_options

#: Default share of requests shadowed (settings PITCHREC_SHADOW_RATE).
DEFAULT_RATE = 0.01
#: Default re-draws per configuration (settings PITCHREC_SHADOW_DRAWS). In the simulator
#: (bench/quality/SHADOW.md, exploration 0.2) IPS came out 22-24 % low at 4 draws, 13-16 %
#: at 8, 2-12 % at 16 and -3 to +1 % at 32, as the estimated logging probability of a
#: served item is at least 1/(R + 1); SNIPS and DR showed no trend with the draws.
DEFAULT_DRAWS = 16
#: Shadowed requests waiting for the background thread; more are dropped and counted.
QUEUE_SIZE = 4
#: Default share of the time the background thread computes (:class:`ShadowConfig`).
CPU_SHARE = 0.1
_SEED_TAG = 0x5AD0
_MASK = (1 << 62) - 1


@dataclass(frozen=True)
class ShadowCandidate:
    """A candidate configuration: ranking ``overrides`` (``<option>=<value>``) and an
    optional LinUCB ``reward_scale``; ``label`` is how logs and reports name it."""

    overrides: tuple[str, ...]
    reward_scale: float | None = None

    @property
    def label(self) -> str:
        text = "".join(f"@{o}" for o in self.overrides) or "@"
        return text if self.reward_scale is None else f"{text} reward_scale={self.reward_scale:g}"


def parse_candidate(text: str) -> ShadowCandidate:
    """The candidate of ``PITCHREC_SHADOW``: ``@<option>=<value>@...`` (the lab's syntax),
    a JSON list of ``"<option>=<value>"``, or a JSON object with ``ranking`` (that list)
    and ``reward_scale``, as an experiment variant is declared. Raises ValueError."""
    text = text.strip()
    if not text:
        raise ValueError("the shadow candidate is empty")
    if text[0] in "[{":
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise ValueError(f"the shadow candidate is not valid JSON: {exc}") from None
        if isinstance(data, list):
            data = {"ranking": data}
        if not isinstance(data, dict) or set(data) - {"ranking", "reward_scale"}:
            raise ValueError("a JSON shadow candidate has the keys ranking and reward_scale")
        ranking, scale = data.get("ranking", []), data.get("reward_scale")
        if not isinstance(ranking, list) or not all(isinstance(r, str) for r in ranking):
            raise ValueError("ranking: a list of '<option>=<value>' is required")
        if scale is not None and (
            isinstance(scale, bool) or not isinstance(scale, int | float) or scale < 0
        ):
            raise ValueError("reward_scale: a number >= 0 is required")
        overrides = tuple(r.strip().removeprefix("@") for r in ranking)
        return ShadowCandidate(overrides, None if scale is None else float(scale))
    return ShadowCandidate(tuple(part.strip() for part in text.split("@") if part.strip()))


def candidate_options(base: RankingOptions, candidate: ShadowCandidate) -> RankingOptions:
    """``base`` with the candidate's overrides (switches as true/false or 1/0)."""
    return variant_options(base, VariantSpec("shadow", 1.0, candidate.overrides))


@dataclass(frozen=True)
class ShadowConfig:
    """Shadow mode's settings: the ``candidate``, the share of requests shadowed
    (``rate``), the re-draws per configuration (``draws``) and the background queue's
    size; ``inline``: compute in the caller (the simulator and tests; never the server)."""

    candidate: ShadowCandidate
    rate: float = DEFAULT_RATE
    draws: int = DEFAULT_DRAWS
    queue_size: int = QUEUE_SIZE
    inline: bool = False
    #: Probability that a shadowed request is served the candidate's feed (see the
    #: module docstring, "Overlap"); 0: never.
    explore: float = 0.0
    #: Share of the time the background thread may compute: after a log that took t
    #: seconds it rests t (1 / share - 1) seconds, and requests shadowed meanwhile are
    #: dropped. It bounds what shadow mode takes from the feeds sharing the GIL
    #: (bench/RESULTS.md, "Shadow mode").
    cpu_share: float = CPU_SHARE

    def __post_init__(self) -> None:
        if not (0.0 <= self.rate <= 1.0 and 0.0 <= self.explore <= 1.0):
            raise ValueError("the shadow rate and exploration must be in [0, 1]")
        if not 0.0 < self.cpu_share <= 1.0:
            raise ValueError("the shadow CPU share must be in (0, 1]")
        if self.draws < 1 or self.queue_size < 1:
            raise ValueError("shadow draws and queue size must be >= 1")


@dataclass(frozen=True)
class ShadowJob:
    """What one shadowed request needs, captured when it was served: the request as
    ranked (exclusions merged, ``now`` pinned), the served options and policies, the
    deployment's own policies (the candidate's when it shares their prior), the taste
    profile, the served feed and its tracking identity; ``explored``: the served feed is
    the candidate's (shadow exploration)."""

    snapshot: Snapshot
    request: FeedRequest
    options: RankingOptions
    policies: Mapping[Pool, Policy]
    base_policies: Mapping[Pool, Policy]
    profile: TasteProfile
    feed: Feed
    request_id: str
    endpoint: str
    timestamp: str
    served_config: str = "deployment"
    explored: bool = False
    #: (n,) the live prior when the request was served (:mod:`.live_prior`), held as
    #: served for every configuration with ``live_prior``; None: the snapshot's.
    live_prior: NDArray[np.float64] | None = None


def sampled(request_id: str, rate: float, tag: str = "shadow") -> bool:
    """Whether ``request_id`` is chosen at ``rate``: a hash salted with ``tag``, the same
    in every process."""
    if rate <= 0.0:
        return False
    if rate >= 1.0:
        return True
    digest = hashlib.blake2b(f"{tag}\x00{request_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2.0**64 < rate


def _count(feed: Feed, counts: dict[str, dict[int, int]]) -> None:
    for item in feed.items:
        at = counts.setdefault(item_key(item.kind.value, item.item_id), {})
        at[item.position] = at.get(item.position, 0) + 1


def _flat(counts: dict[str, dict[int, int]]) -> Counts:
    return {key: [v for pair in sorted(at.items()) for v in pair] for key, at in counts.items()}


def draw_counts(
    job: ShadowJob,
    options: RankingOptions,
    policies: Mapping[Pool, Policy],
    seeds: list[int],
) -> Counts:
    """Item -> (position, count) pairs over the feeds of ``job.request`` drawn with
    ``seeds`` under ``options`` and ``policies``."""
    counts: dict[str, dict[int, int]] = {}
    base = replace(job.request, explain=False)
    prior = job.live_prior if options.live_prior else None
    for seed in seeds:
        request = replace(base, seed=seed)
        feed = recommend(
            job.snapshot, request, policies, options=options, profile=job.profile, prior=prior
        )
        _count(feed, counts)
        time.sleep(0)  # let a request thread take the GIL between draws
    return _flat(counts)


def shadow_seeds(feed_seed: int, draws: int) -> tuple[list[int], list[int]]:
    """The logging and the candidate re-draw seeds of a feed served with ``feed_seed``:
    fixed by it, distinct between the two sets (independent estimates)."""
    rng = np.random.default_rng([feed_seed & _MASK, _SEED_TAG])
    seeds = [int(s) for s in rng.integers(0, _MASK, size=2 * draws)]
    return seeds[:draws], seeds[draws:]
