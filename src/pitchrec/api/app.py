"""The FastAPI app factory. Everything long-lived is built in the lifespan.

``create_app(settings, source)`` for tests and embedding; ``create_app_from_env()`` is the
factory ``pitchrec serve`` hands to uvicorn (settings from the environment).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from pitchrec import __version__
from pitchrec.api.dashboard import dashboard_router
from pitchrec.api.errors import install_error_handlers
from pitchrec.api.experiments import install_experiments
from pitchrec.api.legacy import TITLE, install_root_routes, legacy_router
from pitchrec.api.middleware import ServiceMiddleware
from pitchrec.api.operations import ops_router
from pitchrec.api.runtime import Runtime
from pitchrec.api.stats import stats_router
from pitchrec.api.v1 import v1_router
from pitchrec.index.lifecycle import SnapshotSource
from pitchrec.settings import Settings


def source_from_settings(settings: Settings) -> SnapshotSource:
    """Serve the snapshot directory alone when one is set and no database is named
    explicitly; otherwise build from the database (the demo file by default)."""
    directory: Path | None = settings.snapshot_dir
    explicit_database = settings.database_url is not None
    if directory is not None and not explicit_database and not settings.build_from_database:
        return SnapshotSource(None, directory, settings.blacklist_path)
    return SnapshotSource(
        settings.resolved_database_url(),
        directory,
        settings.blacklist_path,
        declared_skills=settings.declared_skills,
    )


def create_app(settings: Settings | None = None, source: SnapshotSource | None = None) -> FastAPI:
    settings = settings or Settings()
    source = source or source_from_settings(settings)
    runtime = Runtime(settings, source)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.runtime = runtime
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    app = FastAPI(
        title=TITLE,
        version=__version__,
        description="pitchrec: the TalentPitch feed API (legacy routes) and its typed v1 API.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    install_root_routes(app, settings.api_path)
    app.include_router(legacy_router(settings.legacy_prefix))
    app.include_router(v1_router())
    app.include_router(ops_router())
    app.include_router(stats_router())
    app.include_router(dashboard_router())
    install_experiments(app, runtime)
    if settings.cors_origins:  # closed by default (D-S3); never with credentials
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "Authorization", "X-Request-ID"],
        )
    app.add_middleware(
        ServiceMiddleware, telemetry=runtime.telemetry, max_body_bytes=settings.max_body_bytes
    )
    return app


def create_app_from_env() -> FastAPI:
    """The uvicorn factory: settings from the environment, JSON logs on stdout."""
    from pitchrec.logs import configure_logging

    configure_logging()
    return create_app(Settings())
