"""Experiment declarations and assignment (issue 14, item 1): a unit keeps its variant in
every process, weights are honoured, a stopped variant's units get the control, and a bad
declaration stops start-up with a message naming the field."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pitchrec.domain.experiment import (
    ExperimentConfigError,
    assign,
    parse_experiment,
    position_bucket,
    unit_hash,
    unit_of,
)
from pitchrec.errors import ConfigurationError
from pitchrec.settings import Settings


def _spec(weights: dict[str, float], name: str = "exp-1") -> Any:
    variants = {key: {"weight": weight} for key, weight in weights.items()}
    return parse_experiment({"name": name, "variants": variants})


users = st.integers(min_value=1, max_value=2**63 - 1)
names = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)


@given(user=users, name=names, b=st.floats(0.01, 100), c=st.floats(0.01, 100))
def test_assignment_is_a_function_of_experiment_and_user(
    user: int, name: str, b: float, c: float
) -> None:
    spec = _spec({"control": 1.0, "b": b, "c": c}, name=name)
    first = assign(spec, user, None)
    assert first == assign(spec, user, "another-session")  # a known user: the user decides
    assert first.assigned == first.variant and first.counted
    assert first.variant in {"control", "b", "c"}


@given(session=st.text(min_size=1, max_size=40))
def test_anonymous_users_are_assigned_by_session(session: str) -> None:
    spec = _spec({"control": 1.0, "b": 1.0})
    for anonymous in (None, 0):  # 0: the legacy cold-start user
        assert assign(spec, anonymous, session) == assign(spec, None, session)
        assert assign(spec, anonymous, session).assigned is not None
    alone = assign(spec, None, None)
    assert alone.variant == "control" and alone.assigned is None and not alone.counted


@settings(max_examples=30, deadline=None)
@given(weights=st.lists(st.floats(0.5, 20.0), min_size=2, max_size=4), salt=names)
def test_weights_are_honoured(weights: list[float], salt: str) -> None:
    spec = _spec({("control" if i == 0 else f"v{i}"): w for i, w in enumerate(weights)}, salt)
    n = 12_000
    counts: dict[str, int] = {}
    for user in range(1, n + 1):
        variant = assign(spec, user, None).variant
        counts[variant] = counts.get(variant, 0) + 1
    total = sum(weights)
    for i, weight in enumerate(weights):
        share = weight / total
        observed = counts.get("control" if i == 0 else f"v{i}", 0) / n
        # 5 binomial standard deviations: a wrong bucketing (uniform, reversed) is far off.
        assert abs(observed - share) < 5 * (share * (1 - share) / n) ** 0.5


def test_a_stopped_variant_serves_control_but_keeps_its_assignment() -> None:
    spec = _spec({"control": 1.0, "b": 1.0})
    user = next(u for u in range(1, 100) if assign(spec, u, None).variant == "b")
    stopped = assign(spec, user, None, stopped={"b"})
    assert stopped.variant == "control" and stopped.assigned == "b"
    assert not stopped.counted  # counted neither as b nor as control
    assert stopped.tags() == {"experiment": "exp-1", "variant": "control", "assigned": "b"}


def test_the_hash_is_the_same_in_another_process() -> None:
    """BLAKE2b, not ``hash()`` (salted per process): replicas agree."""
    code = "from pitchrec.domain.experiment import unit_hash; print(repr(unit_hash('e', 'u:42')))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert float(other.stdout) == unit_hash("e", "u:42")
    assert unit_hash("e", "u:42") != unit_hash("f", "u:42")  # experiments reshuffle
    assert unit_of(7, "s") == "u:7" and unit_of(0, "s") == "s:s" and unit_of(None, "") is None


def test_position_buckets_are_bounded() -> None:
    labels = {position_bucket(p) for p in range(1, 1_001)}
    assert labels == {"1-3", "4-6", "7-12", "13-24", "25+"}
    assert position_bucket(3) == "1-3" and position_bucket(4) == "4-6"


GOOD = {
    "name": "blend-2026-12",
    "variants": {
        "control": {"weight": 50},
        "no-blend": {"weight": 50, "ranking": ["@learned_blend=false"], "reward_scale": 10},
    },
}


def test_the_suggested_declaration_parses() -> None:
    spec = Settings(experiment=GOOD).experiment
    assert spec is not None
    assert spec.names == ("control", "no-blend") and spec.control == "control"
    variant = spec.variant("no-blend")
    assert variant.ranking == ("learned_blend=false",) and variant.reward_scale == 10.0
    assert Settings().experiment is None
    assert Settings(experiment="").experiment is None


@pytest.mark.parametrize(
    ("declaration", "message"),
    [
        ({"name": "x", "variants": {"b": {"weight": 1}, "c": {"weight": 1}}}, "'control'"),
        ({"name": "x", "variants": {"control": {"weight": 1}}}, "at least one other"),
        ({"name": "x", "variants": {"control": {"weight": 1}, "b": {"weight": 0}}}, "> 0"),
        ({"name": "x", "variants": {"control": {"weight": 1}, "b": {}}}, "weight"),
        ({"name": "a:b", "variants": {"control": {"weight": 1}}}, "name"),
        ({"name": "x", "variants": {"control": {"weight": 1}, "b": {"weight": 1, "x": 1}}}, "x"),
        (
            {
                "name": "x",
                "variants": {
                    "control": {"weight": 1, "ranking": ["boost_new=0"]},
                    "b": {"weight": 1},
                },
            },
            "control serves",
        ),
        (
            {"name": "x", "variants": {"control": {"weight": 1}, "b": {"weight": 1}}, "oops": 1},
            "oops",
        ),
        (
            {
                "name": "x",
                "variants": {"control": {"weight": 1}, "b": {"weight": 1}},
                "confidence": 1,
            },
            "confidence",
        ),
    ],
)
def test_bad_declarations_are_refused_naming_the_field(declaration: Any, message: str) -> None:
    with pytest.raises(ExperimentConfigError, match=message):
        parse_experiment(declaration)
    with pytest.raises(ConfigurationError, match="PITCHREC_EXPERIMENT"):
        Settings(experiment=declaration)


@pytest.mark.parametrize(
    ("ranking", "scale", "message"),
    [
        (["@no_such_option=1"], None, "no_such_option"),
        (["fresh_share=2"], None, "fresh_share must be in"),
        (["temperature=0"], None, "temperature"),
        (["boost_new"], None, "is not <option>=<value>"),
        (["collaborative=lots"], None, "not a number"),
        (["@learned_blend=true"], 0, "learned blend needs reward_scale > 0"),
    ],
)
def test_unknown_or_bad_options_stop_start_up(
    ranking: list[str], scale: float | None, message: str
) -> None:
    variant: dict[str, Any] = {"weight": 1, "ranking": ranking}
    if scale is not None:
        variant["reward_scale"] = scale
    declaration = {"name": "x", "variants": {"control": {"weight": 1}, "b": variant}}
    with pytest.raises(ConfigurationError, match=message):
        Settings(experiment=declaration)


def test_the_environment_variable_is_read_as_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "PITCHREC_EXPERIMENT",
        '{"name": "e", "variants": {"control": {"weight": 1}, "b": {"weight": 3,'
        ' "ranking": ["@boost_new=false", "fresh_share=0.5"]}}}',
    )
    spec = Settings().experiment
    assert spec is not None and spec.variant("b").weight == 3.0
    monkeypatch.setenv("PITCHREC_EXPERIMENT", "{not json")
    with pytest.raises(ConfigurationError, match="not JSON"):
        Settings()


def test_serve_refuses_a_bad_experiment_before_starting(tmp_path: Any) -> None:
    """``pitchrec serve`` validates the settings before uvicorn forks its workers."""
    from pathlib import Path

    pitchrec = Path(sys.executable).parent / "pitchrec"
    env = {
        "PATH": "/usr/bin:/bin",
        "PITCHREC_EXPERIMENT": '{"name": "e", "variants": {"control": {"weight": 1},'
        ' "b": {"weight": 1, "ranking": ["@learned_blend=maybe"]}}}',
    }
    result = subprocess.run(
        [str(pitchrec), "serve", "--port", "1"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "PITCHREC_EXPERIMENT" in result.stderr and "learned_blend" in result.stderr


def test_the_documented_examples_are_valid() -> None:
    """The README's example and the ConfigMap's commented one parse and validate."""
    import re
    from pathlib import Path

    import orjson
    import yaml

    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Experiments", 1)[1]
    example = section.split("```json", 1)[1].split("```", 1)[0]
    assert Settings(experiment=orjson.loads(example)).experiment is not None
    config = (root / "deploy" / "k8s" / "base" / "configmap.yaml").read_text(encoding="utf-8")
    commented = re.search(r"  # (PITCHREC_EXPERIMENT: >-\n(?:  #   .*\n)+)", config)
    assert commented is not None
    text = re.sub(r"(?m)^  #   ", "  ", commented.group(1))
    value = yaml.safe_load(text)["PITCHREC_EXPERIMENT"]
    spec = Settings(experiment=value).experiment
    assert spec is not None and spec.variant("fixed-blend").reward_scale == 10.0
    assert spec.variant("fixed-blend").ranking == ("blend_search=false",)
