"""The typer options of ``simulate`` and ``evaluate`` (one annotated alias per flag) and
their defaults, kept apart from the commands so each module stays small."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from pitchrec.lab.simulation.experiment import DEFAULT_ARMS
from pitchrec.lab.simulation.stream import StreamConfig
from pitchrec.lab.world.user_model import UserModelConfig

STREAM_DEFAULTS, MODEL_DEFAULTS = StreamConfig(), UserModelConfig()
DEFAULT_POLICIES = ",".join(DEFAULT_ARMS)
DEFAULT_WORKERS = min(2, os.cpu_count() or 1)
DEFAULT_OBD = Path("../shared/data/obd-random-men")

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        help="World database (SQLAlchemy URL); default: seed a SQLite world in --world-dir."
    ),
]

Truth = Annotated[
    Path | None,
    typer.Option(help="Ground truth .npz of --database-url."),
]

Blacklist = Annotated[
    Path | None,
    typer.Option(help="Blacklist of --database-url (default: beside --truth)."),
]

WorldSeed = Annotated[
    int,
    typer.Option(help="Seed of the generated world."),
]

Scale = Annotated[
    float,
    typer.Option(min=0.001, help="Scale of the generated world (1.0 = production)."),
]

WorldDir = Annotated[
    Path,
    typer.Option(help="Cache of generated worlds (reused for a day)."),
]

Impressions = Annotated[
    int,
    typer.Option(min=1, help="Resume impressions per policy and seed."),
]

Seeds = Annotated[
    int,
    typer.Option(min=1, help="Independent user streams (seeds) per policy."),
]

FirstSeed = Annotated[
    int,
    typer.Option(help="First stream seed (seeds are consecutive)."),
]

Policies = Annotated[
    str,
    typer.Option(
        help="Comma-separated arms: legacy (static legacy), linucb (the service defaults), "
        "thompson, uniform, epsilon; suffixes -s<reward scale>, -t<temperature> (t0: legacy "
        "draws), +profile/-profile, +declared/-declared (e.g. legacy-t0.3+declared); "
        "<linucb|thompson|epsilon>-x<weight>, oracle-engine, shared-engine, taste-engine, "
        "linear-engine, "
        "oracle, random."
    ),
]

FeedSize = Annotated[
    int,
    typer.Option(min=1, help="Items per feed request."),
]

PagesPerSession = Annotated[
    float,
    typer.Option(min=1.0, help="Mean feeds per session (geometric)."),
]

SecondsPerRequest = Annotated[
    float,
    typer.Option(min=0.0, help="Simulated seconds between requests."),
]

SyncEvery = Annotated[
    int,
    typer.Option(min=1, help="Requests between tracker syncs (the server's 1 s)."),
]

Intercept = Annotated[
    float,
    typer.Option(help="Engagement logit at zero utility."),
]

UtilityScale = Annotated[
    float,
    typer.Option(help="Multiplier of the utility in the logit."),
]

PositionContinue = Annotated[
    float,
    typer.Option(min=0.0, max=1.0, help="P(examine next position)."),
]

CreatorFatigue = Annotated[
    float,
    typer.Option(
        min=0.0,
        max=1.0,
        help="Engagement factor per earlier same-creator impression in the session.",
    ),
]

RepeatFatigue = Annotated[
    float,
    typer.Option(
        min=0.0, max=1.0, help="Engagement factor per earlier impression of the same resume."
    ),
]

FreshnessDays = Annotated[
    float,
    typer.Option(min=0.001, help="E-folding days of the recency utility."),
]

DriftAt = Annotated[
    float,
    typer.Option(
        min=0.0,
        max=0.99,
        help="Share of each run's requests after which users change their minds: every "
        "resume takes another's latent factors (a collaborative or popular world); 0: never.",
    ),
]

Workers = Annotated[
    int,
    typer.Option(min=1, help="Worker processes."),
]

ReportDir = Annotated[
    Path | None,
    typer.Option(help="Write REPORT.md, PNGs and results.json here."),
]

Analysis = Annotated[
    Path | None,
    typer.Option(help="Markdown appended to the report."),
]

OpeDir = Annotated[
    Path | None,
    typer.Option(help="Open Bandit log to evaluate into the report (skipped if absent)."),
]

JsonOutput = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON summary object."),
]

Progress = Annotated[
    bool,
    typer.Option(help="Progress bars on stderr."),
]

ObdDir = Annotated[
    Path,
    typer.Option(help="Open Bandit Dataset directory (campaign CSV + item_context.csv)."),
]

Campaign = Annotated[
    str | None,
    typer.Option(help="Campaign CSV stem (default: the only one)."),
]

Epsilon = Annotated[
    float,
    typer.Option(min=0.0, max=1.0, help="Exploration of the greedy-CTR target policy."),
]

Interval = Annotated[
    str,
    typer.Option(help="analytic or bootstrap."),
]

NBoot = Annotated[
    int,
    typer.Option(min=10, help="Bootstrap resamples."),
]

Seed = Annotated[
    int,
    typer.Option(help="Seed of the folds and resamples."),
]
