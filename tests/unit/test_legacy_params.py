"""Legacy body parsing (spec 3.2-3.5) and its fixes (D-C8, D-C9, D-C22, D-S4)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pitchrec.domain.feed import FeedKind
from pitchrec.errors import InvalidRequestError
from pitchrec.legacy.params import (
    TooManyIdsError,
    parse_exclusions,
    parse_id_csv,
    parse_legacy_body,
    parse_user,
)

T, D, F = FeedKind.TOTAL, FeedKind.DISCOVER, FeedKind.FLOW


def parse(kind: FeedKind, body: object, limit: int = 10_000):  # type: ignore[no-untyped-def]
    return parse_legacy_body(kind, body, max_exclusions=limit)


def test_user_aliases_and_flow_precedence() -> None:
    assert parse(T, {"SELF_ID": 1, "user_id": 2}).user_id == 1
    assert parse(D, {"SELF_ID": 1, "user_id": 2}).user_id == 1
    assert parse(F, {"SELF_ID": 1, "user_id": 2}).user_id == 2  # reversed on /flow
    assert parse(T, {}).user_id is None
    assert parse(T, {}).tracked_user == 0  # legacy default 0 for tracking
    assert parse(T, {"SELF_ID": "x" * 1000}).tracked_user == 0  # never the raw value
    assert parse(T, {"SELF_ID": "7"}).tracked_user == 7


def test_null_alias_no_longer_hides_the_next() -> None:
    """D-C9: presence of a null key used to hide the following alias."""
    assert parse(T, {"SELF_ID": None, "user_id": 7}).user_id == 7
    assert parse(T, {"excluded_ids": None, "LAST_IDS": [4]}).exclude == {4}
    assert parse(T, {"excluded_ids": [], "LAST_IDS": "5"}).exclude == {5}


def test_every_exclusion_alias_on_every_route() -> None:
    for kind in FeedKind:
        for alias in ("excluded_ids", "LAST_IDS", "videos_excluidos"):
            assert parse(kind, {alias: [1, "2"]}).exclude == {1, 2}


def test_user_id_coercion() -> None:
    """D-C22: digit strings are ids; everything else is anonymous."""
    assert parse_user("42") == 42
    assert parse_user(" 42 ") == 42
    assert parse_user(42.0) == 42
    for value in ("abc", "-3", -3, None, True, 4.5, [], {}, 2**70, "9" * 20, "7" * 100_000):
        assert parse_user(value) is None
    assert parse_user("0" * 30 + "42") == 42
    assert parse_user(str(2**63 - 1)) == 2**63 - 1


def test_exclusion_string_and_list_rules() -> None:
    assert parse_exclusions("LAST_IDS", "1, 2,x,-3, 4 ", 100) == {1, 2, 4}
    assert parse_exclusions("LAST_IDS", [1, "2", True, 3.5, None, {"a": 1}], 100) == {1, 2}
    assert parse_exclusions("LAST_IDS", 17, 100) == frozenset()
    with pytest.raises(InvalidRequestError) as error:
        parse_exclusions("LAST_IDS", [1, "abc"], 100)
    assert error.value.field == "LAST_IDS[1]"
    with pytest.raises(TooManyIdsError):
        parse_exclusions("excluded_ids", list(range(11)), 10)
    with pytest.raises(TooManyIdsError):
        parse_exclusions("excluded_ids", ",".join(map(str, range(11))), 10)


def test_digit_strings_too_long_for_int_are_no_ids() -> None:
    """CPython's int() refuses over 4,300 digits (a ValueError, once a 500): such ids are
    measured first and treated like any out-of-range id."""
    long = "7" * 100_000
    assert parse_exclusions("LAST_IDS", f"1,{long},2", 100) == {1, 2}
    assert parse_exclusions("LAST_IDS", ["1", long, "-" + long, "0" * 40 + "3"], 100) == {1, 3}
    with pytest.raises(InvalidRequestError, match="not a non-negative integer"):
        parse_id_csv("exclude", f"1,{long}", 10)
    assert parse_id_csv("exclude", "0" * 40 + "5", 10) == {5}
    assert parse(D, {"MAX_SIZE": long}).size == 100
    assert parse(D, {"MAX_SIZE": "-" + long}).size == 100
    assert parse(D, {"MAX_SIZE": "-" + "9" * 23}).size == 100  # orjson: 64-bit ints only
    assert parse(D, {"MAX_SIZE": "-5"}).size == -5  # spec 3.2: min(value, 100)


def test_body_must_be_an_object_and_size_never_fails() -> None:
    with pytest.raises(InvalidRequestError) as error:
        parse(T, [1, 2])
    assert error.value.field == "body"
    assert parse(T, None).exclude == frozenset()
    assert parse(D, {"MAX_SIZE": "abc"}).size is None  # ignored instead of a 500 (D-C8)
    assert parse(D, {"size": 500}).size == 100
    assert parse(D, {}).size == 20 and parse(F, {}).size == 18


def test_session_id_only_when_a_non_empty_string() -> None:
    assert parse(T, {"session_id": "abc"}).session_id == "abc"
    assert parse(T, {"session_id": 5}).session_id is None


def test_strict_csv_for_v1_and_cli() -> None:
    assert parse_id_csv("exclude", " 1,2,,3 ", 10) == {1, 2, 3}
    with pytest.raises(InvalidRequestError, match="not a non-negative integer"):
        parse_id_csv("exclude", "1,-2", 10)
    with pytest.raises(TooManyIdsError):
        parse_id_csv("exclude", "1,2,3", 2)


@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(
                st.sampled_from(
                    [
                        "SELF_ID",
                        "user_id",
                        "LAST_IDS",
                        "excluded_ids",
                        "videos_excluidos",
                        "size",
                        "MAX_SIZE",
                        "session_id",
                    ]
                ),
                children,
                max_size=5,
            )
        ),
        max_leaves=12,
    )
)
def test_any_json_value_parses_or_raises_a_field_error(body: object) -> None:
    for kind in FeedKind:
        try:
            params = parse(kind, body, limit=50)
        except InvalidRequestError as error:
            assert error.field
        else:
            assert params.user_id is None or params.user_id >= 0
            assert all(isinstance(i, int) for i in params.exclude)
