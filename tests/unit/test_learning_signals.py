"""What makes learning move the feed: online taste profiles, declared skills (D-C20),
LinUCB's reward scale and the tempered VMP/NU draws; each off means the legacy."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from factories import NOW, random_snapshot
from pitchrec.domain.events import FeedbackEvent, Impression
from pitchrec.domain.feed import FeedKind, FeedRequest, Pool
from pitchrec.domain.profile import EMPTY_PROFILE, TasteProfile
from pitchrec.index.snapshot import Snapshot
from pitchrec.learning.profiles import add_reward, credit
from pitchrec.policies import LinUCB, LinUCBConfig
from pitchrec.ranking.engine import recommend
from pitchrec.ranking.options import RankingOptions
from pitchrec.ranking.pool_policies import LEGACY_REWARD_SCALE, legacy_pool_policies
from pitchrec.ranking.user_context import UserContext, user_context
from pitchrec.service import ServiceConfig, build_service
from pitchrec.tracking.memory_store import MemoryStore
from pitchrec.tracking.store import PROFILE_SAMPLE, parse_profile, profile_key

LEGACY = RankingOptions.legacy()
FOLDS_SKIPS = replace(RankingOptions.service(), fold_in_skips=True)


@pytest.fixture(scope="module")
def snapshot() -> Snapshot:
    return random_snapshot(5, n_resumes=500, n_challenges=10, n_creators=300, n_users=40)


def _cold_user(snapshot: Snapshot) -> int:
    """A user with neither history nor declared skills."""
    users = snapshot.users
    taken = set(users.history_users.tolist()) | set(users.declared_users.tolist())
    return next(u for u in range(1_000, 2_000) if u not in taken)


def test_parse_profile_keeps_valid_entries_heaviest_first() -> None:
    fields = {"7": "2.0", "3": "5.5", "x": "1", "9": "nan", "4": "-1", "5": "0", "8": "oops"}
    profile = parse_profile(fields)
    assert profile.resume_ids.tolist() == [3, 7]
    assert profile.weights.tolist() == [5.5, 2.0]
    assert parse_profile({}) is EMPTY_PROFILE
    many = parse_profile({str(i): str(float(i)) for i in range(1, 200)})
    assert len(many) == PROFILE_SAMPLE and int(many.resume_ids[0]) == 199


def test_parse_profile_reads_skips_apart_from_rewards() -> None:
    """``s{id}`` fields are skips: read apart, most skipped first, never as rewards; a
    profile of skips alone has no rewarded resume (the user stays cold)."""
    fields = {"7": "2.0", "s7": "1", "s9": "3", "sx": "1", "s-1": "1", "s": "1", "s4": "0"}
    profile = parse_profile(fields)
    assert profile.resume_ids.tolist() == [7] and profile.weights.tolist() == [2.0]
    assert profile.skipped_ids.tolist() == [9, 7] and profile.skips.tolist() == [3.0, 1.0]
    skips_only = parse_profile({"s5": "1"})
    assert len(skips_only) == 0 and skips_only.skipped_ids.tolist() == [5]
    many = parse_profile({f"s{i}": "1" for i in range(1, 200)})
    assert many.skipped_ids.shape[0] == PROFILE_SAMPLE


def test_a_skip_is_credited_as_a_skip_of_the_served_user_only() -> None:
    impression = Impression("AU", "AU", 2, 1.0, None, 1, (0.0,), 7, "t")
    increments: dict[str, dict[str, float]] = {}

    def event(kind: str, user_id: int = 7, item_type: str = "resume") -> FeedbackEvent:
        return FeedbackEvent("e", kind, user_id, 11, item_type, "r1")

    assert credit(increments, event("skip"), impression, 0.0) is False  # not kept unless asked
    assert increments == {}
    assert credit(increments, event("skip"), impression, 0.0, skips=True) is False  # no reward
    assert credit(increments, event("skip"), impression, 0.0, skips=True) is False
    assert credit(increments, event("like"), impression, 1.0, skips=True) is True
    credit(increments, event("skip", user_id=8), impression, 0.0, skips=True)  # not whom served
    credit(increments, event("skip", item_type="challenge"), impression, 0.0, skips=True)
    credit(increments, event("view"), impression, 0.0, skips=True)  # no reward, not a skip
    assert increments == {profile_key(7): {"s11": 2.0, "11": 1.0}}


def test_the_service_keeps_skips_only_when_a_served_configuration_reads_them() -> None:
    snapshot = random_snapshot(2, n_resumes=60, n_challenges=5, n_creators=40, n_users=10)
    for options, kept in ((RankingOptions.service(), False), (FOLDS_SKIPS, True)):
        service = build_service(ServiceConfig(ranking=options), MemoryStore(), snapshot=snapshot)
        assert service.feedback.config.profile_skips is kept


def test_add_reward_sums_positive_rewards_only() -> None:
    increments: dict[str, dict[str, float]] = {}
    add_reward(increments, 7, 11, 1.0)
    add_reward(increments, 7, 11, 0.5)
    add_reward(increments, 7, 12, 0.0)
    add_reward(increments, 7, 13, float("inf"))
    assert increments == {profile_key(7): {"11": 1.5}}


def _same_context(a: object, b: object) -> bool:
    return all(
        np.array_equal(x, y) if isinstance(x, np.ndarray) else x == y
        for x, y in zip(vars(a).values(), vars(b).values(), strict=True)
    )


def test_nothing_learned_or_declared_leaves_the_legacy_context(snapshot: Snapshot) -> None:
    """Profiles of resumes no longer in the catalogue, and declared skills asked for a
    user who declared none, change nothing."""
    gone = TasteProfile(np.asarray([10**12, 10**12 + 1], dtype=np.int64), np.asarray([3.0, 1.0]))
    undeclared = set(snapshot.users.declared_users.tolist())
    for user in (None, 2, 4, _cold_user(snapshot)):
        legacy = user_context(snapshot, user)
        assert _same_context(legacy, user_context(snapshot, user, gone))
        if user not in undeclared:
            assert _same_context(legacy, user_context(snapshot, user, declared=True))


def test_a_first_like_warms_a_cold_user(snapshot: Snapshot) -> None:
    user = _cold_user(snapshot)
    assert user_context(snapshot, user).is_cold
    resumes = snapshot.resumes
    row = int(np.flatnonzero(resumes.skills.lengths() > 0)[0])
    liked = TasteProfile(np.asarray([resumes.id[row]], dtype=np.int64), np.asarray([1.0]))
    warm = user_context(snapshot, user, liked)
    assert not warm.is_cold
    assert warm.skills[resumes.skills.row(row)].all()
    assert warm.cities[int(resumes.city[row])]
    unknown = TasteProfile(np.asarray([10**12], dtype=np.int64), np.asarray([1.0]))
    assert user_context(snapshot, user, unknown).is_cold  # ids not in the catalogue drop


def test_declared_skills_count_only_when_asked(snapshot: Snapshot) -> None:
    users = snapshot.users
    assert users.declared_users.shape[0] > 0
    user = int(users.declared_users[0])
    own = users.declared_skills.row(0)
    with_declared = user_context(snapshot, user, declared=True)
    assert with_declared.skills[own].all() and not with_declared.is_cold
    without = user_context(snapshot, user, declared=False)
    assert np.array_equal(without.skills, user_context(snapshot, user).skills)


def test_reward_scale_keeps_the_prior_and_scales_the_estimate() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 18))
    plain = LinUCB(LinUCBConfig.legacy(1.5, 0.8))
    scaled = LinUCB(LinUCBConfig.legacy(1.5, 0.8, reward_scale=30.0))
    np.testing.assert_array_equal(
        plain.score(x, np.arange(50), np.random.default_rng(1)),
        scaled.score(x, np.arange(50), np.random.default_rng(1)),
    )
    rewards = rng.random(8)
    for policy in (plain, scaled):
        policy.update(x[:8], np.arange(8), rewards)
    gap_plain = plain.score(x, np.arange(50), np.random.default_rng(1)) - 1.5 * np.sqrt(
        np.einsum("ij,jk,ik->i", x, plain.A_inv, x)
    )
    gap_scaled = scaled.score(x, np.arange(50), np.random.default_rng(1)) - 1.5 * np.sqrt(
        np.einsum("ij,jk,ik->i", x, scaled.A_inv, x)
    )
    np.testing.assert_allclose(gap_scaled - 0.7, 30.0 * (gap_plain - 0.7), rtol=1e-9, atol=1e-9)
    bound = scaled.score_upper_bound(x)
    assert (scaled.score(x, np.arange(50), np.random.default_rng(2)) <= bound).all()
    with pytest.raises(ValueError, match="reward_scale"):
        LinUCBConfig(reward_scale=-1.0)


def test_options_validate_and_temper() -> None:
    with pytest.raises(ValueError, match="temperature"):
        RankingOptions(temperature=0.0)
    assert RankingOptions.legacy().weights(np.asarray([1.0, 2.0])) is None
    weights = RankingOptions(temperature=1.0).weights(np.asarray([3.0, 2.0, -np.inf]))
    assert weights is not None
    np.testing.assert_allclose(weights, [1.0, np.exp(-1.0), 0.0])


def test_tempered_feed_is_valid_and_logs_consistent_propensities(snapshot: Snapshot) -> None:
    policies = legacy_pool_policies(reward_scale=30.0)
    request = FeedRequest(kind=FeedKind.DISCOVER, user_id=1, seed=4, now=NOW)
    options = RankingOptions(temperature=0.3, declared_skills=True)
    feed = recommend(snapshot, request, policies, options=options)
    legacy = recommend(snapshot, request, legacy_pool_policies(LEGACY_REWARD_SCALE), options=LEGACY)
    assert len(feed.items) == len(legacy.items) == request.size
    for item in feed.items:
        assert item.propensity is not None and 0.0 < item.propensity <= 1.0
    nu = [item for item in feed.items if item.pool is Pool.NU]
    assert (nu and any(item.propensity != nu[0].propensity for item in nu)) or len(nu) == 1
    # Colder draws concentrate on the best VMP candidates: the same request at a lower
    # temperature shows a VMP set with a higher mean score.
    cold = recommend(snapshot, request, policies, options=RankingOptions(temperature=0.05))
    hot = recommend(snapshot, request, policies, options=RankingOptions(temperature=50.0))

    def vmp_mean(items: tuple[object, ...]) -> float:
        scores = [i.score for i in items if i.pool is Pool.VMP]  # type: ignore[attr-defined]
        return float(np.mean(scores))

    assert vmp_mean(cold.items) >= vmp_mean(hot.items)


def _weight_per_row(context: UserContext) -> dict[int, float]:
    rows = context.preference_rows.tolist()
    weights = context.preference_weights.tolist()
    out: dict[int, float] = {}
    for row, weight in zip(rows, weights, strict=True):
        out[row] = out.get(row, 0.0) + weight
    return out


def test_a_like_in_both_the_history_and_the_profile_counts_once(snapshot: Snapshot) -> None:
    """After a rebuild, a v1 like is in the snapshot history (archived, read as FEEDBACK)
    and still in the taste profile (30-day TTL): the preference sample gives each resume
    the larger of its history weight and its profile reward, not their sum, so a like
    weighs the same before and after the rebuild; a resume only in the profile keeps its
    reward."""
    users = snapshot.users
    user = int(users.history_users[int(np.argmax(users.history.lengths()))])
    history = _weight_per_row(user_context(snapshot, user))
    row, weight = max(history.items(), key=lambda item: item[1])
    assert weight > 0
    fresh = next(r for r in range(len(snapshot.resumes)) if r not in history)
    ids = np.asarray([snapshot.resumes.id[row], snapshot.resumes.id[fresh]], dtype=np.int64)
    for reward in (weight / 2, weight * 3):
        profile = TasteProfile(ids, np.asarray([reward, 1.0]))
        merged = _weight_per_row(user_context(snapshot, user, profile))
        assert merged[row] == pytest.approx(max(weight, reward))
        assert merged[fresh] == pytest.approx(1.0)
        assert {r: w for r, w in merged.items() if r not in (row, fresh)} == {
            r: w for r, w in history.items() if r != row
        }
