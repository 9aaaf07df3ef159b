"""The ``pitchrec`` command line: db, seed, load, build, feed, demo.

Machine-readable output (JSON) goes to stdout; progress bars and messages go to stderr.
Errors pitchrec raises on purpose end the command with a one-line message and exit code 2.

This module assembles the typer app; the commands live by what they do:
:mod:`pitchrec.cli_database` (``db create``, ``migrate``, ``load``, ``build``),
:mod:`pitchrec.cli_feeds` (``feed``, ``demo``), :mod:`pitchrec.cli_serving` (``serve``,
``archive``) and the lab's (``seed``, ``simulate``, ``evaluate``), with what they share in
:mod:`pitchrec.cli_shared`. Every name is importable from here too.
"""

from __future__ import annotations

import importlib
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from pitchrec import __version__
from pitchrec.cli_database import build, db_create, load, migrate
from pitchrec.cli_feeds import demo, feed, parse_id_list
from pitchrec.cli_serving import (
    archive,
    prefer_option,
    serve,
    url_has_password,
    warn_if_password_in_argv,
)
from pitchrec.cli_shared import DatabaseOption, database_or_default, err, friendly_errors

__all__ = [
    "LAB_COMMANDS",
    "LAB_MODULE",
    "DatabaseOption",
    "app",
    "archive",
    "build",
    "database_or_default",
    "db_app",
    "db_create",
    "demo",
    "err",
    "feed",
    "friendly_errors",
    "load",
    "migrate",
    "parse_id_list",
    "prefer_option",
    "serve",
    "url_has_password",
    "warn_if_password_in_argv",
]

#: Commands of the lab (:mod:`pitchrec.lab.cli`), loaded only when one of them runs (or
#: help lists them), so ``serve`` never imports the simulator or matplotlib.
LAB_COMMANDS = ("seed", "simulate", "evaluate")
LAB_MODULE = "pitchrec.lab.cli"


class _CommandsWithLab(TyperGroup):
    """The product commands, plus the lab's, imported on first use."""

    def list_commands(self, ctx: Any) -> list[str]:
        return [*super().list_commands(ctx), *LAB_COMMANDS]

    def get_command(self, ctx: Any, cmd_name: str) -> Any:
        if cmd_name in LAB_COMMANDS:
            lab = importlib.import_module(LAB_MODULE)
            return typer.main.get_group(lab.app).get_command(ctx, cmd_name)
        return super().get_command(ctx, cmd_name)


app = typer.Typer(
    cls=_CommandsWithLab,
    name="pitchrec",
    help="A feed recommender for talent networks (TalentPitch-compatible).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,  # locals may hold credentials
)
db_app = typer.Typer(help="Database schema commands.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@app.callback(invoke_without_command=True)
def _main(
    version: Annotated[bool, typer.Option("--version", help="Print the version.")] = False,
) -> None:
    if version:
        typer.echo(__version__)
        raise typer.Exit()


# Registration order is the order ``pitchrec --help`` lists the commands in.
db_app.command("create")(db_create)
app.command()(load)
app.command()(build)
app.command()(feed)
app.command()(demo)
app.command()(serve)
app.command()(archive)
app.command()(migrate)
