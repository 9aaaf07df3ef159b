"""The popular world kind: the collaborative model with a dominant popularity, so likes
concentrate on few resumes; its truth, the simulator reading it back and the CLI."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from pitchrec.cli import app
from pitchrec.lab.world import (
    COLLABORATIVE_TRUTH_KEYS,
    TRUTH_KEYS,
    WORLD_KINDS,
    generate_world,
    write_blacklist,
)
from pitchrec.lab.world.collaborative import COEFFICIENTS
from pitchrec.lab.world.popular import POPULAR_COEFFICIENTS
from pitchrec.lab.world.sim_world import load_world
from pitchrec.lab.world.user_model import UserModel
from pitchrec.sources import schema
from pitchrec.sources.database import make_engine

NOW = datetime(2026, 11, 1)
SCALE, SEED = 0.05, 5
runner = CliRunner()


def _positive_resumes(url: str) -> np.ndarray:
    """Resume rows (id - 1) of every user-attributed positive: a rating of 4-5, a save or
    an accepted match of a resume."""
    t, res = schema, schema.RESUME_MODEL_TYPE
    tf, likes, matches = t.team_feedbacks, t.likes, t.matches
    queries = (
        select(tf.c.model_id).where(
            (tf.c.type == "ranking_resume")
            & tf.c.value.between(4, 5)
            & tf.c.user_id.is_not(None)
            & (tf.c.model_type == res)
        ),
        select(likes.c.model_id).where(
            (likes.c.type == "save") & likes.c.user_id.is_not(None) & (likes.c.model_type == res)
        ),
        select(matches.c.model_id).where(
            (matches.c.status == "accepted")
            & matches.c.user_id.is_not(None)
            & (matches.c.model_type == res)
        ),
    )
    engine = make_engine(url)
    with engine.connect() as conn:
        ids = [int(v) for q in queries for v in conn.execute(q).scalars()]
    engine.dispose()
    return np.asarray(ids, dtype=np.int64) - 1


def _top_decile_share(resumes: np.ndarray, eligible: np.ndarray) -> float:
    counts = np.sort(np.bincount(resumes, minlength=len(eligible))[eligible])[::-1]
    return float(counts[: max(1, round(0.1 * len(counts)))].sum() / counts.sum())


@pytest.fixture(scope="module")
def worlds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Directories of a popular and a collaborative world with the same scale and seed."""
    out = {}
    for kind in ("popular", "collaborative"):
        root = tmp_path_factory.mktemp(kind)
        engine = make_engine(f"sqlite:///{root / 'w.db'}")
        summary = generate_world(
            engine, scale=SCALE, seed=SEED, truth_path=root / "t.npz", now=NOW, kind=kind
        )
        engine.dispose()
        assert summary.kind == kind
        write_blacklist(root / "b.csv", summary.blacklist)
        out[kind] = root
    return out


def test_likes_concentrate_more_than_in_the_collaborative_world(worlds: dict[str, Path]) -> None:
    """Top 10 % of the 98 eligible resumes: 0.93 of the ~2,300 positives in the popular
    world against 0.40 in the collaborative one (measured at scale 0.05, seed 5)."""
    shares = {}
    for kind, root in worlds.items():
        with np.load(root / "t.npz", allow_pickle=False) as truth:
            eligible = truth["resume_eligible"]
        positives = _positive_resumes(f"sqlite:///{root / 'w.db'}")
        assert len(positives) >= 1000, kind
        shares[kind] = _top_decile_share(positives, eligible)
    assert shares["popular"] >= 0.8
    assert shares["popular"] > shares["collaborative"] + 0.3


def test_truth_records_the_popular_coefficients(worlds: dict[str, Path]) -> None:
    """Same latent draws as the collaborative world of the same seed, other coefficients."""
    popular = dict(np.load(worlds["popular"] / "t.npz", allow_pickle=False))
    collab = dict(np.load(worlds["collaborative"] / "t.npz", allow_pickle=False))
    assert set(popular) == set(TRUTH_KEYS) | set(COLLABORATIVE_TRUTH_KEYS)
    assert int(popular["format_version"]) == 2 and str(popular["world_kind"]) == "popular"
    names = popular["affinity_names"].tolist()
    coefficients = dict(zip(names, popular["affinity_coefficients"].tolist(), strict=True))
    assert coefficients == POPULAR_COEFFICIENTS != COEFFICIENTS
    assert coefficients["popularity"] > 3 * coefficients["collab"]
    for key in ("user_factors", "resume_factors", "resume_popularity", "user_active_from_age"):
        np.testing.assert_array_equal(popular[key], collab[key])


def test_the_simulator_reads_the_popular_coefficients(worlds: dict[str, Path]) -> None:
    root = worlds["popular"]
    world = load_world(f"sqlite:///{root / 'w.db'}", root / "t.npz", root / "b.csv")
    assert dict(world.coefficients) == POPULAR_COEFFICIENTS
    assert world.user_factors is not None and world.resume_factors is not None
    assert world.resume_popularity is not None
    row = 5
    full = UserModel(world).utilities(row, world.now)
    plain = UserModel(
        world.__class__(**{**world.__dict__, "user_factors": None, "resume_popularity": None})
    ).utilities(row, world.now)
    expected = POPULAR_COEFFICIENTS["collab"] * (world.resume_factors @ world.user_factors[row])
    expected += POPULAR_COEFFICIENTS["popularity"] * world.resume_popularity
    np.testing.assert_allclose(full - plain, expected)


def test_seed_accepts_the_popular_world_and_refuses_unknown_kinds(tmp_path: Path) -> None:
    assert "popular" in WORLD_KINDS
    url = f"sqlite:///{tmp_path / 'p.db'}"
    args = ["seed", "--database-url", url, "--scale", "0.01", "--seed", "3"]
    result = runner.invoke(app, [*args, "--world", "popular"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["kind"] == "popular"
    with np.load(tmp_path / "p.truth.npz", allow_pickle=False) as truth:
        assert str(truth["world_kind"]) == "popular"
    other = f"sqlite:///{tmp_path / 'x.db'}"
    result = runner.invoke(app, ["seed", "--database-url", other, "--world", "viral"])
    assert result.exit_code != 0
    assert "skills, collaborative, popular" in result.output
    engine = make_engine(other)
    with pytest.raises(ValueError, match="world kind"):
        generate_world(engine, scale=0.01, seed=1, truth_path=None, kind="viral")
    engine.dispose()
