"""The commands that print feeds without a server: ``feed`` and ``demo``.

Plain functions; :mod:`pitchrec.cli` registers them on the app. They build the
recommender ``serve`` would run, with an in-process store: nothing is tracked. The feed
(JSON) goes to stdout; progress bars, messages and metrics go to stderr.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from pitchrec.cli_shared import DatabaseOption, database_or_default, err, friendly_errors
from pitchrec.domain.feed import FeedKind, FeedRequest
from pitchrec.progress import RichReporter
from pitchrec.settings import Settings

if TYPE_CHECKING:
    from pitchrec.index.snapshot import Snapshot
    from pitchrec.recommender import Recommender


def parse_id_list(text: str) -> frozenset[int]:
    """The ids of ``--exclude`` (comma-separated), checked as the legacy API checks them."""
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
