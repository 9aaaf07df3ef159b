"""Explanations (issue 14, item 3): every served item's score split into named components
that ADD UP to the score, for every pool and feed kind, with learned policies; the
sentence names real things; the API adds them only when asked and the legacy routes
never change."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray

from factories import NOW, random_snapshot
from pitchrec.domain.explanation import COMPONENTS, LEARNED_COMPONENTS, Reason
from pitchrec.domain.feed import Feed, FeedKind, FeedRequest, ItemKind, Pool
from pitchrec.domain.profile import TasteProfile
from pitchrec.index.snapshot import Snapshot
from pitchrec.policies.base import Policy
from pitchrec.policies.linucb import LinUCB
from pitchrec.ranking.engine import FLOW_NOISE_HIGH, recommend
from pitchrec.ranking.options import DEFAULT_TEMPERATURE, RankingOptions
from pitchrec.ranking.pool_policies import legacy_pool_policies
from pitchrec.ranking.pools import FW_NOISE_HIGH, NU_NOISE_HIGH
from pitchrec.ranking.sentences import LIKED_WEIGHT
from pitchrec.ranking.user_context import user_context
from pitchrec.settings import Settings
from served_app import served

SERVICE = RankingOptions.service()
#: Fixed points for the affinity and the prior instead of the learned blend (the boost).
BOOSTED = RankingOptions(
    temperature=DEFAULT_TEMPERATURE,
    declared_skills=True,
    collaborative=30.0,
    popularity_prior=60.0,
    ranked_fill=True,
    boost_new=True,
    fresh_share=0.125,
    fresh_max_impressions=1,
)


def _trained(reward_scale: float, options: RankingOptions, seed: int = 0) -> dict[Pool, Policy]:
    """Pool policies after feedback, updated in place: theta moved (the learned term is
    not 0) and 40 rewards in the window, so the legacy bonus is a random draw."""
    policies = legacy_pool_policies(reward_scale, options.blend_prior())
    rng = np.random.default_rng(seed)
    for policy in policies.values():
        assert policy.dimension is not None
        x = rng.random((40, policy.dimension))
        policy.update(x, np.arange(40), (x[:, 5] > 0.5).astype(np.float64))
    return policies


def _rebuilt(reward_scale: float, options: RankingOptions) -> dict[Pool, Policy]:
    """What a server serves: fresh policies plus the learned totals (constant bonus)."""
    trained = _trained(reward_scale, options, seed=1)
    policies = legacy_pool_policies(reward_scale, options.blend_prior())
    for pool, policy in policies.items():
        policy.apply_delta(trained[pool].pending_delta())
    return policies


class SkillScorer:
    """A policy that is not LinUCB (its score is not decomposed): 2 x skill similarity."""

    def score(
        self, contexts: NDArray[np.float64], arm_ids: NDArray[np.int64], rng: np.random.Generator
    ) -> NDArray[np.float64]:
        scores: NDArray[np.float64] = 2.0 * contexts[:, 5]
        return scores


ENGINES: dict[str, tuple[RankingOptions, dict[Pool, Any], bool]] = {
    # name: (options, policies, bonus is a constant)
    "legacy": (RankingOptions.legacy(), _trained(1.0, RankingOptions.legacy()), False),
    "service": (SERVICE, _trained(30.0, SERVICE), False),
    "served": (SERVICE, _rebuilt(30.0, SERVICE), True),
    "boosted": (BOOSTED, _rebuilt(30.0, BOOSTED), True),
    "custom": (RankingOptions.legacy(), {pool: SkillScorer() for pool in Pool}, True),
    # Candidate retrieval forced on (worlds of up to 400 resumes, universes of 60 rows).
    "retrieved": (replace(SERVICE, retrieval_candidates=60), _trained(30.0, SERVICE), False),
    "retrieved-boosted": (
        replace(BOOSTED, retrieval_candidates=60),
        _rebuilt(30.0, BOOSTED),
        True,
    ),
}
PROPERTY_ENGINES = sorted(ENGINES)
#: The affinity dominates every score (for the "people who liked" sentence).
AFFINITY = RankingOptions(collaborative=100.0)
ENGINES["affinity"] = (AFFINITY, _rebuilt(1.0, AFFINITY), True)
worlds = st.builds(
    lambda seed, n_resumes, n_challenges, n_creators: random_snapshot(
        seed, n_resumes=n_resumes, n_challenges=n_challenges, n_creators=n_creators
    ),
    seed=st.integers(0, 10_000),
    n_resumes=st.integers(0, 400),
    n_challenges=st.integers(0, 30),
    n_creators=st.integers(1, 150),
)
PROPERTY_SETTINGS = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def _feed(
    snapshot: Snapshot,
    engine: str,
    kind: FeedKind,
    user: int | None,
    *,
    explain: bool = True,
    seed: int = 11,
) -> Feed:
    options, policies, _ = ENGINES[engine]
    request = FeedRequest(kind=kind, user_id=user, seed=seed, now=NOW, explain=explain)
    return recommend(snapshot, request, policies, options=options, profile=_profile(snapshot))


def _profile(snapshot: Snapshot) -> TasteProfile:
    """Every user's online taste profile in these tests: likes of every 9th resume."""
    ids = np.asarray(snapshot.resumes.id)[::9]
    return TasteProfile(ids, np.linspace(2.0, 1.0, ids.shape[0]))


def _close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


@pytest.mark.parametrize("engine", PROPERTY_ENGINES)
@PROPERTY_SETTINGS
@given(
    snapshot=worlds,
    user=st.one_of(st.none(), st.integers(0, 40)),
    kind=st.sampled_from(list(FeedKind)),
    seed=st.integers(0, 1_000),
)
def test_components_add_up_to_the_score(
    snapshot: Snapshot, user: int | None, kind: FeedKind, seed: int, engine: str
) -> None:
    feed = _feed(snapshot, engine, kind, user, seed=seed)
    plain = _feed(snapshot, engine, kind, user, explain=False, seed=seed)
    assert feed.items == plain.items and plain.explanations == ()
    assert len(feed.explanations) == len(feed.items)
    options, policies, constant_bonus = ENGINES[engine]
    for item, explanation in zip(feed.items, feed.explanations, strict=True):
        parts = explanation.components
        assert tuple(parts) == COMPONENTS and tuple(explanation.learned) == LEARNED_COMPONENTS
        assert explanation.score == item.score
        assert _close(sum(parts.values()), item.score), (item, explanation)
        assert _close(sum(explanation.learned.values()), parts["learned"])
        assert explanation.sentence
        noise = parts["noise"]
        if item.pool is Pool.EXPLORE:
            assert all(value == 0.0 for value in parts.values())
            expected = Reason.FRESH_GUARANTEE if item.fresh_guaranteed else Reason.EXPLORE
            assert explanation.reason is expected
        elif item.kind is ItemKind.CHALLENGE:
            high = FLOW_NOISE_HIGH if kind is FeedKind.FLOW else FW_NOISE_HIGH
            assert 0.0 <= noise < high
            assert parts["learned"] == parts["exploration_bonus"] == 0.0
        else:
            assert 0.0 <= noise < (NU_NOISE_HIGH if item.pool is Pool.NU else 1e-12)
            policy = policies[item.pool]
            if isinstance(policy, LinUCB):
                _check_exploration(policy, item.context, parts["exploration_bonus"], constant_bonus)
            if item.fresh_guaranteed:
                assert explanation.reason is Reason.FRESH_GUARANTEE
            elif item.novelty_waived:
                ranked = Reason.RANKED_FILL if options.ranked_fill else Reason.NOVELTY_WAIVED
                assert explanation.reason is ranked
            else:
                assert explanation.reason is None


def _check_exploration(
    policy: LinUCB, context: tuple[float, ...], exploration: float, constant: bool
) -> None:
    """UCB's width alpha sqrt(x' A^-1 x) plus the legacy bonus: 0.7 while the policy has
    seen fewer than 10 rewards, else a draw in [0, beta Var(window) 1.3]."""
    x = np.asarray(context)
    width = policy.config.alpha * math.sqrt(max(float(x @ policy.A_inv @ x), 0.0))
    window = policy.export_state().local["reward_window"]
    if constant:
        assert window.shape[0] < policy.config.bonus_min_history
        assert _close(exploration, width + 0.7)
    else:
        bound = policy.config.beta * float(np.var(window)) * policy.config.bonus_scale
        assert -1e-9 <= exploration - width <= bound + 1e-9


@pytest.mark.parametrize("engine", ["legacy", "service", "served", "boosted"])
def test_the_learned_term_is_in_play(engine: str) -> None:
    snapshot = random_snapshot(5, n_resumes=400, n_challenges=20, n_creators=200)
    learned = [
        abs(explanation.components["learned"])
        for user in (None, 3, 4)
        for kind in (FeedKind.TOTAL, FeedKind.DISCOVER)
        for explanation in _feed(snapshot, engine, kind, user).explanations
    ]
    assert max(learned) > 1e-3


def test_the_boost_splits_into_the_prior_and_the_affinity() -> None:
    snapshot = random_snapshot(5, n_resumes=400, n_challenges=20, n_creators=200)
    feed = _feed(snapshot, "boosted", FeedKind.DISCOVER, 3)
    items = zip(feed.items, feed.explanations, strict=True)
    resumes = [e for item, e in items if item.pool is not Pool.EXPLORE]
    assert any(e.components["collaborative_affinity"] > 1.0 for e in resumes)
    assert all(e.components["popularity_prior"] > 0.0 for e in resumes)


def test_flows_from_followed_creators_carry_the_social_bonus() -> None:
    snapshot = random_snapshot(2, n_resumes=100, n_challenges=30, n_creators=10)
    following = {
        user: set(user_context(snapshot, user).following.tolist()) for user in range(1, 31)
    }
    user = max(following, key=lambda u: len(following[u]))
    feed = _feed(snapshot, "served", FeedKind.FLOW, user)
    for item, explanation in zip(feed.items, feed.explanations, strict=True):
        followed = item.creator_id in following[user]
        assert explanation.components["social_tie"] == (30.0 if followed else 0.0)
        if followed:
            assert explanation.sentence == "From someone you follow"


def _sentences(snapshot: Snapshot, engine: str, users: range) -> list[tuple[int, int, str]]:
    """(user, resume row, sentence) of the resume items of discover feeds."""
    out = []
    for user in users:
        feed = _feed(snapshot, engine, FeedKind.DISCOVER, user)
        for item, explanation in zip(feed.items, feed.explanations, strict=True):
            out.append((user, snapshot.resumes.row_of(item.item_id), explanation.sentence))
    return out


def test_skill_sentences_name_skills_the_user_and_the_item_share() -> None:
    snapshot = random_snapshot(4, n_resumes=400, n_challenges=5, n_creators=200)
    vocab = snapshot.vocab.skills
    prefix = "Matches your skills: "
    found = 0
    for user, row, sentence in _sentences(snapshot, "legacy", range(1, 31)):
        if not sentence.startswith(prefix):
            continue
        found += 1
        mask = user_context(snapshot, user, _profile(snapshot), declared=False).skills
        shared = {vocab.text(s) for s in snapshot.resumes.skills.row(row).tolist() if mask[s]}
        names = sentence.removeprefix(prefix).split(", ")
        assert names and set(names) <= shared, (sentence, shared)
    assert found >= 3


def test_popular_with_people_who_liked_names_a_resume_the_user_liked() -> None:
    snapshot = random_snapshot(4, n_resumes=400, n_challenges=5, n_creators=200)
    sentences = _sentences(snapshot, "affinity", range(1, 31))
    resumes = snapshot.resumes
    prefix = "Popular with people who liked "
    found = 0
    for user, _row, sentence in sentences:
        if not sentence.startswith(prefix):
            continue
        found += 1
        context = user_context(snapshot, user, _profile(snapshot))
        liked = context.preference_rows[context.preference_weights >= LIKED_WEIGHT]
        titles = {f"{resumes.creator_name.text(r)}'s pitch" for r in liked.tolist()}
        titles |= {f"“{resumes.description.text(r)}”" for r in liked.tolist()}
        assert sentence.removeprefix(prefix) in titles
    assert found >= 3


def test_city_sentences_name_a_city_of_the_users_history() -> None:
    snapshot = random_snapshot(4, n_resumes=400, n_challenges=5, n_creators=200)
    cities = snapshot.vocab.cities
    for user, row, sentence in _sentences(snapshot, "legacy", range(1, 31)):
        if "where you've watched pitches" not in sentence:
            continue
        mask = user_context(snapshot, user, _profile(snapshot)).cities
        city = int(snapshot.resumes.city[row])
        assert mask[city] and cities.text(city) in sentence


# -- through the app -------------------------------------------------------------------


@pytest.fixture
def client(tmp_path: Path):  # type: ignore[no-untyped-def]
    with served(tmp_path, Settings()) as test_client:
        yield test_client


ITEM_KEYS = ["id", "type", "position", "pool", "slot", "creator_id", "score"]


def _without_volatile(body: dict[str, Any]) -> dict[str, Any]:
    """The body without what differs between two identical requests."""
    metrics = {k: v for k, v in body["metrics"].items() if k != "execution_time"}
    return {**body, "request_id": None, "metrics": metrics}


@pytest.mark.parametrize("kind", ["total", "discover", "flow"])
def test_api_explains_only_when_asked(client: TestClient, kind: str) -> None:
    params: dict[str, Any] = {"user_id": 3, "size": 30, "seed": 5}
    default = client.get(f"/v1/feed/{kind}", params=params)
    unexplained = client.get(f"/v1/feed/{kind}", params=params | {"explain": "false"})
    explained = client.get(f"/v1/feed/{kind}", params=params | {"explain": "true"})
    assert default.status_code == unexplained.status_code == explained.status_code == 200
    plain = default.json()
    assert list(plain) == [
        "request_id",
        "kind",
        "user_id",
        "seed",
        "items",
        "metrics",
        "snapshot_built_at",
    ]
    assert all(list(item) == ITEM_KEYS for item in plain["items"])
    assert b"explanation" not in default.content
    assert _without_volatile(unexplained.json()) == _without_volatile(plain)
    body = explained.json()
    assert [{k: i[k] for k in ITEM_KEYS} for i in body["items"]] == plain["items"]
    for item in body["items"]:
        explanation = item["explanation"]
        assert list(explanation) == [
            "pool",
            "slot",
            "score",
            "components",
            "learned",
            "reason",
            "sentence",
        ]
        assert (explanation["pool"], explanation["slot"]) == (item["pool"], item["slot"])
        assert list(explanation["components"]) == list(COMPONENTS)
        assert _close(sum(explanation["components"].values()), item["score"])
        assert explanation["score"] == item["score"]
        assert isinstance(explanation["sentence"], str) and explanation["sentence"]
    assert client.get(f"/v1/feed/{kind}", params={"explain": "maybe"}).status_code == 422


def test_legacy_routes_do_not_change_with_explain(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The legacy routes take no such parameter: in the body or the query it changes
    nothing (the request seed is pinned so two calls can be compared)."""
    monkeypatch.setattr("pitchrec.ranking.engine.secrets.randbits", lambda bits: 1234)

    def call(route: str, body: dict[str, Any], query: str = "") -> str:
        response = client.post(f"/api/search/{route}{query}", json=body)
        assert response.status_code == 200
        envelope = response.json()
        for item in envelope["body"]["items"]:
            if item["type"] == "challenge":
                item["updated_at"] = "<response time>"  # spec 3.8: the wall clock
        return json.dumps(envelope)

    for route in ("total", "discover", "flow"):
        body = {"SELF_ID": 3}
        first = call(route, body)
        assert call(route, body) == first  # the control: two calls agree
        assert call(route, body | {"explain": True}) == first
        assert call(route, body, "?explain=true") == first
        assert "explanation" not in first and "sentence" not in first


def test_a_personal_reason_speaks_before_a_larger_impersonal_one() -> None:
    from pitchrec.ranking.sentences import speakers

    parts = dict.fromkeys(COMPONENTS, 0.0)
    parts |= {"popularity_prior": 60.0, "skill_match": 9.0, "exploration_bonus": 20.0}
    assert speakers(parts) == ["skill_match", "popularity_prior", "exploration_bonus"]
    parts["skill_match"] = 5.0  # under a tenth of the 85 positive points
    assert speakers(parts) == ["popularity_prior", "skill_match", "exploration_bonus"]
