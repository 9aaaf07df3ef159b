"""``pitchrec evaluate shadow``: the value of the shadow candidate, from live traffic."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from pitchrec.cli import DatabaseOption, database_or_default, friendly_errors
from pitchrec.errors import EvaluationInputError
from pitchrec.progress import SILENT, Reporter, RichReporter

err = Console(stderr=True)
#: Above this share of the candidate's examination on items the served configuration
#: never showed, IPS is biased low by about that share (:mod:`.slate`): say so.
UNCOVERED_WARNING = 0.05


def _instant(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise EvaluationInputError(f"{option} {text!r} is not an ISO-8601 date-time") from exc
    return parsed.astimezone(UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def _examination(text: str) -> str | float:
    if text in ("events", "uniform"):
        return text
    try:
        return float(text)
    except ValueError as exc:
        raise EvaluationInputError(
            f"--examination: events, uniform or a continuation probability, not {text!r}"
        ) from exc


def shadow_command(
    database_url: DatabaseOption = None,
    redis_url: Annotated[
        str | None,
        typer.Option(
            help="Read the Redis event stream instead of activity_log (only what the "
            "archiver has not trimmed yet)."
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Shadow rows from this instant (ISO-8601, UTC).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Shadow rows before this instant (ISO-8601, UTC).")
    ] = None,
    candidate: Annotated[
        str | None,
        typer.Option(help="The candidate to evaluate, as logged, when the log holds several."),
    ] = None,
    endpoint: Annotated[
        str,
        typer.Option(
            help="Only feeds of endpoints starting with this (v1/: the feeds whose clients "
            "can send v1 events; legacy feeds never get rewards)."
        ),
    ] = "",
    action: Annotated[
        str, typer.Option(help="item (position-based model) or position (slot-level IPS).")
    ] = "item",
    examination: Annotated[
        str,
        typer.Option(
            help="Examination per position: events (share of feeds with any event there), "
            "uniform, or a continuation probability c (c^(k-1))."
        ),
    ] = "events",
    reward: Annotated[
        str, typer.Option(help="Comma-separated event types that count as a reward of 1.")
    ] = "like",
    n_boot: Annotated[int, typer.Option(min=100, help="Bootstrap resamples.")] = 1000,
    level: Annotated[float, typer.Option(min=0.5, max=0.999, help="Interval level.")] = 0.95,
    seed: Annotated[int, typer.Option(help="Bootstrap seed.")] = 0,
    json_output: Annotated[bool, typer.Option("--json", help="Print the JSON result.")] = False,
    progress: Annotated[bool, typer.Option(help="Progress bars on stderr.")] = True,
) -> None:
    """Estimate the shadow candidate's likes per feed (IPS, SNIPS, DR with bootstrap
    intervals over users) from the shadow log joined with the feedback events, next to the
    served configuration's on-policy value on the same feeds, and their differences."""
    from pitchrec.lab.offpolicy.shadow_log import read_database, read_stream
    from pitchrec.lab.offpolicy.slate import estimate_slate

    with friendly_errors():
        if action not in ("item", "position"):
            raise EvaluationInputError("--action: item or position")
        how = _examination(examination)
        types = [t.strip() for t in reward.split(",") if t.strip()]
        if not types:
            raise EvaluationInputError("--reward: at least one event type")
        reporter: Reporter = RichReporter() if progress else SILENT
        with reporter.stage("read the shadow log", None) as advance:
            if redis_url:
                reader = read_stream(redis_url, advance)
            else:
                reader = read_database(
                    database_or_default(database_url),
                    since=_instant(since, "--since"),
                    until=_instant(until, "--until"),
                    advance=advance,
                )
        feeds = [f for f in reader.feeds(types) if f.log.endpoint.startswith(endpoint)]
        labels = sorted({f.log.candidate_config for f in feeds})
        if candidate is not None:
            feeds = [f for f in feeds if f.log.candidate_config == candidate]
            if not feeds:
                raise EvaluationInputError(
                    f"no shadow row of candidate {candidate!r}; logged: {', '.join(labels)}"
                )
        with reporter.stage("estimate", None):
            result = estimate_slate(
                feeds,
                action="position" if action == "position" else "item",
                how=how,
                level=level,
                n_boot=n_boot,
                seed=seed,
            )
        summary = {**result.as_dict(), "reward": types, "skipped_rows": reader.skipped}
        if json_output:
            typer.echo(json.dumps(summary))
        else:
            Console().print(_table(summary, level))
            _warnings(summary)


def _cell(entry: dict[str, Any], signed: bool = False) -> str:
    form = "+.3f" if signed else ".3f"
    return f"{entry['value']:{form}} [{entry['ci_low']:{form}}, {entry['ci_high']:{form}}]"


def _table(summary: dict[str, Any], level: float) -> Table:
    table = Table(
        title=f"likes per feed, candidate {summary['candidate']} "
        f"({summary['feeds']} shadowed feeds, {summary['users']} users, "
        f"{level:.0%} bootstrap intervals)"
    )
    for column in ("estimator", "candidate", "candidate - served"):
        table.add_column(column)
    for name, entry in summary["estimates"].items():
        table.add_row(name, _cell(entry), _cell(summary["differences"][f"{name}-served"], True))
    table.add_row("served (on-policy)", _cell(summary["served_value"]), "")
    return table


def _warnings(summary: dict[str, Any]) -> None:
    diagnostics = summary["diagnostics"]
    err.print(
        f"action {summary['action']}; effective sample size "
        f"{diagnostics['effective_sample_size']:.0f} feeds; largest weight "
        f"{diagnostics['max_weight']:.1f}; uncovered {diagnostics['uncovered']:.1%}"
    )
    if diagnostics["uncovered"] > UNCOVERED_WARNING:
        err.print(
            f"[yellow]warning:[/yellow] {diagnostics['uncovered']:.0%} of the candidate's "
            "examination falls on what the served configuration never showed: IPS is "
            "biased low by about that share; SNIPS assumes those items are as good as the "
            "rest, DR predicts them from their like rates (README, Shadow mode)."
        )
