"""The skill-novelty rule's memory (ranking/novelty.py): the whole feed (the legacy), a
sliding window of resumes, or nothing."""

from __future__ import annotations

from dataclasses import replace

import pytest

from factories import NOW, random_snapshot
from pitchrec.domain.feed import FeedKind, FeedRequest
from pitchrec.ranking.engine import recommend
from pitchrec.ranking.novelty import SKILL_NOVELTY_THRESHOLD, SkillNovelty
from pitchrec.ranking.options import RankingOptions
from pitchrec.ranking.pool_policies import legacy_pool_policies


def test_the_legacy_memory_keeps_every_skill_shown() -> None:
    memory = SkillNovelty()
    for skills in ([1, 2], [3], [4, 4]):
        memory.push(skills)
    assert not memory.novel([1]) and not memory.novel([2, 3]) and memory.novel([1, 5])
    memory.push([5] * 3)
    assert not memory.novel([5, 1])


def test_the_rule_waits_for_a_few_skills() -> None:
    memory = SkillNovelty(window=2)
    memory.push([1, 1, 1])
    memory.push([2])
    assert SKILL_NOVELTY_THRESHOLD == 3 and memory.novel([1])  # 2 distinct skills: too few


def test_a_window_forgets_the_resumes_that_slid_out() -> None:
    memory = SkillNovelty(window=2)
    memory.push([1, 2])
    memory.push([3])
    assert not memory.novel([1]) and not memory.novel([3, 2])
    memory.push([2, 4])  # [1, 2] slides out; 2 stays, held by the newest resume
    assert memory.novel([1]) and not memory.novel([2]) and not memory.novel([3, 4])
    memory.push([5])  # [3] slides out
    assert memory.novel([3]) and not memory.novel([4, 5, 2])


def test_window_zero_turns_the_rule_off_and_negative_is_refused() -> None:
    memory = SkillNovelty(window=0)
    for skills in ([1], [2], [3], [4]):
        memory.push(skills)
    assert memory.novel([1])
    with pytest.raises(ValueError):
        SkillNovelty(window=-1)
    with pytest.raises(ValueError):
        RankingOptions(skill_novelty_window=-1)


def test_the_option_reaches_the_feed() -> None:
    """With the rule off no item is placed by waiving it, and the feed differs from the
    legacy memory's on a catalogue with few skills."""
    snapshot = random_snapshot(3, n_resumes=400, n_challenges=10, n_creators=300)
    feeds = {}
    for window in (None, 0):
        options = replace(RankingOptions.service(), skill_novelty_window=window)
        policies = legacy_pool_policies(30.0, options.blend_prior())
        request = FeedRequest(FeedKind.DISCOVER, user_id=3, seed=1, now=NOW)
        feeds[window] = recommend(snapshot, request, policies, options=options)
    assert not any(item.novelty_waived for item in feeds[0].items)
    assert [i.item_id for i in feeds[None].items] != [i.item_id for i in feeds[0].items]


def test_a_window_as_long_as_the_feed_is_the_legacy_rule() -> None:
    snapshot = random_snapshot(4, n_resumes=400, n_challenges=10, n_creators=300)
    feeds = []
    for window in (None, 100):
        options = replace(RankingOptions.service(), skill_novelty_window=window)
        policies = legacy_pool_policies(30.0, options.blend_prior())
        request = FeedRequest(FeedKind.TOTAL, user_id=5, seed=2, size=100, now=NOW)
        feeds.append(
            [i.item_id for i in recommend(snapshot, request, policies, options=options).items]
        )
    assert feeds[0] == feeds[1]
