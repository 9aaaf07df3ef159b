"""The ``pitchrec`` command line: db, seed, load, build, feed, demo.

Machine-readable output (JSON) goes to stdout; progress bars and messages go to stderr.
Errors pitchrec raises on purpose end the command with a one-line message and exit code 2.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from sqlalchemy.engine import URL

from pitchrec import __version__
from pitchrec.domain.feed import FeedKind, FeedRequest
from pitchrec.errors import ConfigurationError, PitchrecError
from pitchrec.progress import RichReporter
from pitchrec.settings import Settings

app = typer.Typer(
    name="pitchrec",
    help="A feed recommender for talent networks (TalentPitch-compatible).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold credentials
)
db_app = typer.Typer(help="Database schema commands.", no_args_is_help=True)
app.add_typer(db_app, name="db")
err = Console(stderr=True)

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy URL (sqlite:///file.db or mysql://user@host/db). Default: "
        "PITCHREC_DATABASE_URL, then the legacy MYSQL_* variables, then the demo SQLite file.",
        show_default=False,
    ),
]


@contextmanager
def _friendly_errors() -> Iterator[None]:
    try:
        yield
    except PitchrecError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc


def _database(url: str | None) -> str | URL:
    return url if url else Settings().resolved_database_url()


@app.callback(invoke_without_command=True)
def _main(
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
) -> None:
    if version:
        typer.echo(__version__)
        raise typer.Exit()


@db_app.command("create")
def db_create(database_url: DatabaseOption = None) -> None:
    """Create every table and index pitchrec uses (idempotent)."""
    from pitchrec.sources.database import create_schema, make_engine, redact

    with _friendly_errors():
        url = _database(database_url)
        engine = make_engine(url)
        create_schema(engine)
        engine.dispose()
        err.print(f"schema ready on {redact(url)}")


@app.command()
def seed(
    database_url: DatabaseOption = None,
    scale: Annotated[float, typer.Option(min=0.001, help="1.0 = production volumes.")] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed of the world.")] = 7,
    truth_out: Annotated[
        Path | None,
        typer.Option(help="Hidden ground truth (.npz). Default: beside a SQLite file, else var/."),
    ] = None,
    blacklist_out: Annotated[
        Path | None,
        typer.Option(help="Write the world's blacklisted URLs here. Default: beside the truth."),
    ] = None,
) -> None:
    """Create the schema and fill it with a deterministic synthetic world."""
    from pitchrec.sources.database import is_sqlite, make_engine, normalise_url, redact
    from pitchrec.sources.synthetic import generate_world, write_blacklist

    with _friendly_errors():
        url = _database(database_url)
        if truth_out is None:
            parsed = normalise_url(url)
            if is_sqlite(url) and parsed.database:
                truth_out = Path(parsed.database).with_suffix(".truth.npz")
            else:
                truth_out = Path("var") / f"truth-{parsed.database or 'world'}.npz"
        if blacklist_out is None:
            stem = truth_out.name.removesuffix(".npz").removesuffix(".truth")
            blacklist_out = truth_out.with_name(f"{stem}.blacklist.csv")
        engine = make_engine(url)
        started = time.perf_counter()
        summary = generate_world(
            engine, scale=scale, seed=seed, truth_path=truth_out, reporter=RichReporter()
        )
        engine.dispose()
        write_blacklist(blacklist_out, summary.blacklist)
        elapsed = time.perf_counter() - started
        err.print(f"seeded {redact(url)} at scale {scale} in {elapsed:.1f} s")
        err.print(f"ground truth: {truth_out}; blacklist: {blacklist_out}")
        typer.echo(json.dumps(_jsonable(summary), indent=2, default=str))


def _jsonable(value: Any) -> Any:
    from dataclasses import asdict, is_dataclass

    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    return value


@app.command()
def load(
    database_url: DatabaseOption = None,
    blacklist: Annotated[Path | None, typer.Option(help="Blacklist file of media URLs.")] = None,
) -> None:
    """Read the eligible catalogue, histories and graph; print what was read and skipped."""
    from pitchrec.sources.blacklist import load_blacklist
    from pitchrec.sources.database import make_engine
    from pitchrec.sources.loaders import load_sources

    with _friendly_errors():
        engine = make_engine(_database(database_url))
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


@app.command()
def build(
    out: Annotated[Path, typer.Option(help="Snapshot directory to write.")],
    database_url: DatabaseOption = None,
    blacklist: Annotated[Path | None, typer.Option(help="Blacklist file of media URLs.")] = None,
) -> None:
    """Load the database and write an immutable, memory-mappable snapshot directory."""
    from pitchrec.index.snapshot import save
    from pitchrec.service import snapshot_from_database

    with _friendly_errors():
        started = time.perf_counter()
        snapshot = snapshot_from_database(
            _database(database_url), blacklist_path=blacklist, reporter=RichReporter()
        )
        save(snapshot, out)
        err.print(
            f"snapshot {out}: {len(snapshot.resumes)} resumes, {len(snapshot.challenges)} "
            f"challenges, {snapshot.users.history_users.shape[0]} users with history, "
            f"in {time.perf_counter() - started:.2f} s"
        )


def parse_id_list(text: str) -> frozenset[int]:
    from pitchrec.api.legacy_params import parse_id_csv

    return parse_id_csv("exclude", text, limit=1_000_000)


@app.command()
def feed(
    database_url: DatabaseOption = None,
    snapshot: Annotated[
        Path | None, typer.Option(help="Serve from this snapshot instead of a database.")
    ] = None,
    kind: Annotated[FeedKind, typer.Option(help="Which feed.")] = FeedKind.TOTAL,
    user_id: Annotated[int | None, typer.Option(help="The viewer; omit for cold start.")] = None,
    exclude: Annotated[str, typer.Option(help="Comma-separated ids already shown.")] = "",
    seed: Annotated[int | None, typer.Option(help="Fix the request's randomness.")] = None,
    metrics: Annotated[bool, typer.Option(help="Also print the feed metrics to stderr.")] = False,
    blacklist: Annotated[Path | None, typer.Option(help="Blacklist file of media URLs.")] = None,
) -> None:
    """Print the legacy response envelope of one feed request as JSON."""
    from pitchrec.service import Recommender, snapshot_from_database

    with _friendly_errors():
        excluded = parse_id_list(exclude)
        if snapshot is not None:
            recommender = Recommender.from_snapshot_dir(snapshot)
        else:
            recommender = Recommender(
                snapshot_from_database(_database(database_url), blacklist_path=blacklist)
            )
        request = FeedRequest(kind=kind, user_id=user_id, exclude=excluded, seed=seed)
        result = recommender.feed(request)
        typer.echo(json.dumps(recommender.legacy_response(result), ensure_ascii=False, indent=2))
        if metrics:
            err.print_json(json.dumps({"seed": result.seed, "metrics": result.metrics}))


@app.command()
def demo(
    database_url: DatabaseOption = None,
    blacklist: Annotated[Path | None, typer.Option(help="Blacklist file of media URLs.")] = None,
) -> None:
    """The main job of ``make run``: a feed for the demo's most active user."""
    from pitchrec.service import Recommender, snapshot_from_database

    with _friendly_errors():
        started = time.perf_counter()
        recommender = Recommender(
            snapshot_from_database(
                _database(database_url), blacklist_path=blacklist, reporter=RichReporter()
            )
        )
        users = recommender.snapshot.users
        lengths = users.history.lengths()
        user_id = int(users.history_users[int(lengths.argmax())]) if lengths.size else None
        err.print(f"snapshot ready in {time.perf_counter() - started:.2f} s; user {user_id}:")
        result = recommender.feed(FeedRequest(kind=FeedKind.TOTAL, user_id=user_id))
        typer.echo(json.dumps(recommender.legacy_response(result), ensure_ascii=False, indent=2))
        summary = {
            k: result.metrics[k] for k in ("total_items", "unique_creators", "execution_time")
        }
        err.print(f"feed metrics: {summary}")


@app.command()
def serve(
    database_url: DatabaseOption = None,
    snapshot: Annotated[
        Path | None,
        typer.Option(
            help="Snapshot directory. Alone: serve it (and follow its updates). With a "
            "database: build it there, so all workers map the same files."
        ),
    ] = None,
    redis_url: Annotated[
        str | None, typer.Option(help="Redis for tracking and reload announcements.")
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    blacklist: Annotated[Path | None, typer.Option(help="Blacklist file of media URLs.")] = None,
) -> None:
    """Serve the legacy and v1 HTTP APIs (uvicorn). Secrets come from the environment:
    PITCHREC_ADMIN_TOKEN enables the reload routes."""
    import os

    import uvicorn

    from pitchrec.logs import configure_logging

    if database_url:
        os.environ["PITCHREC_DATABASE_URL"] = database_url
    if snapshot is not None:
        os.environ["PITCHREC_SNAPSHOT_DIR"] = str(snapshot)
        os.environ["PITCHREC_BUILD_FROM_DATABASE"] = "true" if database_url else "false"
    elif workers > 1:
        # Workers must share one mapped snapshot rather than build a copy each.
        os.environ["PITCHREC_SNAPSHOT_DIR"] = str(Path("var") / "snapshot")
        os.environ["PITCHREC_BUILD_FROM_DATABASE"] = "true"
    if redis_url:
        os.environ["PITCHREC_REDIS_URL"] = redis_url
    if blacklist is not None:
        os.environ["PITCHREC_BLACKLIST_PATH"] = str(blacklist)
    configure_logging()
    uvicorn.run(
        "pitchrec.api.app:create_app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_graceful_shutdown=20,
    )


@app.command()
def archive(
    database_url: DatabaseOption = None,
    redis_url: Annotated[
        str | None,
        typer.Option(help="Redis holding the event stream. Default: PITCHREC_REDIS_URL."),
    ] = None,
    consumer: Annotated[
        str | None, typer.Option(help="Consumer name in the group. Default: host-pid.")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000)] = 500,
) -> None:
    """Archive tracked events from Redis into activity_log, exactly once (applies the
    event_id migration first). Runs until SIGTERM."""
    from pitchrec.logs import configure_logging
    from pitchrec.tracking.archive_main import run_archiver

    with _friendly_errors():
        settings = Settings()
        redis = redis_url or (
            settings.redis_url.get_secret_value() if settings.redis_url is not None else None
        )
        if not redis:
            raise ConfigurationError("pitchrec archive needs --redis-url or PITCHREC_REDIS_URL")
        configure_logging()
        url = _database(database_url)
        url_text = url if isinstance(url, str) else url.render_as_string(hide_password=False)
        run_archiver(url_text, redis, consumer, batch_size)


@app.command()
def migrate(database_url: DatabaseOption = None) -> None:
    """Bring an existing database up to date (adds activity_log.event_id); idempotent."""
    from pitchrec.sources.database import make_engine, redact
    from pitchrec.sources.migrations import migrate as apply_migrations

    with _friendly_errors():
        url = _database(database_url)
        engine = make_engine(url)
        steps = apply_migrations(engine)
        engine.dispose()
        err.print(f"{redact(url)}: " + ("; ".join(steps) if steps else "up to date"))


def _register_evaluation() -> None:
    """``pitchrec simulate`` and ``pitchrec evaluate`` (options: pitchrec.eval.cli_options)."""
    from pitchrec.eval.cli_entry import evaluate, simulate

    app.command("simulate")(simulate)
    app.command("evaluate")(evaluate)


_register_evaluation()


def main() -> None:  # pragma: no cover - console entry point
    sys.exit(app())
