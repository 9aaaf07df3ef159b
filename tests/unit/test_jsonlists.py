"""JSON-list cells (D-C21)."""

from __future__ import annotations

import json
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pitchrec.sources.jsonlists import JsonListStats, parse_json_list, parse_json_lists


@pytest.mark.parametrize(
    "cell", [None, "", "   ", "null", "not json", '["a",', "{}", '{"a": 1}', "3", '"a"', 5]
)
def test_no_list_gives_empty(cell: object) -> None:
    assert parse_json_list(cell) == ()


def test_counts_what_it_meets() -> None:
    stats = JsonListStats()
    cells = [None, " ", "nope", '{"a": 1}', "null", '[" a ", "a", "", 3, {"x": 1}, null, "b"]']
    assert parse_json_lists(cells, stats) == ((), (), (), (), (), ("a", "b"))
    assert stats.cells == 6
    assert stats.blank == 2
    assert stats.malformed == 1
    assert stats.not_list == 2  # an object and JSON null
    assert stats.non_string == 3
    assert stats.empty_string == 1
    assert stats.duplicate == 1
    assert stats.skipped() == {
        "malformed": 1,
        "not_list": 2,
        "non_string": 3,
        "empty_string": 1,
        "duplicate": 1,
    }


def test_dict_elements_do_not_empty_the_list() -> None:
    # The legacy engine turned this whole cell into an empty set (D-C21).
    assert parse_json_list('["Python", {"name": "SQL"}, ["nested"]]') == ("Python",)


def test_no_truncation_and_order_kept() -> None:
    skills = [f"s{i}" for i in range(12)]
    assert parse_json_list(json.dumps(skills)) == tuple(skills)
    assert parse_json_list('["b", "a", "b", "c", "a"]') == ("b", "a", "c")


def test_case_is_significant_but_unicode_form_is_not() -> None:
    decomposed = unicodedata.normalize("NFD", "Diseño")
    assert parse_json_list(json.dumps(["Diseño", decomposed, "diseño"])) == ("Diseño", "diseño")


def test_bytes_and_decoded_lists() -> None:
    assert parse_json_list('["ñ", "x"]'.encode()) == ("ñ", "x")
    assert parse_json_list(b"\xff\xfe") == ()
    assert parse_json_list(["a", " a", 1]) == ("a",)  # a driver that decodes JSON itself


def test_deep_nesting_does_not_raise() -> None:
    assert parse_json_list("[" * 100_000 + "]" * 100_000) == ()


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(st.lists(json_values, max_size=20))
def test_property_strings_trimmed_unique_in_order(values: list[object]) -> None:
    stats = JsonListStats()
    out = parse_json_list(json.dumps(values), stats)
    expected: list[str] = []
    for value in values:
        if isinstance(value, str):
            text = unicodedata.normalize("NFC", value.strip())
            if text and text not in expected:
                expected.append(text)
    assert out == tuple(expected)
    assert stats.non_string == sum(not isinstance(v, str) for v in values)
    strings = sum(isinstance(v, str) for v in values)
    assert stats.empty_string + stats.duplicate + len(out) == strings


@given(st.text() | st.binary())
def test_property_never_raises(cell: str | bytes) -> None:
    out = parse_json_list(cell)
    assert isinstance(out, tuple)
    assert all(isinstance(s, str) and s and s == s.strip() for s in out)
    assert len(set(out)) == len(out)


def test_repeated_cells_are_parsed_once_but_counted_per_cell() -> None:
    cells = ['["a", "a"]', "nope", '["a", "a"]', None, "nope", '["b"]', '["b"]', ["c", 1]]
    stats = JsonListStats()
    parsed = parse_json_lists(cells, stats)
    assert parsed == (("a",), (), ("a",), (), (), ("b",), ("b",), ("c",))
    assert (stats.cells, stats.duplicate, stats.malformed, stats.blank) == (8, 2, 2, 1)
    assert stats.non_string == 1
