"""The format of an event-stream entry, its validation, and the insert that archives it.

An entry (:class:`~pitchrec.domain.activity.ArchiveRow`, written by the producers) becomes
an ``activity_log`` row through :func:`decode_entry`, which checks every value against its
column: a row the database would refuse, truncate or default raises
:class:`MalformedEntryError` instead, and the archivers dead-letter it.
:func:`idempotent_insert` is the ``INSERT IGNORE`` / ``INSERT OR IGNORE`` statement, keyed
on the UNIQUE ``event_id``, that both archivers insert the rows with (:mod:`.archiver` for
the Redis stream, :mod:`.embedded` for the in-process queue).

For the dead letters of :mod:`.archiver`: :data:`ENTRY_GONE` is the error of an entry
deleted from the stream before it was archived, and :func:`raw_bytes` recovers the bytes
of a field decoded with ``surrogateescape``, so it is dead-lettered as it arrived.
"""

from __future__ import annotations

from dataclasses import fields as dataclass_fields
from datetime import datetime
from typing import Any, Final

from sqlalchemy import Engine, Insert, String, insert

from pitchrec.domain.activity import ArchiveRow
from pitchrec.sources.schema import activity_log

_BIGINT_MIN, _BIGINT_MAX = -(2**63), 2**63 - 1
_TEXT_MAX_BYTES: Final = 65_535  # MySQL TEXT
#: The error of an entry deleted from the stream before it was archived (read as no fields).
ENTRY_GONE: Final = "entry is gone from the stream (trimmed or deleted before archival)"
_ROW_FIELDS: Final = tuple(f.name for f in dataclass_fields(ArchiveRow))
#: VARCHAR length of each string column; None for TEXT.
_LENGTHS: Final = {
    c.name: c.type.length if isinstance(c.type, String) else None for c in activity_log.columns
}


class MalformedEntryError(ValueError):
    """A stream entry that cannot become an ``activity_log`` row."""


def _check_text(name: str, value: object, *, nullable: bool) -> None:
    if value is None and nullable:
        return
    if not isinstance(value, str):
        raise MalformedEntryError(f"{name} is not a string")
    try:
        size = len(value.encode("utf-8"))
    except UnicodeEncodeError as exc:  # lone surrogates, e.g. undecodable bytes
        raise MalformedEntryError(f"{name} is not valid UTF-8") from exc
    length = _LENGTHS[name]
    if length is not None and len(value) > length:
        raise MalformedEntryError(f"{name} is longer than {length} characters")
    if length is None and size > _TEXT_MAX_BYTES:
        raise MalformedEntryError(f"{name} is longer than {_TEXT_MAX_BYTES} bytes")


def _check_id(name: str, value: object) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedEntryError(f"{name} is not an integer")
    if not _BIGINT_MIN <= value <= _BIGINT_MAX:
        raise MalformedEntryError(f"{name} is out of the BIGINT range")


def decode_entry(fields: dict[str, str]) -> dict[str, Any]:
    """The ``activity_log`` row of one stream entry; :class:`MalformedEntryError` if it has none.

    Beyond :meth:`ArchiveRow.from_fields`, every value is checked against its column, so a
    row that would be refused (or, under ``INSERT IGNORE``, silently truncated or defaulted)
    is dead-lettered instead. In particular an ``event_id`` longer than the column would be
    truncated, and one with a trailing space compared equal to the same id without it: either
    could be taken for another event's id and dropped as a duplicate.
    """
    if not fields:
        raise MalformedEntryError(ENTRY_GONE)
    try:
        row = ArchiveRow.from_fields(fields)
    except (ValueError, KeyError, TypeError) as exc:
        raise MalformedEntryError(f"not an archive row: {exc!r}") from exc
    values = {name: getattr(row, name) for name in _ROW_FIELDS}  # not asdict: no deep copy
    if not values["event_id"]:
        raise MalformedEntryError("event_id is empty")
    if isinstance(values["event_id"], str) and values["event_id"].endswith(" "):
        # MySQL's PAD SPACE collations compare "a " equal to "a": it would be a duplicate.
        raise MalformedEntryError("event_id ends with a space")
    for name in ("event_id", "log_name", "description", "properties", "url"):
        _check_text(name, values[name], nullable=False)
    for name in ("subject_type", "causer_type"):
        _check_text(name, values[name], nullable=True)
    for name in ("subject_id", "causer_id"):
        _check_id(name, values[name])
    created = _created_at(row)
    del values["created_at"]
    return {**values, "created_at": created, "updated_at": created}


def _created_at(row: ArchiveRow) -> datetime:
    """The row's ``created_at`` as a DATETIME value; :class:`MalformedEntryError` if none."""
    if not isinstance(row.created_at, str):
        raise MalformedEntryError("created_at is not a string")
    try:
        created = row.created_datetime()
    except ValueError as exc:
        raise MalformedEntryError(f"created_at is not an ISO-8601 date-time: {exc}") from exc
    if created.year < 1000:  # MySQL DATETIME starts at 1000-01-01
        raise MalformedEntryError("created_at is before year 1000")
    return created


def raw_bytes(text: str) -> bytes:
    """The bytes a surrogateescape-decoded string came from."""
    return text.encode("utf-8", "surrogateescape")


def idempotent_insert(engine: Engine) -> Insert:
    """``INSERT IGNORE`` / ``INSERT OR IGNORE`` into ``activity_log`` for ``engine``."""
    name = engine.dialect.name
    if name in ("mysql", "mariadb"):
        return insert(activity_log).prefix_with("IGNORE")
    if name == "sqlite":
        return insert(activity_log).prefix_with("OR IGNORE")
    raise ValueError(f"no idempotent insert for the {name!r} dialect")
