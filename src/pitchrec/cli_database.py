"""The database and snapshot commands: ``db create``, ``migrate``, ``load``, ``build``.

Plain functions; :mod:`pitchrec.cli` registers them on the app. Machine-readable output
(JSON) goes to stdout; progress bars and messages go to stderr.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from pitchrec.cli_shared import DatabaseOption, database_or_default, err, friendly_errors
from pitchrec.progress import RichReporter


def db_create(database_url: DatabaseOption = None) -> None:
    """Create every table and index pitchrec uses (idempotent)."""
    from pitchrec.sources.database import create_schema, make_engine, redact

    with friendly_errors():
        url = database_or_default(database_url)
        engine = make_engine(url)
        create_schema(engine)
        engine.dispose()
        err.print(f"schema ready on {redact(url)}")


def load(
    database_url: DatabaseOption = None,
    blacklist: Annotated[Path | None, typer.Option(help="Blacklist file of media URLs.")] = None,
) -> None:
    """Read the eligible catalogue, histories and graph; print what was read and skipped."""
    from pitchrec.sources.blacklist import load_blacklist
    from pitchrec.sources.database import make_engine
    from pitchrec.sources.loaders import load_sources

    with friendly_errors():
        engine = make_engine(database_or_default(database_url))
        started = time.perf_counter()
        source = load_sources(engine, blacklist=load_blacklist(blacklist), reporter=RichReporter())
        elapsed = time.perf_counter() - started
        engine.dispose()
        report = source.report
        typer.echo(
            json.dumps(
                {
                    "seconds": round(elapsed, 3),
                    "resumes": len(source.resumes),
                    "challenges": len(source.challenges),
                    "interactions": len(source.interactions),
                    "connections": len(source.connections),
                    "rows": report.rows,
                    "skipped": report.skipped,
                    "query_seconds": {k: round(v, 3) for k, v in report.seconds.items()},
                },
                indent=2,
            )
        )


def build(
    out: Annotated[Path, typer.Option(help="Snapshot directory to write.")],
    database_url: DatabaseOption = None,
    blacklist: Annotated[Path | None, typer.Option(help="Blacklist file of media URLs.")] = None,
) -> None:
    """Load the database and write an immutable, memory-mappable snapshot directory."""
    from pitchrec.index.build import snapshot_from_database
    from pitchrec.index.snapshot import save

    with friendly_errors():
        started = time.perf_counter()
        snapshot = snapshot_from_database(
            database_or_default(database_url), blacklist_path=blacklist, reporter=RichReporter()
        )
        save(snapshot, out)
        err.print(
            f"snapshot {out}: {len(snapshot.resumes)} resumes, {len(snapshot.challenges)} "
            f"challenges, {snapshot.users.history_users.shape[0]} users with history, "
            f"in {time.perf_counter() - started:.2f} s"
        )


def migrate(database_url: DatabaseOption = None) -> None:
    """Bring an existing database up to date (adds activity_log.event_id); idempotent."""
    from pitchrec.sources.database import make_engine, redact
    from pitchrec.sources.migrations import migrate as apply_migrations

    with friendly_errors():
        url = database_or_default(database_url)
        engine = make_engine(url)
        steps = apply_migrations(engine)
        engine.dispose()
        err.print(f"{redact(url)}: " + ("; ".join(steps) if steps else "up to date"))
