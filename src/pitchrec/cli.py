"""The ``pitchrec`` command line: db, seed, load, build, feed, demo.

Machine-readable output (JSON) goes to stdout; progress bars and messages go to stderr.
Errors pitchrec raises on purpose end the command with a one-line message and exit code 2.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import parse_qs, urlsplit

import typer
from rich.console import Console
from sqlalchemy.engine import URL
from typer.core import TyperGroup

from pitchrec import __version__
from pitchrec.domain.feed import FeedKind, FeedRequest
from pitchrec.errors import ConfigurationError, PitchrecError
from pitchrec.progress import RichReporter
from pitchrec.settings import Settings

if TYPE_CHECKING:
    from pitchrec.index.snapshot import Snapshot
    from pitchrec.recommender import Recommender

#: Commands of the lab (:mod:`pitchrec.lab.cli`), loaded only when one of them runs (or
#: help lists them), so ``serve`` never imports the simulator or matplotlib.
LAB_COMMANDS = ("seed", "simulate", "evaluate")
LAB_MODULE = "pitchrec.lab.cli"


class _CommandsWithLab(TyperGroup):
    """The product commands, plus the lab's, imported on first use."""

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *LAB_COMMANDS]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in LAB_COMMANDS:
            lab = importlib.import_module(LAB_MODULE)
            return typer.main.get_group(lab.app).get_command(ctx, cmd_name)
        return super().get_command(ctx, cmd_name)


app = typer.Typer(
    cls=_CommandsWithLab,
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
        help="SQLAlchemy URL (sqlite:///file.db or mysql://user@host/db). Default (preferred "
        "for a URL with a password, which ps shows to every local user): "
        "PITCHREC_DATABASE_URL or PITCHREC_DATABASE_URL_FILE, then the legacy MYSQL_* "
        "variables, then the demo SQLite file.",
        show_default=False,
    ),
]


@contextmanager
def friendly_errors() -> Iterator[None]:
    try:
        yield
    except PitchrecError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from exc


def database_or_default(url: str | None) -> str | URL:
    return url if url else Settings().resolved_database_url()


def url_has_password(url: str) -> bool:
    """Whether ``url`` carries a password (``user:password@`` or a ``password`` query)."""
    try:
        parts = urlsplit(url)
        if parts.password:
            return True
        query = parse_qs(parts.query)
    except ValueError:
        return False
    return any(key.lower() in ("password", "passwd") for key in query)


def warn_if_password_in_argv(option: str, variable: str, url: str | None) -> None:
    """Log a warning (never the URL) when a command-line option holds a password: every
    local user can read a command line (``ps``, ``/proc/*/cmdline``)."""
    if url and url_has_password(url):
        logging.getLogger("pitchrec.cli").warning(
            "%s holds a password, which the process list shows to every local user; "
            "set %s (or %s_FILE, a file holding the URL) instead",
            option,
            variable,
            variable,
        )


def prefer_option(variable: str, value: str | None) -> None:
    """An option given on the command line replaces ``variable`` and ``variable_FILE``."""
    if value:
        os.environ.pop(f"{variable}_FILE", None)


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

    with friendly_errors():
        url = database_or_default(database_url)
        engine = make_engine(url)
        create_schema(engine)
        engine.dispose()
        err.print(f"schema ready on {redact(url)}")


@app.command()
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


@app.command()
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


def parse_id_list(text: str) -> frozenset[int]:
    from pitchrec.legacy.params import parse_id_csv

    return parse_id_csv("exclude", text, limit=1_000_000)


def _recommender(snapshot: Snapshot) -> Recommender:
    """The recommender ``serve`` would run on ``snapshot`` (settings from the environment),
    with an in-process store: the commands print feeds without tracking them."""
    from pitchrec.service import ServiceConfig, build_service
    from pitchrec.tracking.memory_store import MemoryStore

    service = build_service(
        ServiceConfig.from_settings(Settings()), MemoryStore(), snapshot=snapshot
    )
    assert service.recommender is not None
    return service.recommender


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
    from pitchrec.index.build import snapshot_from_database
    from pitchrec.index.snapshot import load as load_snapshot

    with friendly_errors():
        excluded = parse_id_list(exclude)
        if snapshot is not None:
            recommender = _recommender(load_snapshot(snapshot))
        else:
            recommender = _recommender(
                snapshot_from_database(database_or_default(database_url), blacklist_path=blacklist)
            )
        request = FeedRequest(kind=kind, user_id=user_id, exclude=excluded, seed=seed)
        result = recommender.feed(request)
        typer.echo(json.dumps(recommender.legacy_response(result), ensure_ascii=False, indent=2))
        if metrics:
            err.print_json(json.dumps({"seed": result.seed, "metrics": result.metrics.as_dict()}))


@app.command()
def demo(
    database_url: DatabaseOption = None,
    blacklist: Annotated[Path | None, typer.Option(help="Blacklist file of media URLs.")] = None,
) -> None:
    """The main job of ``make run``: a feed for the demo's most active user."""
    from pitchrec.index.build import snapshot_from_database

    with friendly_errors():
        started = time.perf_counter()
        recommender = _recommender(
            snapshot_from_database(
                database_or_default(database_url), blacklist_path=blacklist, reporter=RichReporter()
            )
        )
        users = recommender.snapshot.users
        lengths = users.history.lengths()
        user_id = int(users.history_users[int(lengths.argmax())]) if lengths.size else None
        err.print(f"snapshot ready in {time.perf_counter() - started:.2f} s; user {user_id}:")
        result = recommender.feed(FeedRequest(kind=FeedKind.TOTAL, user_id=user_id))
        typer.echo(json.dumps(recommender.legacy_response(result), ensure_ascii=False, indent=2))
        summary = {
            k: result.metrics.as_dict()[k]
            for k in ("total_items", "unique_creators", "execution_time")
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
        str | None,
        typer.Option(
            help="Redis for tracking and reload announcements. Prefer PITCHREC_REDIS_URL "
            "or PITCHREC_REDIS_URL_FILE: a password here is visible in ps."
        ),
    ] = None,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    blacklist: Annotated[Path | None, typer.Option(help="Blacklist file of media URLs.")] = None,
) -> None:
    """Serve the legacy and v1 HTTP APIs (uvicorn). Secrets come from the environment:
    PITCHREC_DATABASE_URL and PITCHREC_REDIS_URL (or their *_FILE, a file holding the URL),
    PITCHREC_ADMIN_TOKEN (enables the reload routes)."""
    import uvicorn

    from pitchrec.logs import configure_logging

    configure_logging()
    warn_if_password_in_argv("--database-url", "PITCHREC_DATABASE_URL", database_url)
    warn_if_password_in_argv("--redis-url", "PITCHREC_REDIS_URL", redis_url)
    prefer_option("PITCHREC_DATABASE_URL", database_url)
    prefer_option("PITCHREC_REDIS_URL", redis_url)
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
    with friendly_errors():
        Settings()  # a bad setting (an unreadable *_FILE...) stops here, not in every worker
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
        typer.Option(
            help="Redis holding the event stream. Default (preferred: a password here is "
            "visible in ps): PITCHREC_REDIS_URL, or PITCHREC_REDIS_URL_FILE."
        ),
    ] = None,
    consumer: Annotated[
        str | None, typer.Option(help="Consumer name in the group. Default: host-pid.")
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000)] = 500,
    block_ms: Annotated[
        int, typer.Option(min=1, max=60_000, help="How long one read waits for events.")
    ] = 1_000,
    claim_idle_ms: Annotated[
        int,
        typer.Option(min=1, help="Take over a dead consumer's entries after this idle time."),
    ] = 30_000,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
    metrics_port: Annotated[
        int | None,
        typer.Option(
            min=0,
            max=65535,
            help="Serve GET /healthz (liveness: 503 once the loop is stuck) and GET /metrics "
            "(Prometheus) on this port. Default: no listener.",
        ),
    ] = None,
    metrics_host: Annotated[
        str, typer.Option(help="Interface of the --metrics-port listener.")
    ] = "127.0.0.1",
    stale_after: Annotated[
        float,
        typer.Option(min=1.0, help="Seconds without a loop turn after which /healthz answers 503."),
    ] = 120.0,
) -> None:
    """Archive tracked events from Redis into activity_log, exactly once (applies the
    event_id migration first). Runs until SIGTERM: SIGTERM or SIGINT finishes the batch in
    hand; SIGKILL loses nothing (the entries are read again or reclaimed). The URLs come
    from PITCHREC_DATABASE_URL and PITCHREC_REDIS_URL (or their *_FILE)."""
    from pitchrec.archive.runner import Monitoring, run_archiver
    from pitchrec.logs import configure_logging

    with friendly_errors():
        configure_logging(log_level.upper())
        warn_if_password_in_argv("--database-url", "PITCHREC_DATABASE_URL", database_url)
        warn_if_password_in_argv("--redis-url", "PITCHREC_REDIS_URL", redis_url)
        prefer_option("PITCHREC_DATABASE_URL", database_url)
        prefer_option("PITCHREC_REDIS_URL", redis_url)
        settings = Settings()
        redis = redis_url or (
            settings.redis_url.get_secret_value() if settings.redis_url is not None else None
        )
        if not redis:
            raise ConfigurationError(
                "pitchrec archive needs PITCHREC_REDIS_URL (or PITCHREC_REDIS_URL_FILE, or "
                "--redis-url)"
            )
        url = database_or_default(database_url)
        url_text = url if isinstance(url, str) else url.render_as_string(hide_password=False)
        address = (metrics_host, metrics_port) if metrics_port is not None else None
        run_archiver(
            url_text,
            redis,
            consumer,
            batch_size,
            block_ms=block_ms,
            claim_idle_ms=claim_idle_ms,
            monitoring=Monitoring(address=address, stale_after_s=stale_after),
        )


@app.command()
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
