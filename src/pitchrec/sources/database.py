"""Engines for the two supported back ends: a SQLite file (the embedded default) and
MySQL/MariaDB through PyMySQL.

``mysql://`` URLs are rewritten to ``mysql+pymysql://`` and always get ``charset=utf8mb4``:
the legacy service set no charset, which is how its data came to be double-encoded
(spec D-C26).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url

from pitchrec.errors import ConfigurationError
from pitchrec.sources.schema import metadata


def normalise_url(url: str | URL) -> URL:
    """Parse ``url`` and pin the driver and charset pitchrec relies on."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with the URL in it
        raise ConfigurationError("database URL is not a valid SQLAlchemy URL") from exc
    backend = parsed.get_backend_name()
    if backend in ("mysql", "mariadb"):
        parsed = parsed.set(drivername="mysql+pymysql")
        if "charset" not in parsed.query:
            parsed = parsed.update_query_dict({"charset": "utf8mb4"})
    elif backend != "sqlite":
        raise ConfigurationError(
            f"unsupported database backend {backend!r}: use sqlite:/// or mysql://"
        )
    return parsed


def is_sqlite(url: str | URL) -> bool:
    return normalise_url(url).get_backend_name() == "sqlite"


def redact(url: str | URL) -> str:
    """The URL with its password hidden, for logs and error messages."""
    return normalise_url(url).render_as_string(hide_password=True)


def make_engine(url: str | URL, **kwargs: Any) -> Engine:
    """An engine with sane defaults for either back end.

    SQLite files get WAL journaling and a busy timeout so a server and a CLI command can
    share the demo file; MySQL connections get pre-ping and bounded timeouts (the legacy
    30/60/60 s of spec 1.1). Errors never show the bound parameters (``hide_parameters``):
    their text is logged, and the values are users' data.
    """
    parsed = normalise_url(url)
    kwargs.setdefault("hide_parameters", True)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(parsed, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    connect_args = {"connect_timeout": 30, "read_timeout": 60, "write_timeout": 60}
    return create_engine(
        parsed, pool_pre_ping=True, pool_recycle=3600, connect_args=connect_args, **kwargs
    )


def create_schema(engine: Engine) -> None:
    """Create every table and index that does not exist yet (idempotent)."""
    metadata.create_all(engine, checkfirst=True)
