"""The command line end to end on a tiny world (scale 0.01, SQLite)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pitchrec.cli import app

runner = CliRunner()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    directory = tmp_path_factory.mktemp("world")
    url = f"sqlite:///{directory / 'w.db'}"
    result = runner.invoke(app, ["seed", "--database-url", url, "--scale", "0.01", "--seed", "3"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["eligible_resumes"] > 0
    assert (directory / "w.truth.npz").exists()
    assert (directory / "w.blacklist.csv").exists()
    return url, directory


def test_load_reports_counts_and_skips(world: tuple[str, Path]) -> None:
    url, directory = world
    blacklist = str(directory / "w.blacklist.csv")
    result = runner.invoke(app, ["load", "--database-url", url, "--blacklist", blacklist])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["resumes"] > 0 and report["challenges"] > 0
    assert "skipped" in report


def test_build_then_feed_from_the_snapshot(world: tuple[str, Path]) -> None:
    url, directory = world
    snapshot = directory / "snap"
    result = runner.invoke(app, ["build", "--database-url", url, "--out", str(snapshot)])
    assert result.exit_code == 0, result.output
    for kind, key in (("total", "mix_ids"), ("discover", "resume_ids"), ("flow", "challenge_ids")):
        args = [
            "feed",
            "--snapshot",
            str(snapshot),
            "--kind",
            kind,
            "--seed",
            "1",
            "--exclude",
            "1,2",
        ]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        envelope = json.loads(result.stdout)
        assert envelope["statusCode"] == 200
        ids = envelope["body"][key]
        assert ids and "1" not in ids and "2" not in ids
        assert ids == [str(item["id"]) for item in envelope["body"]["items"]]


def test_feed_from_the_database_is_reproducible_with_a_seed(world: tuple[str, Path]) -> None:
    url, _ = world
    args = ["feed", "--database-url", url, "--user-id", "5", "--seed", "9"]
    first, second = runner.invoke(app, args), runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    ids = json.loads(first.stdout)["body"]["mix_ids"]
    assert ids == json.loads(second.stdout)["body"]["mix_ids"]


def test_clear_errors_exit_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["feed", "--snapshot", str(tmp_path / "none")])
    assert result.exit_code == 2
    assert "no snapshot" in result.output
    result = runner.invoke(app, ["feed", "--snapshot", str(tmp_path), "--exclude", "1,x"])
    assert result.exit_code == 2
    assert "exclude" in result.output
    result = runner.invoke(app, ["db", "create", "--database-url", "postgresql://h/db"])
    assert result.exit_code == 2
    assert "unsupported database backend" in result.output


def test_seed_refuses_a_non_empty_database(world: tuple[str, Path]) -> None:
    url, _ = world
    result = runner.invoke(app, ["seed", "--database-url", url, "--scale", "0.01"])
    assert result.exit_code == 2
    assert "error" in result.output
