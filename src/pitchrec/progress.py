"""Progress reporting for long work (seeding, loading, building, simulating).

Library code takes a :class:`Reporter` and calls ``with reporter.stage(name, total) as
advance: advance(n)``; the CLI passes a rich progress bar, tests and the server pass
:data:`SILENT`. Library code never prints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol

Advance = Callable[[int], None]


class Reporter(Protocol):
    def stage(self, name: str, total: int | None) -> AbstractContextManager[Advance]:
        """Open a stage of ``total`` units (None: unknown); yields a function to advance it."""
        ...


class _Silent:
    @contextmanager
    def stage(self, name: str, total: int | None) -> Iterator[Advance]:
        yield lambda _n: None


SILENT: Reporter = _Silent()


class RichReporter:
    """A rich progress bar per stage, on stderr so stdout stays machine-readable."""

    def __init__(self) -> None:
        from rich.console import Console

        self._console = Console(stderr=True)

    @contextmanager
    def stage(self, name: str, total: int | None) -> Iterator[Advance]:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        columns = (
            TextColumn("{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=self._console, transient=False) as bar:
            task = bar.add_task(name, total=total)

            def advance(n: int) -> None:
                bar.advance(task, n)

            yield advance
