"""Exact checks of the spec 1.5 formulas on hand-computed examples."""

from __future__ import annotations

import math

import numpy as np
import pytest

from pitchrec.index.csr import Csr
from pitchrec.index.scores import StaticScores, age_scores, quality_gate, static_scores

DAY = 86_400.0


def _scores(**overrides: list[float]) -> StaticScores:
    columns = {
        "views": [0, 9, 99],
        "avg_rating": [0.0, 2.5, 5.0],
        "rating_count": [0, 10, 1],
        "connection_count": [0, 1, 3],
        "attribute_count": [0, 5, 11],
    }
    columns.update(overrides)
    skills = Csr.from_rows([[], [0, 1], [1]])
    return static_scores(
        np.asarray(columns["views"], dtype=np.int64),
        np.asarray(columns["avg_rating"], dtype=np.float64),
        np.asarray(columns["rating_count"], dtype=np.int64),
        np.asarray(columns["connection_count"], dtype=np.int64),
        np.asarray(columns["attribute_count"], dtype=np.int64),
        skills.indptr,
        skills.indices.astype(np.int32),
        2,
    )


def test_engagement_quality_popularity_by_hand() -> None:
    s = _scores()
    # views_norm of row 1: (log1p(9) - 0) / (log1p(99) - 0 + 1e-6)
    views_norm = math.log(10) / (math.log(100) + 1e-6)
    connections_norm = math.log(2) / (math.log(4) + 1e-6)
    expected = 0.35 * views_norm + 0.40 * (2.5 / 5) + 0.25 * connections_norm
    assert s.engagement[1] == pytest.approx(expected, rel=1e-12)
    assert s.engagement[0] == 0.0
    # score_calidad row 1: 0.7 * 2.5 * 10/20 + 0.3 * log1p(1)
    assert s.quality[1] == pytest.approx(0.875 + 0.3 * math.log(2))
    # score_popularidad row 2: 0.40 log1p(99) + 0.35 * 5 + 0.25 log1p(3)
    expected_pop = 0.40 * math.log(100) + 1.75 + 0.25 * math.log(4)
    assert s.popularity[2] == pytest.approx(expected_pop)
    assert s.attribute_diversity.tolist() == pytest.approx([0, 5 / 15, 11 / 15])


def test_rarity_counts_videos_per_skill() -> None:
    s = _scores()
    # skill 0 appears in 1 video, skill 1 in 2 videos.
    assert s.rarity[0] == 0.0
    assert s.rarity[1] == pytest.approx(100 * (1 / 2 + 1 / 3) / 2)
    assert s.rarity[2] == pytest.approx(100 / 3)


def test_gate_terms() -> None:
    skills = Csr.from_rows([[]] * 5)
    scores = static_scores(
        np.asarray([19, 20, 0, 0, 0], dtype=np.int64),
        np.asarray([2.99, 0, 3.0, 0, 0]),
        np.asarray([1, 0, 0, 2, 0], dtype=np.int64),
        np.asarray([1, 0, 0, 0, 2], dtype=np.int64),
        np.zeros(5, dtype=np.int64),
        skills.indptr,
        skills.indices.astype(np.int32),
        0,
    )
    assert scores.gate_static.tolist() == [False, True, True, True, True]
    days = np.asarray([13.0, 14.0, 100, 100, 100])
    assert quality_gate(np.zeros(5, dtype=bool), days).tolist() == [
        True,
        False,
        False,
        False,
        False,
    ]


def test_age_scores_are_relative_to_the_request_clock() -> None:
    now = 1_000 * DAY
    created = np.asarray([now, now - 30 * DAY - 1, now - 45 * DAY, now - 46 * DAY + 1])
    age = age_scores(created, now)
    assert age.days.tolist() == [0, 30, 45, 45]
    assert age.temporal[1] == pytest.approx(math.exp(-30 / 28))
    assert age.boost.tolist() == [1.5, 1.5, 1.0, 1.0]
    assert age.is_new.tolist() == [True, True, True, True]
    assert age_scores(created, now + DAY).is_new.tolist() == [True, True, False, False]
