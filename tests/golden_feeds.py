"""Golden feeds: what the engine serves for fixed requests, written once and compared
byte for byte, so a refactor that moves code cannot change a feed unnoticed.

Regenerate (only when a change of behaviour is intended, and say so in the commit):
``.venv/bin/python tests/golden_feeds.py``.
"""

from __future__ import annotations

import os

# The kernels tests/conftest.py pins (AVX2 numpy loops, OpenBLAS Haswell), for the
# standalone regeneration too: the digests must not depend on the writer's CPU.
os.environ.setdefault("NPY_DISABLE_CPU_FEATURES", "X86_V4 AVX512_ICL AVX512_SPR")
os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from factories import NOW, random_snapshot
from pitchrec.domain.feed import FeedKind, FeedRequest
from pitchrec.domain.profile import TasteProfile
from pitchrec.legacy.envelope import legacy_envelope, legacy_items
from pitchrec.ranking.engine import recommend
from pitchrec.ranking.options import RankingOptions
from pitchrec.ranking.pool_policies import legacy_pool_policies

GOLDEN_FILE = Path(__file__).with_name("golden") / "feeds.json"
SIZES = {
    "n_resumes": 400,
    "n_challenges": 30,
    "n_creators": 90,
    "n_users": 150,
    "n_interactions": 2_500,
    "n_connections": 300,
}
USERS = (None, 1, 2, 5, 17, 44, 119, 150, 9_999)
SEEDS = (0, 1, 7)
PRESETS: dict[str, tuple[RankingOptions, float]] = {
    "legacy": (RankingOptions.legacy(), 1.0),
    "service": (RankingOptions.service(), 30.0),
}


def _trained(reward_scale: float, options: RankingOptions) -> dict[Any, Any]:
    """Pool policies after a fixed sequence of rewards (the learned term in play)."""
    policies = legacy_pool_policies(reward_scale, options.blend_prior())
    rng = np.random.default_rng(3)
    for policy in policies.values():
        contexts = rng.uniform(0.0, 1.0, size=(40, policy.dimension))
        arms = rng.integers(1, 400, size=40).astype(np.int64)
        policy.update(contexts, arms, (rng.random(40) < 0.3).astype(np.float64))
    return policies


def _feed_record(snapshot: Any, feed: Any) -> dict[str, Any]:
    metrics = {k: v for k, v in feed.metrics.as_dict().items() if k != "execution_time"}
    items = legacy_items(snapshot, feed)
    for item in items:
        if item["type"] == "challenge":
            item["updated_at"] = "<response time>"  # spec 3.8: the wall clock
    envelope = legacy_envelope(feed.request.kind, items)
    return {
        "seed": feed.seed,
        "legacy": envelope,
        "items": [
            [
                item.item_id,
                item.kind.value,
                item.position,
                item.slot.value,
                item.pool.value,
                item.creator_id,
                item.score,
                item.propensity,
                list(item.context),
                item.novelty_waived,
            ]
            for item in feed.items
        ],
        "metrics": json.loads(json.dumps(metrics, default=str)),
    }


#: Significant digits a float keeps in the digest. numpy's exp and log differ in the last
#: bit between CPUs (AVX-512 kernels on one machine, AVX2 on another: seen here on
#: 2026-11-30, every digest changed with the machine), so floats are compared to 10 digits;
#: ids, order, pools and every flag stay exact.
FLOAT_DIGITS = 10


def _canonical(value: Any) -> Any:
    """``value`` with every float written to :data:`FLOAT_DIGITS` significant digits."""
    if isinstance(value, float):
        return format(value, f".{FLOAT_DIGITS}g")
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    return value


def digest(record: dict[str, Any]) -> str:
    """sha256 of a case's canonical JSON (the file keeps digests, not 7 MB of feeds)."""
    text = json.dumps(_canonical(record), sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()


def golden_feeds() -> dict[str, Any]:
    """Every golden case (its full record), keyed by a readable name."""
    snapshot = random_snapshot(11, **SIZES)
    profile = TasteProfile(
        np.asarray([3, 9, 27, 81], dtype=np.int64), np.asarray([3.0, 2.0, 1.0, 0.5])
    )
    out: dict[str, Any] = {}
    for preset, (options, scale) in PRESETS.items():
        for trained in (False, True):
            policies = (
                _trained(scale, options)
                if trained
                else legacy_pool_policies(scale, options.blend_prior())
            )
            for kind in FeedKind:
                for user in USERS:
                    for seed in SEEDS:
                        request = FeedRequest(kind=kind, user_id=user, seed=seed, now=NOW)
                        feed = recommend(snapshot, request, policies, options=options)
                        name = f"{preset}/{'trained' if trained else 'prior'}/{kind}/{user}/{seed}"
                        out[name] = _feed_record(snapshot, feed)
        request = FeedRequest(
            kind=FeedKind.TOTAL,
            user_id=5,
            seed=4,
            now=NOW,
            exclude=frozenset(range(1, 60)),
            size=40,
        )
        feed = recommend(
            snapshot,
            request,
            legacy_pool_policies(scale, options.blend_prior()),
            options=options,
            profile=profile,
        )
        out[f"{preset}/profile+exclude"] = _feed_record(snapshot, feed)
    return out


if __name__ == "__main__":
    digests = {name: digest(record) for name, record in golden_feeds().items()}
    GOLDEN_FILE.write_text(json.dumps(digests, indent=1, sort_keys=True) + "\n")
    print(f"wrote {GOLDEN_FILE}")
