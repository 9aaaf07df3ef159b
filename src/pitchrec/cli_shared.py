"""What every ``pitchrec`` command shares: the ``--database-url`` option, the default
database, the error console, and the one-line ending of the errors pitchrec raises.

The lab's commands (:mod:`pitchrec.lab.cli`) use these too, through :mod:`pitchrec.cli`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy.engine import URL

from pitchrec.errors import PitchrecError
from pitchrec.settings import Settings

#: Messages and progress: stdout is kept for machine-readable output (JSON).
err = Console(stderr=True)

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy URL (sqlite:///file.db or mysql://user@host/db). Default (preferred "
        "for a URL with a password, which ps shows to every local user): "
        "PITCHREC_DATABASE_URL or PITCHREC_DATABASE_URL_FILE, then the legacy MYSQL_* "
        "variables, then the demo SQLite file.",
        show_default=False,
    ),
]


@contextmanager
def friendly_errors() -> Iterator[None]:
    """End the command with a one-line message and exit code 2 on a :class:`PitchrecError`."""
    try:
        yield
    except PitchrecError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc


def database_or_default(url: str | None) -> str | URL:
    """``url`` when given, else the database the settings resolve (environment, legacy
    ``MYSQL_*`` variables, then the demo SQLite file)."""
    return url if url else Settings().resolved_database_url()
