"""``pitchrec evaluate replay``: does learning from feedback raise likes, on your history?"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from pitchrec.cli import DatabaseOption, database_or_default, friendly_errors
from pitchrec.errors import EvaluationInputError
from pitchrec.progress import SILENT, Reporter, RichReporter

err = Console(stderr=True)


def replay_command(
    ctx: typer.Context,
    database_url: DatabaseOption = None,
    configs: Annotated[
        str, typer.Option(help="Comma-separated engine configurations (service@option=value).")
    ] = "service",
    variants: Annotated[
        str, typer.Option(help="Comma-separated: learn, frozen (profiles only), none.")
    ] = "learn,frozen,none",
    users: Annotated[int, typer.Option(min=1, help="Held-out users replayed per seed.")] = 300,
    pages: Annotated[int, typer.Option(min=1, max=50, help="Feeds per user.")] = 5,
    page_size: Annotated[int, typer.Option(min=1, max=100, help="Items per feed.")] = 24,
    min_positives: Annotated[
        int,
        typer.Option(min=1, help="Replay only users with this many positives after the cut."),
    ] = 1,
    seeds: Annotated[int, typer.Option(min=1, max=20, help="User samples (seeds).")] = 2,
    skips: Annotated[
        str,
        typer.Option(
            help="Skips for: all (every shown resume not liked later) or above-last-like"
            " (only those above the page's last like: what the user looked at)."
        ),
    ] = "all",
    holdout_fraction: Annotated[
        float, typer.Option(help="Share of the positive interactions held out after the cut.")
    ] = 0.2,
    report_dir: Annotated[
        Path | None, typer.Option(help="Write REPORT.md and results.json here.")
    ] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the JSON result.")] = False,
    progress: Annotated[bool, typer.Option(help="Progress bars on stderr.")] = True,
) -> None:
    """Replay held-out users through the service in process: feeds, then a like for each
    shown resume the user went on to like and a skip for the rest; compares what the
    feedback reaches (learn / frozen / none) with paired intervals."""
    from pitchrec.lab.offline.evaluate_options import engine_config
    from pitchrec.lab.offline.replay import (
        SKIP_MODELS,
        VARIANTS,
        ReplayOptions,
        ReplayResult,
        replay,
    )
    from pitchrec.lab.offline.replay_summary import (
        replay_markdown,
        runs_record,
        summarise_replay,
    )
    from pitchrec.lab.offline.split import temporal_split

    with friendly_errors():
        names = [c.strip() for c in configs.split(",") if c.strip()]
        chosen = [v.strip() for v in variants.split(",") if v.strip()]
        unknown = [v for v in chosen if v not in VARIANTS]
        if unknown or not chosen:
            raise EvaluationInputError(f"--variants: choose among {', '.join(VARIANTS)}")
        config_of = {}
        for name in names:
            config = engine_config(name)
            if config is None:
                raise EvaluationInputError(f"{name!r} is not an engine configuration")
            config_of[name] = config
        if skips not in SKIP_MODELS:
            raise EvaluationInputError(f"--skips: choose among {', '.join(SKIP_MODELS)}")
        options = ReplayOptions(
            users=users,
            pages=pages,
            page_size=page_size,
            min_positives=min_positives,
            skips=skips,
        )
        reporter: Reporter = RichReporter() if progress else SILENT
        url = database_or_default(database_url)
        url_text = url if isinstance(url, str) else url.render_as_string(hide_password=False)
        with reporter.stage("split and snapshot as of the cut", None):
            split = temporal_split(url_text, holdout_fraction=holdout_fraction)
        results: dict[str, dict[str, list[ReplayResult]]] = {}
        runs = len(names) * len(chosen) * seeds
        with reporter.stage("replays", runs) as advance:
            for name in names:
                results[name] = {}
                for variant in chosen:
                    results[name][variant] = []
                    for seed in range(seeds):
                        run = replay(split, config_of[name], variant, options, seed)
                        results[name][variant].append(run)
                        advance(1)
        summary = summarise_replay(results)
        if json_output:
            typer.echo(json.dumps(summary))
        else:
            Console().print(_table(summary))
        if report_dir is not None:
            report_dir.mkdir(parents=True, exist_ok=True)
            (report_dir / "results.json").write_text(json.dumps(summary, indent=1) + "\n")
            (report_dir / "runs.json").write_text(json.dumps(runs_record(results)) + "\n")
            markdown = replay_markdown(summary, _command(ctx), options)
            (report_dir / "REPORT.md").write_text(markdown)
            err.print(f"report: {report_dir / 'REPORT.md'}")


def _table(summary: dict[str, Any]) -> Table:
    table = Table(title="likes per replayed user (95 % bootstrap intervals)")
    for column in ("configuration", "variant", "likes per user"):
        table.add_column(column)
    for name, entry in summary.items():
        for variant, values in entry["variants"].items():
            likes = values["likes_per_user"]
            text = f"{likes['mean']:.3f} [{likes['ci_low']:.3f}, {likes['ci_high']:.3f}]"
            table.add_row(name, variant, text)
        for label, values in entry["differences"].items():
            text = f"{values['mean']:+.3f} [{values['ci_low']:+.3f}, {values['ci_high']:+.3f}]"
            table.add_row(name, label, text)
    return table


def _command(ctx: typer.Context) -> str:
    from pitchrec.lab.offline.cli import _command_line

    return _command_line(ctx)
