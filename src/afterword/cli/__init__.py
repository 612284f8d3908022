"""The ``afterword`` command: a thin shell over :mod:`afterword.crypto`.

Each command parses its arguments, asks for secrets (or reads them from the
environment for scripts), calls one library function and prints what happened.
Errors the user can act on are printed on one line, with a non-zero exit status.

This module is the wiring only: the typer app, its commands in the order ``--help``
lists them, and :func:`main`. The commands live in one module per audience or subject
(``owner_keys``, ``bundle``, ``server``, ``arm``, ``owner``, ``operator``, ``custodian``,
``canary``); what they share is in ``common``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from afterword import __version__
from afterword.cli.arm import arm
from afterword.cli.bundle import open_cmd, seal, teaser, verify
from afterword.cli.canary import canary_app
from afterword.cli.custodian import custodian_app
from afterword.cli.operator import operator_app
from afterword.cli.owner import (
    abort,
    audit_cmd,
    checkin,
    disarm,
    drill,
    duress,
    pause,
    release_now,
    revoke,
    status,
)
from afterword.cli.owner_keys import keygen
from afterword.cli.server import serve, worker_cmd

app = typer.Typer(
    help="afterword: seal a dossier, split its key among custodians, prove what it holds.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # click's plain help, not rich's boxed table: the table cuts long option names
    # ("--differs-from-n…") at 80 columns; click prints a long name whole, its description
    # on the line below, and wraps each docstring paragraph to the terminal
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"afterword {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """The options of ``afterword`` itself, before any command (``--version``)."""


app.command()(keygen)
app.command()(seal)
app.command("open")(open_cmd)
app.command()(teaser)
app.command()(verify)
app.command()(serve)
app.command("worker")(worker_cmd)
app.command()(arm)
app.command()(checkin)
app.command()(status)
app.command()(pause)
app.command()(abort)
app.command("release-now")(release_now)
app.command()(disarm)
app.command()(revoke)
app.command()(duress)
app.command()(drill)
app.command("audit")(audit_cmd)
app.add_typer(operator_app, name="operator")
app.add_typer(custodian_app, name="custodian")
app.add_typer(canary_app, name="canary")


def main() -> None:
    """Console entry point."""
    app()


if __name__ == "__main__":
    main()
