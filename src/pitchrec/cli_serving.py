"""The long-running commands: ``serve`` (the HTTP APIs) and ``archive`` (the event
archiver), and how they treat the URLs given on their command line.

Plain functions; :mod:`pitchrec.cli` registers them on the app. Both take their secrets
from the environment preferably: a URL with a password on a command line is visible to
every local user (``ps``), so it is warned about, and it replaces the ``*_FILE`` form.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Annotated
from urllib.parse import parse_qs, urlsplit

import typer

from pitchrec.cli_shared import DatabaseOption, database_or_default, friendly_errors
from pitchrec.errors import ConfigurationError
from pitchrec.settings import Settings


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
