"""``afterword operator ...``: the server operator's commands on its own database.

Separate from ``serve``/``worker`` (which run the service) and from the owner's commands
(which go over HTTP): these act on the database directly, after a hold or a quarantine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from afterword.cli.common import run_action
from afterword.errors import AfterwordError

operator_app = typer.Typer(help="Commands for the server's operator.", no_args_is_help=True)


@operator_app.command("release-held")
def operator_release_held(
    db: Annotated[str | None, typer.Option(help="Database URL.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where the server keeps its files.")] = None,
) -> None:
    """After a mass-trigger hold: the clock is right, let the held switches move on."""

    def action() -> None:
        from afterword.server import Settings, build_engine

        count = build_engine(Settings.load(data_dir=data_dir, db=db)).release_held()
        typer.echo(f"Released the hold on {count} switch(es).")

    run_action(action)


@operator_app.command("unquarantine")
def operator_unquarantine(
    switch: Annotated[str, typer.Argument(help="The quarantined switch (its id).")],
    db: Annotated[str | None, typer.Option(help="Database URL.")] = None,
    data_dir: Annotated[Path | None, typer.Option(help="Where the server keeps its files.")] = None,
) -> None:
    """After a quarantine: the cause is fixed, schedule the switch again (if it fails
    again, it is quarantined again, alone)."""

    def action() -> None:
        from afterword.server import Settings, build_engine

        if not build_engine(Settings.load(data_dir=data_dir, db=db)).unquarantine(switch):
            raise AfterwordError(
                f"switch {switch} is not quarantined: it is scheduled as usual",
                "nothing to do; a quarantined switch is named in the operator's mail",
            )
        typer.echo(f"Switch {switch} is scheduled again.")

    run_action(action)
