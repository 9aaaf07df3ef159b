"""Reader for the Open Bandit Dataset CSV format.

Format (Open Bandit Pipeline 0.4, ``obd/<behavior policy>/<campaign>/``):

* ``<campaign>.csv``: an unnamed index column, ``timestamp``, ``item_id`` (the action),
  ``position`` (1-based slot), ``click`` (the reward), ``propensity_score`` (the behaviour
  policy's probability of the item), ``user_feature_0..3`` (hashed categories) and
  ``user-item_affinity_<k>`` for every item k;
* ``item_context.csv``: ``item_id`` and ``item_feature_0..3`` (one numeric, three hashed).

Each row is one logged round. Contexts are the one-hot user categories followed by the
affinity columns (the usual OBP encoding).

A folder or file that cannot be read as such a log (no campaign CSV, an unknown campaign,
a header without rows, a missing column, an empty or malformed cell, a propensity outside
(0, 1], a click outside [0, 1]) raises :class:`OffPolicyInputError` (a
:class:`~pitchrec.errors.PitchrecError`) naming the file, the line and the column.
:mod:`pitchrec.lab.offpolicy.obd` evaluates policies on such a log and re-exports
:func:`load_obd`.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import numpy as np
from numpy.typing import NDArray

from pitchrec.lab.offpolicy.estimators import LoggedFeedback, OffPolicyInputError

Floats = NDArray[np.float64]
ITEM_CONTEXT = "item_context.csv"
CLICK_RANGE = (0.0, 1.0)  # a click is 0 or 1: every policy's click rate lies in [0, 1]
_REQUIRED = ("timestamp", "item_id", "position", "click", "propensity_score")


@dataclass(frozen=True)
class ObdLog:
    """One campaign's log: the bandit feedback, its timestamps (n,) and the item count."""

    campaign: str
    data: LoggedFeedback
    timestamps: list[str]
    user_feature_levels: int


def _campaign_file(directory: Path, campaign: str | None) -> Path:
    """The campaign CSV of ``directory``: ``<campaign>.csv``, else its only non-item CSV."""
    if not directory.is_dir():
        raise OffPolicyInputError(f"{directory} is not a directory")
    found = sorted(p for p in directory.glob("*.csv") if p.name != ITEM_CONTEXT)
    names = ", ".join(p.stem for p in found) or "none"
    if campaign is not None:
        path = directory / f"{campaign}.csv"
        if Path(campaign).name != campaign or path not in found:
            raise OffPolicyInputError(
                f"no campaign {campaign!r} in {directory} (no {path.name}); campaigns there: "
                f"{names}"
            )
        return path
    if not found:
        raise OffPolicyInputError(
            f"no campaign CSV in {directory} (expected <campaign>.csv beside {ITEM_CONTEXT})"
        )
    if len(found) > 1:
        raise OffPolicyInputError(
            f"{len(found)} campaign CSVs in {directory} ({names}): choose one (--campaign)"
        )
    return found[0]


@dataclass(frozen=True)
class _Table:
    """A campaign CSV read as text: its header, rows and each row's line in the file."""

    path: Path
    header: list[str]
    rows: list[list[str]]
    lines: list[int]

    def column(self, name: str) -> list[str]:
        j = self.header.index(name)
        return [row[j] for row in self.rows]

    def numbers(self, name: str, *, integer: bool = False) -> Floats:
        """Column ``name`` as finite numbers (n,); an empty or malformed cell is named."""
        out = np.empty(len(self.rows))
        for i, cell in enumerate(self.column(name)):
            try:
                out[i] = int(cell) if integer else float(cell)
            except ValueError:
                self.fail(i, name, "an empty cell" if not cell.strip() else f"{cell!r}")
            if not np.isfinite(out[i]):
                self.fail(i, name, f"{cell!r}")
        return out

    def fail(self, i: int, name: str, what: str, expected: str = "a number") -> NoReturn:
        raise OffPolicyInputError(
            f"{self.path}, line {self.lines[i]}, column {name!r}: {what}, expected {expected}"
        )

    def check(self, name: str, values: Floats, ok: NDArray[np.bool_], expected: str) -> None:
        """Refuse the first row of ``values`` (n,) where ``ok`` (n,) is False."""
        bad = np.flatnonzero(~ok)
        if bad.size:
            self.fail(int(bad[0]), name, f"{values[bad[0]]:g}", expected)


def _read_table(path: Path) -> _Table:
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            header = next(reader, None)
            rows, lines = [], []
            for row in reader:
                if row:
                    rows.append(row)
                    lines.append(reader.line_num)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise OffPolicyInputError(f"cannot read {path}: {exc}") from exc
    if header is None:
        raise OffPolicyInputError(f"{path} is empty (no header, no data rows)")
    missing = [name for name in _REQUIRED if name not in header]
    if missing:
        raise OffPolicyInputError(f"{path} lacks columns {missing}")
    if not rows:
        raise OffPolicyInputError(f"{path} has a header but no data rows")
    for row, line in zip(rows, lines, strict=True):
        if len(row) != len(header):
            raise OffPolicyInputError(
                f"{path}, line {line}: {len(row)} cells, the header has {len(header)}"
            )
    return _Table(path, header, rows, lines)


def _contexts(table: _Table) -> tuple[Floats, int, int]:
    """One-hot user categories and affinities (n, d), the category count, the item count
    implied by the affinity columns."""
    users = sorted(c for c in table.header if c.startswith("user_feature_"))
    affinity = sorted(
        (c for c in table.header if c.startswith("user-item_affinity_")),
        key=lambda c: int(c.rsplit("_", 1)[1]) if c.rsplit("_", 1)[1].isdigit() else -1,
    )
    n = len(table.rows)
    blocks: list[Floats] = []
    levels = 0
    for name in users:
        values = table.column(name)
        vocabulary = {v: i for i, v in enumerate(sorted(set(values)))}
        onehot = np.zeros((n, len(vocabulary)))
        onehot[np.arange(n), [vocabulary[v] for v in values]] = 1.0
        blocks.append(onehot)
        levels += len(vocabulary)
    blocks.extend(table.numbers(name)[:, None] for name in affinity)
    contexts = np.hstack(blocks) if blocks else np.zeros((n, 0))
    return contexts, levels, len(affinity)


def load_obd(directory: Path, campaign: str | None = None) -> ObdLog:
    """Read the campaign CSV of ``directory`` (the only non-item CSV unless ``campaign``).

    Raises :class:`OffPolicyInputError` naming the file, line and column of the first
    problem.
    """
    table = _read_table(_campaign_file(Path(directory), campaign))
    items = table.numbers("item_id", integer=True)
    table.check("item_id", items, items >= 0, "an item id >= 0")
    positions = table.numbers("position", integer=True)
    table.check("position", positions, positions >= 1, "a 1-based position")
    clicks = table.numbers("click")
    table.check("click", clicks, (clicks >= 0) & (clicks <= 1), "a click in [0, 1]")
    pscore = table.numbers("propensity_score")
    table.check("propensity_score", pscore, (pscore > 0) & (pscore <= 1), "a value in (0, 1]")
    contexts, levels, n_affinity = _contexts(table)
    actions = items.astype(np.int64)
    data = LoggedFeedback(
        contexts=contexts,
        actions=actions,
        rewards=clicks,
        propensities=pscore,
        n_actions=max(int(actions.max()) + 1, n_affinity),
        positions=positions.astype(np.int64) - 1,
        reward_range=CLICK_RANGE,
    )
    return ObdLog(table.path.stem, data, table.column("timestamp"), levels)
