"""JSON-list text cells (``skills``, ``tools``, ...) parsed into tuples of strings.

The legacy engine parsed these cells with a bare ``json.loads`` and turned anything odd
(non-JSON text, a non-list value, a list holding a dict) into an empty set, silently, and
kept only the first 5/3/3/3 elements (D-C21). Here:

* NULL, blank, malformed or non-list cells give ``()``, and are counted;
* non-string elements (numbers, dicts, nested lists, null) are dropped **one by one**, so
  ``["Python", {"x": 1}]`` keeps ``"Python"``;
* strings are trimmed and NFC-normalised (so a composed and a decomposed "Diseño" are the
  same skill), empty strings are dropped;
* duplicates are removed keeping the first occurrence, so order is preserved;
* nothing is truncated: how many elements a feature uses is the index builder's choice.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, fields


@dataclass
class JsonListStats:
    """What parsing a column of cells met; every field is a count."""

    cells: int = 0  # cells seen
    blank: int = 0  # NULL or whitespace-only cells: no list, not an error
    malformed: int = 0  # text that is not JSON
    not_list: int = 0  # valid JSON whose value is not a list
    non_string: int = 0  # elements dropped because they are not strings
    empty_string: int = 0  # string elements dropped because blank after trimming
    duplicate: int = 0  # string elements dropped as repeats of an earlier one

    def add(self, other: JsonListStats, times: int = 1) -> None:
        """Add ``times`` x the counts of ``other``."""
        for f in fields(self):
            setattr(self, f.name, getattr(self, f.name) + times * getattr(other, f.name))

    def skipped(self) -> dict[str, int]:
        """The non-zero counts of things dropped, by reason (``cells`` and ``blank`` aside)."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if f.name not in ("cells", "blank") and getattr(self, f.name)
        }


def _clean(text: str) -> str:
    text = text.strip()
    return text if text.isascii() else unicodedata.normalize("NFC", text)


def clean_elements(values: Iterable[object], stats: JsonListStats | None = None) -> tuple[str, ...]:
    """The string elements of ``values``: trimmed, non-empty, first occurrences, in order."""
    stats = stats if stats is not None else JsonListStats()
    out: dict[str, None] = {}  # an insertion-ordered set
    for value in values:
        if not isinstance(value, str):
            stats.non_string += 1
            continue
        text = _clean(value)
        if not text:
            stats.empty_string += 1
        elif text in out:
            stats.duplicate += 1
        else:
            out[text] = None
    return tuple(out)


def parse_json_list(cell: object, stats: JsonListStats | None = None) -> tuple[str, ...]:
    """Parse one cell: JSON text of a list (or an already decoded list) -> strings.

    ``stats``, when given, is updated with what was met. Never raises.
    """
    stats = stats if stats is not None else JsonListStats()
    stats.cells += 1
    if cell is None:
        stats.blank += 1
        return ()
    value: object
    if isinstance(cell, list | tuple):  # a driver that decodes JSON columns itself
        value = cell
    else:
        if isinstance(cell, bytes | bytearray):
            try:
                cell = bytes(cell).decode("utf-8")
            except UnicodeDecodeError:
                stats.malformed += 1
                return ()
        if not isinstance(cell, str):
            stats.not_list += 1
            return ()
        if not cell.strip():
            stats.blank += 1
            return ()
        try:
            value = json.loads(cell)
        except (ValueError, RecursionError):
            stats.malformed += 1
            return ()
    if not isinstance(value, list | tuple):
        stats.not_list += 1
        return ()
    return clean_elements(value, stats)


_CellKey = str | bytes | None


def parse_json_lists(
    cells: Iterable[object], stats: JsonListStats | None = None
) -> tuple[tuple[str, ...], ...]:
    """:func:`parse_json_list` over a column of cells. Each distinct text is parsed once
    (half of the profile cells of the scale-1 world repeat an earlier one); the counts in
    ``stats`` are still per cell."""
    stats = stats if stats is not None else JsonListStats()
    parsed: dict[_CellKey, tuple[str, ...]] = {}
    occurrences: dict[_CellKey, int] = {}
    findings: dict[_CellKey, JsonListStats] = {}  # distinct cells that count more than a cell
    plain = JsonListStats(cells=1)
    out: list[tuple[str, ...]] = []
    for cell in cells:
        if not isinstance(cell, str | bytes) and cell is not None:
            out.append(parse_json_list(cell, stats))  # a decoded list: not hashable
            continue
        known = parsed.get(cell)
        if known is None:
            own = JsonListStats()
            known = parsed[cell] = parse_json_list(cell, own)
            if own != plain:
                findings[cell] = own
        occurrences[cell] = occurrences.get(cell, 0) + 1
        out.append(known)
    for cell, times in occurrences.items():
        finding = findings.get(cell)
        if finding is None:
            stats.cells += times
        else:
            stats.add(finding, times)
    return tuple(out)
