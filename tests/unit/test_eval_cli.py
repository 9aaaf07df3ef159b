"""``simulate`` and ``evaluate`` as commands: flags, defaults and the one JSON object."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import get_type_hints

import pytest
import typer
from typer.testing import CliRunner

from pitchrec.lab.cli import app as lab_app
from pitchrec.lab.cli import evaluate, simulate

runner = CliRunner()
OBD_SAMPLE = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "obd-random-men"


@pytest.mark.parametrize("command", [simulate, evaluate])
def test_every_parameter_has_a_flag_with_help_and_a_default(command: Callable[..., None]) -> None:
    hints = get_type_hints(command, include_extras=True)
    for name, param in inspect.signature(command).parameters.items():
        if hints[name] is typer.Context:
            continue  # typer's own context, not a flag
        assert param.default is not inspect.Parameter.empty, name
        option = hints[name].__metadata__[0]
        assert option.help, name


def test_simulate_prints_one_json_object(tmp_path: Path) -> None:
    args = [
        "simulate",
        "--scale",
        "0.02",
        "--world-seed",
        "4",
        "--world-dir",
        str(tmp_path),
        "--impressions",
        "480",
        "--seeds",
        "2",
        "--policies",
        "legacy,linucb,oracle",
        "--sync-every",
        "5",
        "--workers",
        "1",
        "--no-progress",
        "--json",
    ]
    result = runner.invoke(lab_app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert set(summary["policies"]) == {"legacy", "linucb", "oracle"}
    for entry in summary["policies"].values():
        assert {"reward", "coverage", "exposure_gini", "new_content_ratio"} <= set(entry)
    assert (tmp_path / "world-s0.02-w4.truth.npz").exists()  # the generated world is cached


def test_simulate_refuses_an_unknown_policy(tmp_path: Path) -> None:
    args = [
        "simulate",
        "--scale",
        "0.02",
        "--world-dir",
        str(tmp_path),
        "--policies",
        "nope",
        "--no-progress",
    ]
    result = runner.invoke(lab_app, args)
    assert result.exit_code != 0


def test_evaluate_runs_on_the_open_bandit_sample() -> None:
    if not (OBD_SAMPLE / "men.csv").exists():
        pytest.skip(f"Open Bandit sample not found at {OBD_SAMPLE}")
    result = runner.invoke(
        lab_app, ["evaluate", "--obd-dir", str(OBD_SAMPLE), "--interval", "analytic"]
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["rounds"] == 10_000
    assert set(report["targets"]["greedy_ctr"]) == {"ips", "snips", "dr"}
