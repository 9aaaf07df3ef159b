"""Defects of the off-policy evaluation found against obp 0.5.7, each pinned by a test:
the behaviour check on a non-uniform log, DR outside the reward range, the ridge reward
model's silent fallback, unvalidated target distributions, and bad Open Bandit inputs."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from pitchrec.errors import PitchrecError
from pitchrec.lab.offpolicy.estimators import LoggedFeedback, estimate, fit_reward_model
from pitchrec.lab.offpolicy.obd import evaluate_obd, load_obd

OBD_SAMPLE = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "obd-random-men"
HEADER = ["", "timestamp", "item_id", "position", "click", "propensity_score", "user_feature_0"]
# A position-dependent, far-from-uniform logging policy over 4 items and 2 positions, and
# each item's click probability: the on-policy value is known exactly.
BEHAVIOUR = np.array([[0.7, 0.1, 0.1, 0.1], [0.6, 0.2, 0.15, 0.05]])
CLICK_PROB = np.array([0.05, 0.5, 0.3, 0.6])
TRUE_VALUE = float(np.mean(BEHAVIOUR @ CLICK_PROB))  # positions equally likely: 0.19


def _write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _non_uniform_log(directory: Path, n: int, seed: int) -> Path:
    """``n`` rounds of :data:`BEHAVIOUR` in OBD format (``men.csv``) under ``directory``."""
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        position = int(rng.integers(0, 2))
        item = int(rng.choice(4, p=BEHAVIOUR[position]))
        click = int(rng.random() < CLICK_PROB[item])
        propensity = float(BEHAVIOUR[position, item])
        rows.append(
            [str(i), f"t{i:07d}", str(item), str(position + 1), str(click), repr(propensity), "u"]
        )
    return _write_csv(directory / "men.csv", rows)


def _small_log(directory: Path, n: int = 8, campaign: str = "men") -> Path:
    rows = [
        [str(i), f"t{i:03d}", str(i % 2), "1", str(int(i % 3 == 0)), "0.5", "u"] for i in range(n)
    ]
    return _write_csv(directory / f"{campaign}.csv", rows)


# --- 1. the behaviour check on a log from a non-uniform policy ---------------------------


def test_behavior_check_recovers_the_known_value_of_a_non_uniform_logging_policy(
    tmp_path: Path,
) -> None:
    _non_uniform_log(tmp_path, 20_000, seed=5)
    result = evaluate_obd(tmp_path, interval="analytic")
    behavior = result["targets"]["behavior"]
    on_policy = result["on_policy_click_rate"]
    assert behavior["ips"]["value"] == pytest.approx(on_policy)
    assert behavior["snips"]["value"] == pytest.approx(on_policy)
    dr = behavior["dr"]
    assert dr["ci_low"] <= TRUE_VALUE <= dr["ci_high"], (dr, TRUE_VALUE)
    assert abs(dr["value"] - TRUE_VALUE) < 0.01, (dr["value"], TRUE_VALUE)


def test_behavior_distribution_keeps_the_logged_propensity_and_the_position_frequencies() -> None:
    from pitchrec.lab.offpolicy.obd import behavior_action_dist

    actions = np.array([0, 0, 0, 1, 2, 0, 1, 1], dtype=np.int64)
    positions = np.array([0, 0, 0, 0, 1, 1, 1, 1], dtype=np.int64)
    propensities = np.array([0.75, 0.75, 0.75, 0.25, 0.2, 0.3, 0.5, 0.5])
    data = LoggedFeedback(np.zeros((8, 1)), actions, np.zeros(8), propensities, 3, positions)
    dist = behavior_action_dist(data)
    assert dist.shape == (8, 3)
    np.testing.assert_allclose(dist.sum(axis=1), 1.0, atol=1e-12)
    np.testing.assert_array_equal(dist[np.arange(8), actions], propensities)
    # Position 0 logged items 0 and 1 only (3:1): item 2's share there is 0.
    np.testing.assert_allclose(dist[0], [0.75, 0.25, 0.0])
    np.testing.assert_allclose(dist[3], [0.75, 0.25, 0.0])
    # Position 1 logged items 0, 1, 2 as 1:2:1; round 4 logged item 2 at 0.2, so the other
    # 0.8 is shared 1:2 between items 0 and 1.
    np.testing.assert_allclose(dist[4], [0.8 / 3, 1.6 / 3, 0.2])


# --- 2. DR outside the reward range --------------------------------------------------------


def _negative_dr() -> tuple[LoggedFeedback, np.ndarray, np.ndarray]:
    """Item 0 always logged at 0.5 and never clicked, a model predicting 0.5 for it and a
    target always taking it: DR = 0.5 + 2 (0 - 0.5) = -0.5."""
    n = 50
    data = LoggedFeedback(
        np.zeros((n, 1)), np.zeros(n, dtype=np.int64), np.zeros(n), np.full(n, 0.5), 2
    )
    target = np.tile([1.0, 0.0], (n, 1))
    model = np.full((n, 2), 0.5)
    return data, target, model


def test_dr_below_the_reward_range_is_clipped_and_flagged() -> None:
    data, target, model = _negative_dr()
    est = estimate(data, target, "dr", reward_model=model)
    assert (est.value, est.ci_low, est.ci_high) == (0.0, 0.0, 0.0)
    out = est.as_dict()
    assert out["clipped"] is True
    assert out["unclipped"]["value"] == pytest.approx(-0.5)


def test_estimates_inside_the_reward_range_are_not_flagged() -> None:
    data, target, _model = _negative_dr()
    est = estimate(data, target, "ips")
    assert est.value == 0.0
    assert est.as_dict()["clipped"] is False


def test_evaluate_reports_no_negative_click_rate_on_the_public_sample() -> None:
    if not (OBD_SAMPLE / "men.csv").exists():
        pytest.skip(f"Open Bandit sample not found at {OBD_SAMPLE}")
    result = evaluate_obd(OBD_SAMPLE, interval="analytic")
    for estimates in result["targets"].values():
        for est in estimates.values():
            assert 0.0 <= est["ci_low"] <= est["value"] <= est["ci_high"] <= 1.0, est
            assert isinstance(est["clipped"], bool)


# --- 3. the ridge reward model's silent fallback -------------------------------------------


def test_ridge_reward_model_refuses_actions_it_cannot_fit() -> None:
    rng = np.random.default_rng(0)
    n, d = 12, 6  # about 3 training rounds per action and fold for 7 coefficients
    data = LoggedFeedback(
        rng.normal(size=(n, d)),
        rng.integers(0, 2, size=n),
        rng.random(n),
        np.full(n, 0.5),
        2,
    )
    with pytest.raises(PitchrecError, match="ridge"):
        fit_reward_model(data, kind="ridge")


def test_ridge_reward_model_reports_a_singular_system() -> None:
    rng = np.random.default_rng(0)
    n = 200
    data = LoggedFeedback(
        np.zeros((n, 2)), rng.integers(0, 2, size=n), rng.random(n), np.full(n, 0.5), 2
    )
    with pytest.raises(PitchrecError, match="ridge"):
        fit_reward_model(data, kind="ridge", ridge=0.0)


# --- 4. target distributions that are not distributions ------------------------------------


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ([0.25, 0.25], "sums to 0.5"),
        ([1.0, 1.0], "sums to 2"),
        ([np.nan, 1.0], "not finite"),
        ([1.5, -0.5], "negative"),
    ],
)
def test_target_distributions_must_be_distributions(row: list[float], problem: str) -> None:
    n = 4
    data = LoggedFeedback(
        np.zeros((n, 1)), np.zeros(n, dtype=np.int64), np.zeros(n), np.full(n, 0.5), 2
    )
    dist = np.full((n, 2), 0.5)
    dist[2] = row
    with pytest.raises(PitchrecError, match=problem) as caught:
        estimate(data, dist, "ips")
    assert "row 2" in str(caught.value)


# --- 5. bad Open Bandit inputs --------------------------------------------------------------


def test_a_folder_without_a_campaign_csv_is_named(tmp_path: Path) -> None:
    _write_csv(tmp_path / "item_context.csv", [], ["", "item_id"])
    with pytest.raises(PitchrecError, match="no campaign CSV") as caught:
        evaluate_obd(tmp_path)
    assert str(tmp_path) in str(caught.value)


def test_a_wrong_campaign_is_named_with_the_ones_available(tmp_path: Path) -> None:
    _small_log(tmp_path, campaign="men")
    with pytest.raises(PitchrecError, match="women") as caught:
        evaluate_obd(tmp_path, campaign="women")
    assert "men" in str(caught.value).replace("women", "")


def test_an_empty_click_cell_names_the_file_column_and_line(tmp_path: Path) -> None:
    path = _small_log(tmp_path)
    lines = path.read_text(encoding="utf-8").splitlines()
    cells = lines[3].split(",")
    cells[HEADER.index("click")] = ""
    lines[3] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(PitchrecError, match="click") as caught:
        evaluate_obd(tmp_path)
    assert "men.csv" in str(caught.value)
    assert "line 4" in str(caught.value)


def test_a_header_only_file_is_named(tmp_path: Path) -> None:
    _write_csv(tmp_path / "men.csv", [])
    with pytest.raises(PitchrecError, match=r"men\.csv") as caught:
        evaluate_obd(tmp_path)
    assert "no data rows" in str(caught.value)


def test_an_empty_file_is_named(tmp_path: Path) -> None:
    (tmp_path / "men.csv").write_text("", encoding="utf-8")
    with pytest.raises(PitchrecError, match=r"men\.csv"):
        load_obd(tmp_path)


def test_the_evaluate_command_prints_one_error_line_for_a_bad_log(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pitchrec.lab.cli import app

    _write_csv(tmp_path / "men.csv", [])
    result = CliRunner().invoke(app, ["evaluate", "--obd-dir", str(tmp_path)])
    assert result.exit_code == 2, result.output
    assert "no data rows" in result.output
    assert "Traceback" not in result.output
