"""Parsing of the legacy request bodies (spec 3.2-3.5), without the 500s.

Kept: the aliases and their per-endpoint precedence (``/flow`` reads ``user_id`` before
``SELF_ID``), exclusions as a JSON list or a comma-separated string, ``size`` capped at
100 and otherwise ignored by the legacy feeds.

Fixed:

* every alias is accepted on every route (D-C9: ``excluded_ids`` was read only by
  ``/total``), and a present alias whose value is null or empty no longer hides the next;
* a numeric string user id is a user id (D-C22: ``"7"`` lost personalisation); anything
  else that is not a non-negative integer means an anonymous, cold-start request;
* a non-numeric id inside an exclusion list, or a body that is not a JSON object, is a
  422 naming the field instead of a 500 (D-S4); more than ``max_exclusions`` ids is a 413;
* an unusable ``size`` is ignored (it never changed the feed) instead of a 500 (D-C8);
* digit strings are measured before ``int()``: CPython refuses to convert more than 4,300
  digits (a ``ValueError``, so a 100,000-digit ``SELF_ID`` was a 500). An id of more digits
  than the largest BIGINT is no id: an anonymous user, a dropped exclusion, a 422 in the
  strict v1 list, a capped ``size`` (the legacy used the user as given, so it served
  those bodies a cold-start feed, and so do we).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pitchrec.domain.feed import FeedKind
from pitchrec.errors import InvalidRequestError
from pitchrec.legacy.events import COLD_START_USER

SIZE_CAP = 100  # spec 3.2: min(value, 100)
MAX_ID = 2**63 - 1  # activity_log.causer_id and the id columns are signed BIGINT
#: Digits of MAX_ID (19): a longer digit string (leading zeros aside) is out of range, and
#: is never handed to ``int()``, which refuses strings over 4,300 digits.
MAX_ID_DIGITS = len(str(MAX_ID))
#: A size whose magnitude reaches this is recorded as SIZE_CAP: the tracked ``size`` must
#: stay inside the 64-bit integers orjson serialises (a larger one raised a TypeError).
SIZE_BOUND = 2**62

USER_ALIASES = {
    FeedKind.TOTAL: ("SELF_ID", "user_id"),
    FeedKind.DISCOVER: ("SELF_ID", "user_id"),
    FeedKind.FLOW: ("user_id", "SELF_ID"),
}
EXCLUSION_ALIASES = {
    FeedKind.TOTAL: ("excluded_ids", "LAST_IDS", "videos_excluidos"),
    FeedKind.DISCOVER: ("LAST_IDS", "videos_excluidos", "excluded_ids"),
    FeedKind.FLOW: ("videos_excluidos", "LAST_IDS", "excluded_ids"),
}
SIZE_ALIASES = {
    FeedKind.TOTAL: ("MAX_SIZE", "size"),
    FeedKind.DISCOVER: ("MAX_SIZE", "size"),
    FeedKind.FLOW: ("size", "MAX_SIZE"),
}
#: Spec 3.4 / 3.5: the size recorded when none is given.
DEFAULT_SIZES = {FeedKind.TOTAL: None, FeedKind.DISCOVER: 20, FeedKind.FLOW: 18}


class TooManyIdsError(InvalidRequestError):
    """More exclusion ids than the configured cap (answered 413)."""


@dataclass(frozen=True)
class LegacyParams:
    user_id: int | None  # None: anonymous / cold start
    exclude: frozenset[int]
    size: int | None
    session_id: str | None

    @property
    def tracked_user(self) -> int:
        """The user written to tracking: the parsed id, or :data:`COLD_START_USER`. Never
        the value as received (a client-chosen string went into Redis keys verbatim)."""
        return COLD_START_USER if self.user_id is None else self.user_id


def is_decimal(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts '²' and other digits ``int`` refuses."""
    return text.isascii() and text.isdigit()


def is_signed_decimal(text: str) -> bool:
    return is_decimal(text.removeprefix("-"))


def bounded_int(text: str) -> int | None:
    """The integer of an optionally signed ASCII digit string whose magnitude fits a
    BIGINT (:data:`MAX_ID`); None for anything else, without converting long strings."""
    digits = text.removeprefix("-")
    if not is_decimal(digits):
        return None
    significant = digits.lstrip("0") or "0"
    if len(significant) > MAX_ID_DIGITS:
        return None
    value = int(significant)
    if value > MAX_ID:
        return None
    return -value if text.startswith("-") else value


def _first(body: Mapping[str, object], aliases: tuple[str, ...]) -> tuple[str, object]:
    """The first alias with a usable value (not null, not '' or []); else the first name."""
    for alias in aliases:
        value = body.get(alias)
        if value is not None and value != "" and value != []:
            return alias, value
    return aliases[0], None


def parse_user(value: object) -> int | None:
    """A non-negative integer id, from an int, an integral float or a digit string."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= MAX_ID else None
    if isinstance(value, float) and value.is_integer():
        return parse_user(int(value))
    if isinstance(value, str) and is_decimal(value.strip()):
        return bounded_int(value.strip())
    return None


def parse_exclusions(field: str, value: object, limit: int) -> frozenset[int]:
    """Spec 3.2 exclusion parsing, with the fixes in the module docstring."""
    ids: list[int] = []
    if isinstance(value, str):
        tokens = value.split(",")
        if len(tokens) > limit:
            raise TooManyIdsError(field, f"at most {limit} ids are accepted")
        parsed = (bounded_int(t.strip()) for t in tokens if is_decimal(t.strip()))
        ids = [i for i in parsed if i is not None]
    elif isinstance(value, list):
        if len(value) > limit:
            raise TooManyIdsError(field, f"at most {limit} ids are accepted")
        for position, element in enumerate(value):
            if isinstance(element, bool | int):
                ids.append(int(element))
            elif isinstance(element, str):
                token = element.strip()
                if not is_signed_decimal(token):
                    raise InvalidRequestError(
                        f"{field}[{position}]", f"{element[:40]!r} is not an integer id"
                    )
                number = bounded_int(token)
                if number is not None:  # out of range: dropped, like out-of-range ints
                    ids.append(number)
            # Floats and other types are dropped, as the legacy did.
    return frozenset(i for i in ids if -MAX_ID <= i <= MAX_ID)


def parse_id_csv(field: str, text: str, limit: int) -> frozenset[int]:
    """``"1, 2,3"`` -> {1, 2, 3} for the v1 API and the CLI: strict, every token must be a
    non-negative integer id."""
    tokens = [t.strip() for t in text.split(",") if t.strip()]
    if len(tokens) > limit:
        raise TooManyIdsError(field, f"at most {limit} ids are accepted")
    ids: set[int] = set()
    for token in tokens:
        number = bounded_int(token) if is_decimal(token) else None
        if number is None:
            raise InvalidRequestError(field, f"{token[:40]!r} is not a non-negative integer id")
        ids.add(number)
    return frozenset(ids)


def parse_size(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float) and value == value:  # not NaN
        return int(min(value, SIZE_CAP)) if abs(value) < SIZE_BOUND else SIZE_CAP
    if isinstance(value, str) and is_signed_decimal(value.strip()):
        number = bounded_int(value.strip())
        # Out of range (or more digits than int() converts): capped, as numbers are.
        return SIZE_CAP if number is None or abs(number) >= SIZE_BOUND else min(number, SIZE_CAP)
    return None


def parse_legacy_body(kind: FeedKind, body: object, *, max_exclusions: int) -> LegacyParams:
    """The feed parameters of a legacy request body (a decoded JSON value)."""
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise InvalidRequestError("body", "must be a JSON object")
    _, raw_user = _first(body, USER_ALIASES[kind])
    exclusion_field, exclusions = _first(body, EXCLUSION_ALIASES[kind])
    _, size = _first(body, SIZE_ALIASES[kind])
    session = body.get("session_id")
    return LegacyParams(
        user_id=parse_user(raw_user),
        exclude=parse_exclusions(exclusion_field, exclusions, max_exclusions),
        size=parse_size(size) if size is not None else DEFAULT_SIZES[kind],
        session_id=session if isinstance(session, str) and session else None,
    )
