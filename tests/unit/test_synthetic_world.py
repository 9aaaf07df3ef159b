"""The synthetic world generator on SQLite: determinism, volumes, dirty rows, ground truth."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import Engine, select

from pitchrec.errors import DataSourceError
from pitchrec.lab.world import (
    TRUTH_KEYS,
    WorldSummary,
    generate_world,
    write_blacklist,
)
from pitchrec.lab.world.rules import has_test_word
from pitchrec.lab.world.vocabulary import (
    FIRST_NAMES,
    KNOWLEDGES,
    LAST_NAMES,
    SKILLS,
    TOOLS,
)
from pitchrec.sources import schema
from pitchrec.sources.database import make_engine

NOW = datetime(2025, 11, 20, 12, 0, 0)
LEGACY_CITY_VARIANTS = {
    "Bogotá",
    "Bogotá D.C.",
    "Bogota",
    "bogota",
    "Medellin",
    "medellin",
    "Cali",
    "cali",
    "Barranquilla",
    "barranquilla",
    "Bucaramanga",
    "Distrito Federal",
    "Ciudad de México",
    "Nuevo Leon",
    "Nuevo León",
}


def _dump(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {
            t.name: [tuple(r) for r in conn.execute(select(t).order_by(t.c.id))]
            for t in schema.ALL_TABLES
        }


def _rows(engine: Engine, table: Any) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(table).order_by(table.c.id))]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, WorldSummary, Path]]:
    """A scale 0.05 world (about 10,000 users), shared by the read-only tests below."""
    root = tmp_path_factory.mktemp("synthetic")
    engine = make_engine(f"sqlite:///{root / 'world.db'}")
    summary = generate_world(engine, scale=0.05, seed=11, truth_path=root / "truth.npz")
    yield engine, summary, root / "truth.npz"
    engine.dispose()


def test_same_seed_same_rows_and_other_seed_other_rows(sqlite_url: str, tmp_path: Path) -> None:
    dumps = []
    for i, seed in enumerate((5, 5, 6)):
        engine = make_engine(sqlite_url if i == 0 else f"sqlite:///{tmp_path / f'w{i}.db'}")
        generate_world(engine, scale=0.01, seed=seed, truth_path=tmp_path / f"t{i}.npz", now=NOW)
        dumps.append(_dump(engine))
        engine.dispose()
    assert dumps[0] == dumps[1]
    for name in ("users", "resumes", "challenges", "views", "activity_log"):
        assert dumps[0][name] != dumps[2][name], name
    first, second = (np.load(tmp_path / f"t{i}.npz", allow_pickle=False) for i in (0, 1))
    for key in TRUTH_KEYS:
        np.testing.assert_array_equal(first[key], second[key])


def test_small_world_volumes(sqlite_url: str, tmp_path: Path) -> None:
    engine = make_engine(sqlite_url)
    summary = generate_world(engine, scale=0.01, seed=3, truth_path=None)
    counts = {t.name: len(_rows(engine, t)) for t in (schema.users, schema.resumes)}
    engine.dispose()
    assert summary.rows["users"] == counts["users"] == 1980
    assert summary.rows["profiles"] == 1980
    assert summary.eligible_resumes == 20
    assert counts["resumes"] == summary.rows["resumes"] > 20
    assert 1 <= summary.eligible_challenges <= 5
    assert summary.connections_in_window == 260
    assert 120 <= summary.interactions_in_window <= 300  # ~200 at 1% of 20,000
    assert 1_000 <= summary.rows["views"] <= 3_000
    assert not (tmp_path / "truth.npz").exists()


def test_volumes_are_roughly_linear(world: tuple[Engine, WorldSummary, Path]) -> None:
    _, summary, _ = world
    assert summary.rows["users"] == summary.rows["profiles"] == 9900
    assert summary.eligible_resumes == round(1962 * 0.05)
    assert summary.eligible_challenges == round(94 * 0.05)
    assert summary.connections_in_window == 1300
    assert 800 <= summary.interactions_in_window <= 1_200
    assert 9_000 <= summary.rows["views"] <= 12_000
    assert summary.views_in_window > summary.ratings_in_window > summary.matches_in_window


def _resume_eligible(
    row: dict[str, Any], owner_deleted: bool, now: datetime, black: set[str]
) -> bool:
    return (
        row["status"] == "send"
        and row["deleted_at"] is None
        and row["video"] is not None
        and row["created_at"] >= now - timedelta(days=360)
        and not owner_deleted
        and row["video"] not in black
        and not has_test_word(row["video"])
        and not has_test_word(row["description"])
    )


def test_every_ineligible_resume_category_is_present(
    world: tuple[Engine, WorldSummary, Path],
) -> None:
    engine, summary, _ = world
    now, black = summary.now, set(summary.blacklist)
    deleted_users = {u["id"] for u in _rows(engine, schema.users) if u["deleted_at"] is not None}
    rows = _rows(engine, schema.resumes)
    old = now - timedelta(days=360)
    categories = {
        "deleted": [r for r in rows if r["deleted_at"] is not None],
        "draft": [r for r in rows if r["status"] == "draft"],
        "pending": [r for r in rows if r["status"] == "pending"],
        "old": [r for r in rows if r["created_at"] < old],
        "no video": [r for r in rows if r["video"] is None],
        "owner deleted": [r for r in rows if r["user_id"] in deleted_users],
        "blacklisted": [r for r in rows if r["video"] in black],
        "test url": [r for r in rows if has_test_word(r["video"])],
        "test text": [r for r in rows if has_test_word(r["description"])],
    }
    for name, found in categories.items():
        assert found, name
    eligible = [r for r in rows if _resume_eligible(r, r["user_id"] in deleted_users, now, black)]
    assert len(eligible) == summary.eligible_resumes
    assert len(rows) >= 1.2 * len(eligible)
    near = [
        r
        for r in eligible
        if "test" in (r["description"] or "").lower()
        or "prueba" in (r["description"] or "").lower()
    ]
    assert len(near) == summary.near_miss_resumes > 0
    young = [r for r in eligible if r["created_at"] >= now - timedelta(days=45)]
    assert 0.2 <= len(young) / len(eligible) <= 0.4
    assert len({r["video"] for r in rows if r["video"]}) == sum(1 for r in rows if r["video"])


def test_every_ineligible_challenge_category_is_present(
    world: tuple[Engine, WorldSummary, Path],
) -> None:
    engine, summary, _ = world
    now, black = summary.now, set(summary.blacklist)
    rows = _rows(engine, schema.challenges)
    window = now - timedelta(days=90)
    fresh = [r for r in rows if r["created_at"] >= window or r["updated_at"] >= window]
    assert [r for r in rows if r not in fresh], "old"
    assert [r for r in rows if r["status"] == "draft"]
    assert [r for r in rows if r["deleted_at"] is not None]
    assert [r for r in rows if r["description"] is None]
    assert [r for r in rows if r["name"] == "prueba"]
    assert [r for r in rows if r["video"] is None]
    assert [r for r in rows if r["video"] in black]
    urls = [r["video"] for r in rows if r["video"]]
    assert len(set(urls)) < len(urls), "duplicate URLs"
    passing = [
        r
        for r in fresh
        if r["status"] == "published"
        and r["deleted_at"] is None
        and r["video"] is not None
        and r["video"] not in black
        and r["name"] is not None
        and r["description"] is not None
        and r["name"] not in ("prueba", "test")
        and r["description"] != "prueba"
    ]
    newest: dict[str, dict[str, Any]] = {}
    for r in sorted(passing, key=lambda r: r["created_at"]):
        newest[r["video"]] = r
    kept = list(newest.values())
    worded = [r for r in kept if any(has_test_word(r[k]) for k in ("video", "name", "description"))]
    assert len(kept) - len(worded) == summary.eligible_challenges
    assert len(worded) == summary.test_word_challenges >= 1


def test_history_and_connections_match_the_summary(
    world: tuple[Engine, WorldSummary, Path],
) -> None:
    engine, summary, _ = world
    now = summary.now
    d90, d30 = now - timedelta(days=90), now - timedelta(days=30)
    res = schema.RESUME_MODEL_TYPE
    tf = _rows(engine, schema.team_feedbacks)
    likes = _rows(engine, schema.likes)
    matches = _rows(engine, schema.matches)
    log = _rows(engine, schema.activity_log)
    ratings = [
        r
        for r in tf
        if r["type"] == "ranking_resume"
        and r["value"] > 0
        and r["user_id"] is not None
        and r["created_at"] >= d90
    ]
    saves = [
        r
        for r in likes
        if r["type"] == "save" and r["user_id"] is not None and r["created_at"] >= d90
    ]
    accepted = [
        r
        for r in matches
        if r["status"] == "accepted" and r["user_id"] is not None and r["created_at"] >= d90
    ]
    views = [
        r
        for r in log
        if r["description"].startswith("#video #view")
        and r["causer_id"] is not None
        and r["created_at"] >= d30
    ]
    assert sum(r["model_type"] == res for r in ratings) == summary.ratings_in_window
    assert sum(r["model_type"] == res for r in saves) == summary.saves_in_window
    assert sum(r["model_type"] != res for r in saves) == summary.challenge_saves_in_window > 0
    assert sum(r["model_type"] == res for r in accepted) == summary.matches_in_window
    assert sum(r["subject_type"] == res for r in views) == summary.views_in_window
    assert sum(r["subject_type"] != res for r in views) == summary.challenge_views_in_window
    # rows outside the windows and noise rows exist too
    assert any(r["created_at"] < d90 for r in ratings + tf if r["type"] == "ranking_resume")
    assert {r["status"] for r in matches} == {"accepted", "pending", "rejected"}
    assert {r["type"] for r in likes} >= {"save", "like"}
    assert any(r["value"] == 0 for r in tf) and any(r["value"] > 5 for r in tf)
    assert any(r["type"] != "ranking_resume" for r in tf)
    assert any(r["user_id"] is None for r in tf)
    view = next(r for r in log if r["description"].startswith("#video #view"))
    event = json.loads(view["properties"])
    assert event["video_id"] == view["subject_id"] and event["event_type"] == "video_view"
    assert view["url"] == f"/api/search/feed/video/{view['subject_id']}"
    assert view["causer_type"] == schema.USER_MODEL_TYPE and view["log_name"] == "app"
    edges = _rows(engine, schema.user_connections)
    recent = [e for e in edges if e["status"] == "accepted" and e["created_at"] >= d90]
    assert len(recent) == summary.connections_in_window
    assert all(e["from_id"] != e["to_id"] for e in edges)
    assert len({(e["from_id"], e["to_id"]) for e in edges}) == len(edges)
    assert {e["status"] for e in edges} == {"accepted", "pending", "rejected"}
    stamps = [r["created_at"] for t in (tf, likes, matches, log, edges) for r in t]
    assert max(stamps) < now


def test_text_round_trips_in_utf8(world: tuple[Engine, WorldSummary, Path]) -> None:
    engine, _, _ = world
    users = _rows(engine, schema.users)
    names = [u["name"] for u in users]
    assert any(n is None for n in names)
    accented = [n for n in names if n and any(c in n for c in "áéíóúñÁÉÍÓÚÑ")]
    assert len(accented) > len(names) // 3
    allowed = set(FIRST_NAMES) | set(LAST_NAMES)
    person = [n for n in names if n and n == n.strip() and n.split(" ")[0] in FIRST_NAMES]
    assert all(part in allowed for n in person[:500] for part in n.split(" "))
    cities = {u["city"] for u in users}
    assert cities >= LEGACY_CITY_VARIANTS | {"BOGOTA", "Bogotá, D.C.", "Lima", None, ""}
    assert any(u["city"] in (None, "", "  ") and u["country"] for u in users)
    assert any(not (u["city"] or "").strip() and not (u["country"] or "").strip() for u in users)
    resumes = _rows(engine, schema.resumes)
    assert any("ó" in (r["description"] or "") for r in resumes)


def test_json_columns(world: tuple[Engine, WorldSummary, Path]) -> None:
    engine, _, _ = world
    resumes = _rows(engine, schema.resumes)
    parsed, broken, odd = 0, 0, 0
    for r in resumes:
        if r["skills"] is None:
            continue
        try:
            value = json.loads(r["skills"])
        except json.JSONDecodeError:
            broken += 1
            continue
        parsed += 1
        if any(not isinstance(v, str) for v in value):
            odd += 1
        else:
            assert all(v in SKILLS for v in value) and len(value) <= 8
    assert parsed > 0.9 * len(resumes)
    assert broken + odd <= 0.1 * len(resumes)
    for r in resumes:
        for column, vocabulary in (("knowledges", KNOWLEDGES), ("tools", TOOLS)):
            if r[column] is not None:
                assert set(json.loads(r[column])) <= set(vocabulary)
    for p in _rows(engine, schema.profiles)[:3000]:
        for column in ("skills", "languages", "tools", "knowledge", "hobbies", "type_talentees"):
            if p[column] is not None:
                assert isinstance(json.loads(p[column]), list)


def test_ground_truth_file(world: tuple[Engine, WorldSummary, Path]) -> None:
    engine, summary, path = world
    with np.load(path, allow_pickle=False) as truth:
        assert set(truth.files) == set(TRUTH_KEYS)
        data = {k: truth[k] for k in truth.files}
    assert all(a.dtype != object for a in data.values())
    assert int(data["format_version"]) == 1 and int(data["seed"]) == 11
    assert float(data["scale"]) == 0.05
    n_users, n_resumes = summary.rows["users"], summary.rows["resumes"]
    assert data["user_id"].tolist() == list(range(1, n_users + 1))
    indptr = data["user_taste_indptr"]
    assert len(indptr) == n_users + 1 and indptr[-1] == len(data["user_taste_indices"])
    sums = np.add.reduceat(data["user_taste_weights"], indptr[:-1])
    np.testing.assert_allclose(sums, 1.0)
    assert data["user_taste_indices"].max() < len(data["skill_vocabulary"])
    assert data["user_city"].dtype.kind == "U" and len(data["user_city"]) == n_users
    assert set(data["user_city"].tolist()) <= set(data["city_vocabulary"].tolist())
    assert ((data["user_social_weight"] >= 0) & (data["user_social_weight"] <= 1)).all()
    assert len(data["resume_id"]) == n_resumes == len(data["resume_quality"])
    assert ((data["resume_quality"] >= 0) & (data["resume_quality"] <= 1)).all()
    assert int(data["resume_eligible"].sum()) == summary.eligible_resumes
    assert int(data["challenge_eligible"].sum()) == summary.eligible_challenges
    assert tuple(data["blacklist"].tolist()) == summary.blacklist
    owners = [r["user_id"] for r in _rows(engine, schema.resumes)]
    assert data["resume_user_id"].tolist() == owners


def test_history_follows_the_ground_truth(world: tuple[Engine, WorldSummary, Path]) -> None:
    """Users pick resumes that share their taste far more often than chance."""
    engine, _, path = world
    truth = np.load(path, allow_pickle=False)
    ptr, idx = truth["user_taste_indptr"], truth["user_taste_indices"]
    weights = truth["user_taste_weights"]
    rptr, ridx = truth["resume_skill_indptr"], truth["resume_skill_indices"]

    def affinity(user_id: int, resume_id: int) -> float:
        u, r = user_id - 1, resume_id - 1
        span = slice(ptr[u], ptr[u + 1])
        taste = dict(zip(idx[span].tolist(), weights[span].tolist(), strict=True))
        return sum(taste.get(s, 0.0) for s in ridx[rptr[r] : rptr[r + 1]].tolist())

    pairs = [
        (r["user_id"], r["model_id"])
        for table in (schema.likes, schema.matches, schema.team_feedbacks)
        for r in _rows(engine, table)
        if r["user_id"] is not None and r["model_type"] == schema.RESUME_MODEL_TYPE
    ]
    rng = np.random.default_rng(0)
    shuffled = rng.permutation([p[1] for p in pairs])
    real = np.mean([affinity(u, r) for u, r in pairs])
    chance = np.mean([affinity(u, int(r)) for (u, _), r in zip(pairs, shuffled, strict=True)])
    assert real > 3 * chance


def test_refuses_a_non_empty_database(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    generate_world(engine, scale=0.01, seed=1, truth_path=None, now=NOW)
    with pytest.raises(DataSourceError, match="users"):
        generate_world(engine, scale=0.01, seed=2, truth_path=None, now=NOW)
    engine.dispose()


def test_rejects_a_bad_scale(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    with pytest.raises(ValueError, match="scale"):
        generate_world(engine, scale=0, seed=1, truth_path=None)
    engine.dispose()


def test_write_blacklist(world: tuple[Engine, WorldSummary, Path], tmp_path: Path) -> None:
    _, summary, _ = world
    path = tmp_path / "blacklist.csv"
    write_blacklist(path, summary.blacklist)
    lines = [x.strip() for x in path.read_text("utf-8").splitlines()]
    assert tuple(x for x in lines if x and not x.startswith("#")) == summary.blacklist
    assert summary.blacklisted_resumes >= 1 and summary.blacklisted_challenges >= 1
