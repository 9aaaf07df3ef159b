"""The ``pitchrec simulate`` command and what it runs: the world it loads or generates
(:class:`WorldSource`), the experiment on it and the optional report (:class:`ReportOptions`).

Its commands live in :mod:`pitchrec.lab.cli`, which registers this one and re-exports its
names. JSON goes to stdout, progress bars and messages to stderr (:data:`err`).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from pitchrec.lab import cli_options as opt
from pitchrec.lab.simulation.experiment import ExperimentConfig, run_experiment
from pitchrec.lab.simulation.stream import StreamConfig
from pitchrec.lab.simulation.summary import compact, summarise
from pitchrec.lab.world.sim_world import SimWorld, load_world
from pitchrec.lab.world.user_model import UserModelConfig
from pitchrec.progress import SILENT, Reporter, RichReporter

err = Console(stderr=True)
WORLD_MAX_AGE_SECONDS = 86_400  # the loaders' windows shift with the clock (2-day margin)


@dataclass(frozen=True)
class WorldSource:
    """Where ``simulate`` gets its world: the given database (with its ground truth and
    blacklist), or else a SQLite world of ``scale`` and ``world_seed`` generated into (and
    cached in) ``world_dir``."""

    database_url: str | None = None
    truth: Path | None = None
    blacklist: Path | None = None
    world_seed: int = 7
    scale: float = 1.0
    world_dir: Path = Path("var/sim")


@dataclass(frozen=True)
class ReportOptions:
    """The optional report of ``simulate``: written to ``report_dir`` (None: no report),
    with the markdown of ``analysis`` appended and the Open Bandit log in ``ope_dir``
    evaluated into it when that directory exists."""

    report_dir: Path | None = None
    analysis: Path | None = None
    ope_dir: Path | None = None


def _world_files(world_dir: Path, scale: float, seed: int) -> tuple[Path, Path, Path]:
    stem = world_dir / f"world-s{scale:g}-w{seed}"
    return (
        stem.with_suffix(".db"),
        stem.with_name(stem.name + ".truth.npz"),
        stem.with_name(stem.name + ".blacklist.csv"),
    )


def _load_given_world(source: WorldSource, database_url: str) -> SimWorld:
    truth, blacklist = source.truth, source.blacklist
    if truth is None:
        raise typer.BadParameter("--truth is required with --database-url")
    if blacklist is None:
        stem = truth.name.removesuffix(".npz").removesuffix(".truth")
        guess = truth.with_name(stem + ".blacklist.csv")
        blacklist = guess if guess.exists() else None
    return load_world(database_url, truth, blacklist)


def prepare_world(source: WorldSource, reporter: Reporter = SILENT) -> SimWorld:
    """Load the given world, or seed (and cache in ``world_dir``) a fresh SQLite one."""
    if source.database_url is not None:
        return _load_given_world(source, source.database_url)
    from pitchrec.lab.world import generate_world, write_blacklist
    from pitchrec.sources.database import make_engine

    db, truth_path, blacklist_path = _world_files(source.world_dir, source.scale, source.world_seed)
    fresh = truth_path.exists() and time.time() - truth_path.stat().st_mtime < WORLD_MAX_AGE_SECONDS
    if not (fresh and db.exists() and blacklist_path.exists()):
        source.world_dir.mkdir(parents=True, exist_ok=True)
        for path in (db, truth_path, blacklist_path):
            path.unlink(missing_ok=True)
        engine = make_engine(f"sqlite:///{db}")
        summary = generate_world(
            engine,
            scale=source.scale,
            seed=source.world_seed,
            truth_path=truth_path,
            reporter=reporter,
        )
        engine.dispose()
        write_blacklist(blacklist_path, summary.blacklist)
    return load_world(f"sqlite:///{db}", truth_path, blacklist_path)


def parse_policies(policies: str) -> tuple[str, ...]:
    """The arm names of a comma-separated ``--policies`` value (blanks dropped)."""
    return tuple(a.strip() for a in policies.split(",") if a.strip())


def run_simulation_cli(
    source: WorldSource,
    experiment: ExperimentConfig,
    report: ReportOptions | None = None,
    *,
    progress: bool = True,
) -> dict[str, Any]:
    """Run ``simulate``: load or generate the world, run ``experiment`` on it and write the
    report when ``report`` asks for one; returns the full summary."""
    reporter: Reporter = RichReporter() if progress else SILENT
    world = prepare_world(source, reporter)
    runs, seconds = run_experiment(world, experiment, reporter)
    summary = summarise(world, runs, seconds)
    if report is not None and report.report_dir is not None:
        path = _write_report(summary, source, experiment, report)
        err.print(f"report: {path}")
    return summary


def setup_record(
    source: WorldSource, experiment: ExperimentConfig, report: ReportOptions
) -> dict[str, Any]:
    """The options of a ``simulate`` run as the report records them (JSON values, in the
    order of the command's flags)."""
    stream, model = experiment.stream, experiment.user_model
    options: dict[str, Any] = {
        **asdict(source),
        "impressions": stream.impressions,
        "seeds": len(experiment.seeds),
        "first_seed": experiment.seeds[0],
        "policies": ",".join(experiment.arms),
        "feed_size": stream.feed_size,
        "pages_per_session": stream.pages_per_session,
        "seconds_per_request": stream.seconds_per_request,
        "sync_every": experiment.sync_every,
        **asdict(model),
        "workers": experiment.workers,
        "report_dir": report.report_dir,
        "ope_dir": report.ope_dir,
    }
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in options.items()}


def _write_report(
    summary: dict[str, Any],
    source: WorldSource,
    experiment: ExperimentConfig,
    report: ReportOptions,
) -> Path:
    from pitchrec.lab.report import write_report

    assert report.report_dir is not None
    analysis = report.analysis.read_text() if report.analysis else None
    ope = None
    if report.ope_dir is not None and Path(report.ope_dir).exists():
        from pitchrec.lab.offpolicy.obd import evaluate_obd

        ope = evaluate_obd(Path(report.ope_dir))
    setup = setup_record(source, experiment, report)
    return write_report(summary, setup, report.report_dir, analysis=analysis, ope=ope)


def simulate(
    database_url: opt.DatabaseUrl = None,
    truth: opt.Truth = None,
    blacklist: opt.Blacklist = None,
    world_seed: opt.WorldSeed = 7,
    scale: opt.Scale = 1.0,
    world_dir: opt.WorldDir = Path("var/sim"),
    impressions: opt.Impressions = opt.STREAM_DEFAULTS.impressions,
    seeds: opt.Seeds = 5,
    first_seed: opt.FirstSeed = 0,
    policies: opt.Policies = opt.DEFAULT_POLICIES,
    feed_size: opt.FeedSize = opt.STREAM_DEFAULTS.feed_size,
    pages_per_session: opt.PagesPerSession = opt.STREAM_DEFAULTS.pages_per_session,
    seconds_per_request: opt.SecondsPerRequest = opt.STREAM_DEFAULTS.seconds_per_request,
    sync_every: opt.SyncEvery = 20,
    intercept: opt.Intercept = opt.MODEL_DEFAULTS.intercept,
    utility_scale: opt.UtilityScale = opt.MODEL_DEFAULTS.utility_scale,
    position_continue: opt.PositionContinue = opt.MODEL_DEFAULTS.position_continue,
    creator_fatigue: opt.CreatorFatigue = opt.MODEL_DEFAULTS.creator_fatigue,
    repeat_fatigue: opt.RepeatFatigue = opt.MODEL_DEFAULTS.repeat_fatigue,
    freshness_days: opt.FreshnessDays = opt.MODEL_DEFAULTS.freshness_days,
    drift_at: opt.DriftAt = opt.MODEL_DEFAULTS.drift_at,
    workers: opt.Workers = opt.DEFAULT_WORKERS,
    report_dir: opt.ReportDir = None,
    analysis: opt.Analysis = None,
    ope_dir: opt.OpeDir = None,
    json_output: opt.JsonOutput = False,
    progress: opt.Progress = True,
) -> None:
    """Simulated users against the real service path: policies compared on the same streams."""
    source = WorldSource(database_url, truth, blacklist, world_seed, scale, world_dir)
    experiment = ExperimentConfig(
        arms=parse_policies(policies),
        seeds=tuple(range(first_seed, first_seed + seeds)),
        stream=StreamConfig(impressions, feed_size, pages_per_session, seconds_per_request),
        user_model=UserModelConfig(
            intercept,
            utility_scale,
            position_continue,
            creator_fatigue,
            repeat_fatigue,
            freshness_days,
            drift_at,
        ),
        sync_every=sync_every,
        workers=workers,
    )
    report = ReportOptions(report_dir, analysis, ope_dir)
    summary = run_simulation_cli(source, experiment, report, progress=progress)
    _print_summary(summary, json_output)


def _print_summary(summary: dict[str, Any], json_output: bool) -> None:
    """One JSON object on stdout, or each arm's reward interval on stderr."""
    if json_output:
        typer.echo(json.dumps(compact(summary), default=float))
    else:
        for arm, entry in summary["policies"].items():
            r = entry["reward"]
            err.print(f"{arm:>16}: {r['mean']:.4f} [{r['ci_low']:.4f}, {r['ci_high']:.4f}]")
