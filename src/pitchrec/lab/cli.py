"""The lab's commands: ``pitchrec seed``, ``pitchrec simulate`` and ``pitchrec evaluate``.

:mod:`pitchrec.cli` loads this module only when one of them runs, so serving never
imports the simulator. Standalone: ``python -m pitchrec.lab.cli simulate --help``. JSON
goes to stdout, progress bars and messages to stderr. ``simulate`` and what it runs live
in :mod:`pitchrec.lab.simulate_cli` (re-exported here).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from pitchrec.cli import DatabaseOption, database_or_default, friendly_errors
from pitchrec.errors import EvaluationInputError
from pitchrec.lab import cli_options as opt
from pitchrec.lab.offline.cli import offline
from pitchrec.lab.offline.replay_cli import replay_command
from pitchrec.lab.offpolicy.shadow_cli import shadow_command
from pitchrec.lab.simulate_cli import (
    WORLD_MAX_AGE_SECONDS,
    ReportOptions,
    WorldSource,
    err,
    parse_policies,
    prepare_world,
    run_simulation_cli,
    setup_record,
    simulate,
)
from pitchrec.progress import RichReporter

__all__ = [
    "WORLD_MAX_AGE_SECONDS",
    "ReportOptions",
    "WorldSource",
    "app",
    "err",
    "evaluate",
    "evaluate_app",
    "main",
    "parse_policies",
    "prepare_world",
    "run_simulation_cli",
    "seed",
    "setup_record",
    "simulate",
]


def evaluate(
    ctx: typer.Context,
    obd_dir: opt.ObdDir = opt.DEFAULT_OBD,
    campaign: opt.Campaign = None,
    epsilon: opt.Epsilon = 0.1,
    interval: opt.Interval = "bootstrap",
    n_boot: opt.NBoot = 1000,
    seed: opt.Seed = 0,
) -> None:
    """Off-policy evaluation (IPS, SNIPS, DR with intervals) on an Open Bandit log (JSON);
    ``pitchrec evaluate offline``: relevance on a database's own history."""
    from pitchrec.lab.offpolicy.obd import evaluate_obd

    if ctx.invoked_subcommand is not None:
        return
    if interval not in ("analytic", "bootstrap"):
        raise typer.BadParameter("--interval must be analytic or bootstrap")
    if not obd_dir.exists():
        err.print(f"[red]error:[/red] {obd_dir} does not exist")
        raise typer.Exit(2)
    with friendly_errors():
        result = evaluate_obd(
            obd_dir,
            campaign=campaign,
            epsilon=epsilon,
            interval="analytic" if interval == "analytic" else "bootstrap",
            n_boot=n_boot,
            seed=seed,
        )
    typer.echo(json.dumps(result, default=float))


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
    world: Annotated[
        str,
        typer.Option(
            help="skills: taste follows skills (the first world); collaborative: latent "
            "tastes skills do not reveal, long-tailed popularity, a time axis; popular: the "
            "collaborative model with a dominant popularity and weak taste (likes "
            "concentrate on few resumes, a most-popular list is hard to beat)."
        ),
    ] = "skills",
) -> None:
    """Create the schema and fill it with a deterministic synthetic world."""
    from pitchrec.lab.world import WORLD_KINDS, generate_world, write_blacklist
    from pitchrec.sources.database import is_sqlite, make_engine, normalise_url, redact

    with friendly_errors():
        url = database_or_default(database_url)
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
        if world not in WORLD_KINDS:
            raise EvaluationInputError(f"--world must be one of {', '.join(WORLD_KINDS)}")
        summary = generate_world(
            engine,
            scale=scale,
            seed=seed,
            truth_path=truth_out,
            reporter=RichReporter(),
            kind=world,
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


app = typer.Typer(add_completion=False, no_args_is_help=True, help="The lab's commands.")
app.command("seed")(seed)
app.command("simulate")(simulate)
evaluate_app = typer.Typer(invoke_without_command=True, no_args_is_help=False, add_completion=False)
evaluate_app.callback()(evaluate)
evaluate_app.command("offline")(offline)
evaluate_app.command("replay")(replay_command)
evaluate_app.command("shadow")(shadow_command)
app.add_typer(evaluate_app, name="evaluate")


def main(argv: list[str] | None = None) -> None:
    """Standalone entry: ``python -m pitchrec.lab.cli seed|simulate|evaluate ...``."""
    app(args=sys.argv[1:] if argv is None else argv, standalone_mode=True)


if __name__ == "__main__":  # pragma: no cover
    main()
