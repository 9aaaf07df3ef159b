"""``pitchrec evaluate offline``: relevance on a deployment's own history."""

from __future__ import annotations

import json
import os
import shlex
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from pitchrec.cli import DatabaseOption, database_or_default, friendly_errors
from pitchrec.domain.feed import FeedKind
from pitchrec.errors import EvaluationInputError
from pitchrec.progress import SILENT, Reporter, RichReporter

err = Console(stderr=True)
#: One process per core, at most 2: the machines this runs on have 2 (bench/RESULTS.md).
DEFAULT_WORKERS = min(2, os.cpu_count() or 1)


def _parse_cut(text: str | None) -> datetime | None:
    """``--cut`` as naive UTC (an offset is converted; none means UTC)."""
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise EvaluationInputError(f"--cut {text!r} is not an ISO-8601 date-time") from exc
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(UTC).replace(tzinfo=None)
    return parsed


def offline(
    ctx: typer.Context,
    database_url: DatabaseOption = None,
    cut: Annotated[
        str | None,
        typer.Option(help="Split instant, ISO-8601 (default: from --holdout-fraction)."),
    ] = None,
    holdout_fraction: Annotated[
        float, typer.Option(help="Share of the positive interactions held out after the cut.")
    ] = 0.2,
    kind: Annotated[FeedKind, typer.Option(help="discover or total.")] = FeedKind.DISCOVER,
    k: Annotated[int, typer.Option(min=1, max=100, help="Items per list (headline k).")] = 24,
    configs: Annotated[
        str,
        typer.Option(
            help="Comma-separated: random, popularity, popularity-recent, item-knn, als, "
            "legacy, service."
        ),
    ] = "random,popularity,item-knn,als,legacy,service",
    baseline: Annotated[str, typer.Option(help="Paired differences against this.")] = (
        "popularity"
    ),
    seeds: Annotated[int, typer.Option(min=1, max=20, help="Seeds per configuration.")] = 3,
    max_users: Annotated[
        int | None, typer.Option(min=1, help="Evaluate a seeded sample of this many users.")
    ] = None,
    min_rating: Annotated[
        float, typer.Option(help="A rating counts as a positive from this value (of 5).")
    ] = 4.0,
    report_dir: Annotated[
        Path | None, typer.Option(help="Write REPORT.md, results.json and plots here.")
    ] = None,
    workers: Annotated[
        int, typer.Option(min=1, max=64, help="Processes the configurations run in.")
    ] = DEFAULT_WORKERS,
    json_output: Annotated[bool, typer.Option("--json", help="Print the JSON result.")] = False,
    progress: Annotated[bool, typer.Option(help="Progress bars on stderr.")] = True,
) -> None:
    """Relevance on the database's own history: a temporal split, the snapshot as of the
    cut, every configuration's lists against each user's later positives."""
    from pitchrec.lab.offline.evaluate import OfflineOptions, evaluate_offline
    from pitchrec.lab.offline.report import print_table, write_report
    from pitchrec.lab.offline.split import PositiveRule, temporal_split

    with friendly_errors():
        options = OfflineOptions(
            configs=tuple(c.strip() for c in configs.split(",") if c.strip()),
            kind=kind,
            k=k,
            ks=tuple(sorted({5, 10, k})),
            seeds=seeds,
            baseline=baseline,
            max_users=max_users,
        )
        reporter: Reporter = RichReporter() if progress else SILENT
        url = database_or_default(database_url)
        url_text = url if isinstance(url, str) else url.render_as_string(hide_password=False)
        with reporter.stage("split and snapshot as of the cut", None):
            split = temporal_split(
                url_text,
                cut=_parse_cut(cut),
                holdout_fraction=holdout_fraction,
                rule=PositiveRule(min_rating=min_rating),
            )
        result = evaluate_offline(split, options, reporter, workers)
        if json_output:
            typer.echo(json.dumps(result))
        else:
            print_table(result, Console())
        if report_dir is not None:
            err.print(f"report: {write_report(result, report_dir, _command_line(ctx))}")


def _command_line(ctx: typer.Context) -> str:
    """The command and its options as run, for the report (database password hidden)."""
    from pitchrec.sources.database import redact

    words = ctx.command_path.split()
    for name, value in ctx.params.items():
        if value is None or name in ("progress", "json_output"):
            continue
        text = redact(value) if name == "database_url" else str(value)
        words += [f"--{name.replace('_', '-')}", text]
    return " ".join(shlex.quote(w) for w in words)
