"""The engine serves exactly the golden feeds (tests/golden/feeds.json): a refactor that
changes a single score, propensity, item or metric fails here."""

from __future__ import annotations

import json

import pytest

from golden_feeds import GOLDEN_FILE, digest, golden_feeds


@pytest.fixture(scope="module")
def expected() -> dict[str, object]:
    loaded: dict[str, object] = json.loads(GOLDEN_FILE.read_text())
    return loaded


def test_golden_feeds_are_unchanged(expected: dict[str, object]) -> None:
    actual = {name: digest(record) for name, record in golden_feeds().items()}
    assert sorted(actual) == sorted(expected)
    changed = [name for name in sorted(expected) if actual[name] != expected[name]]
    assert not changed, f"{len(changed)} golden feeds changed, first: {changed[:5]}"


def test_golden_cases_cover_every_kind_and_both_presets(expected: dict[str, object]) -> None:
    names = list(expected)
    for part in ("legacy/", "service/", "/total/", "/discover/", "/flow/", "/trained/"):
        assert any(part in name for name in names), part
    assert len(names) >= 300


def test_the_numeric_kernels_are_pinned() -> None:
    """tests/conftest.py pins numpy's AVX2 loops and OpenBLAS's Haswell kernels before
    numpy loads; if something imported numpy first, the goldens would follow the CPU."""
    from numpy._core._multiarray_umath import __cpu_features__
    from threadpoolctl import threadpool_info

    assert not __cpu_features__.get("X86_V4", False)
    openblas = [i for i in threadpool_info() if i.get("internal_api") == "openblas"]
    assert all(i.get("architecture") == "Haswell" for i in openblas), openblas
