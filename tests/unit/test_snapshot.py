"""Snapshot build, save and load: memory-mapped, versioned, atomic."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from factories import NOW, random_snapshot, random_source
from pitchrec.domain.feed import FeedKind, FeedRequest
from pitchrec.errors import SnapshotError
from pitchrec.index import snapshot as files
from pitchrec.index.build import MAX_SKILLS, build_snapshot, history_weights
from pitchrec.ranking.engine import recommend
from pitchrec.ranking.options import RankingOptions
from pitchrec.ranking.pool_policies import LEGACY_REWARD_SCALE, legacy_pool_policies
from pitchrec.sources.tables import InteractionKind

LEGACY = RankingOptions.legacy()


def test_round_trip_is_memory_mapped_and_gives_the_same_feeds(tmp_path: Path) -> None:
    snapshot = random_snapshot(5, n_resumes=200, n_challenges=10)
    files.save(snapshot, tmp_path / "snap")
    loaded = files.load(tmp_path / "snap")
    assert isinstance(loaded.resumes.id.base, np.memmap)  # a view of the mapped file
    assert not loaded.resumes.id.flags.writeable
    assert loaded.built_at == snapshot.built_at
    assert loaded.resumes.description.to_list() == snapshot.resumes.description.to_list()
    for kind in FeedKind:
        request = FeedRequest(kind=kind, user_id=4, seed=9, now=NOW)
        a = recommend(snapshot, request, legacy_pool_policies(LEGACY_REWARD_SCALE), options=LEGACY)
        b = recommend(loaded, request, legacy_pool_policies(LEGACY_REWARD_SCALE), options=LEGACY)
        assert [i.item_id for i in a.items] == [i.item_id for i in b.items]


def test_save_replaces_atomically_and_leaves_no_staging(tmp_path: Path) -> None:
    target = tmp_path / "snap"
    files.save(random_snapshot(1, n_resumes=10), target)
    files.save(random_snapshot(2, n_resumes=20), target)
    assert len(files.load(target).resumes) == 20
    # Only the directory and its swap lock remain: no staging, no retired directory.
    assert sorted(p.name for p in tmp_path.iterdir()) == [".snap.swap.lock", "snap"]


def test_other_format_version_is_refused(tmp_path: Path) -> None:
    target = files.save(random_snapshot(1, n_resumes=5), tmp_path / "snap")
    manifest = json.loads((target / files.MANIFEST).read_text())
    manifest["format_version"] = 999
    (target / files.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(SnapshotError, match="format version"):
        files.load(target)
    with pytest.raises(SnapshotError, match="no snapshot"):
        files.load(tmp_path / "missing")


def test_skills_are_truncated_and_rows_l2_normalised() -> None:
    source = random_source(2, n_resumes=50)
    snapshot = build_snapshot(source)
    lengths = snapshot.resumes.skills.lengths()
    assert lengths.max() <= MAX_SKILLS
    nonempty = lengths > 0
    norms = lengths[nonempty] * snapshot.resumes.skill_norm_inverse[nonempty] ** 2
    assert np.allclose(norms, 1.0)
    vocab = snapshot.vocab.skills.to_list()
    assert vocab == sorted(vocab)
    # Row of resume id 7 holds its first five skills, in vocabulary ids.
    row = snapshot.resumes.row_of(7)
    position = list(source.resumes.id).index(7)
    names = [vocab[i] for i in snapshot.resumes.skills.row(row).tolist()]
    assert names == list(source.resumes.skills[position][:MAX_SKILLS])


def test_history_is_newest_first_and_weighted_by_kind_and_rating() -> None:
    snapshot = random_snapshot(4, n_interactions=300)
    users = snapshot.users
    assert np.all(np.diff(users.history_users) > 0)
    kinds = np.asarray(
        [InteractionKind.RATING] * 5
        + [InteractionKind.SAVE, InteractionKind.MATCH, InteractionKind.VIEW],
        dtype=np.uint8,
    )
    ratings = np.asarray([1, 2, 3, 4, 5, 3, 4, 2], dtype=np.float32)
    assert history_weights(kinds, ratings).tolist() == pytest.approx(
        [0.0, 0.25, 0.5, 0.75, 1.0, 0.8, 1.0, 0.3]
    )


def test_an_older_or_damaged_snapshot_directory_is_rebuilt_from_the_database(
    tmp_path: Path, sqlite_url: str
) -> None:
    """An upgrade finds a snapshot of the previous format (or a damaged one) in the shared
    directory: with a database the server rebuilds instead of staying unready."""
    import json

    from pitchrec.index.lifecycle import SnapshotManager, SnapshotSource
    from pitchrec.index.snapshot import MANIFEST
    from pitchrec.lab.world import generate_world
    from pitchrec.sources.database import make_engine

    engine = make_engine(sqlite_url)
    generate_world(engine, scale=0.01, seed=2, truth_path=None)
    engine.dispose()
    directory = files.save(random_snapshot(1), tmp_path / "snap")
    manifest = json.loads((directory / MANIFEST).read_text())
    manifest["format_version"] = 2
    (directory / MANIFEST).write_text(json.dumps(manifest))
    manager = SnapshotManager(SnapshotSource(database_url=sqlite_url, directory=directory))
    rebuilt = manager.initial(max_age_seconds=3600.0)
    assert len(rebuilt.resumes) > 0 and rebuilt.collab.item_factors.shape[0] == len(rebuilt.resumes)
    (directory / "resumes.id.npy").write_bytes(b"not an array")  # damaged, manifest fresh
    again = manager.initial(max_age_seconds=3600.0)
    assert len(again.resumes) == len(rebuilt.resumes)
