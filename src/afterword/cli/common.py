"""What every ``afterword`` command shares: secrets from the environment or the terminal,
the one-line refusal, the progress bar, and printing a switch's status.

Separate from the commands so that each audience's module (owner, custodian, operator,
canary, bundle) prints and refuses the same way without importing another's commands.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from afterword.crypto.keys import OwnerKey, load_owner_key
from afterword.crypto.switch_id import normalize_switch_id
from afterword.errors import AfterwordError
from afterword.words import humane

PASSPHRASE_ENV = "AFTERWORD_PASSPHRASE"
DURESS_PASSPHRASE_ENV = "AFTERWORD_DURESS_PASSPHRASE"
DURESS_PASSWORD_ENV = "AFTERWORD_DURESS_PASSWORD"


def fail(message: str) -> typer.Exit:
    typer.echo(f"afterword: error: {message}", err=True)
    return typer.Exit(1)


def passphrase(prompt: str, *, confirm: bool = False, env: str = PASSPHRASE_ENV) -> str:
    """A secret: from the environment variable ``env``, else asked on the terminal."""
    if (value := os.environ.get(env)) is not None:
        return value
    if not sys.stdin.isatty():
        raise AfterwordError(
            f"{prompt.lower()} is needed and there is no terminal to ask on",
            f"set {env} for scripts",
        )
    return str(typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm))


def unlock(path: Path) -> OwnerKey:
    return load_owner_key(path, passphrase(f"Passphrase for {path}"))


@contextmanager
def progress_bar(label: str, total: int | None) -> Iterator[Callable[[int], None] | None]:
    """A bytes/rate bar on a terminal; nothing when stderr is a pipe or file."""
    if not sys.stderr.isatty():
        yield None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(binary_units=True),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(label, total=total)
        yield lambda n: bar.advance(task, n)


def run_action(action: Callable[[], None]) -> None:
    """Run a command's body; an AfterwordError or Ctrl-C becomes the one-line refusal."""
    try:
        action()
    except AfterwordError as exc:
        raise fail(str(exc)) from None
    except KeyboardInterrupt:
        raise fail("interrupted; nothing was left half-written") from None


def print_json(data: object) -> None:
    """A command's result as indented JSON with sorted keys (``--json``)."""
    typer.echo(json.dumps(data, indent=2, sort_keys=True))


def format_time(seconds: int | None) -> str:
    """A Unix time as the CLI prints it (UTC, to the second); ``-`` for none."""
    if seconds is None:
        return "-"
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def print_status(status: dict[str, Any], as_json: bool) -> None:
    """A switch's status as the server reports it: JSON, or lines for a person."""
    if as_json:
        print_json(status)
        return
    typer.echo(f"Switch {status['switch']}: {status['state']}")
    for key, label in (
        ("deadline", "Next check-in due"),
        ("grace_ends", "Grace ends"),
        ("release_at", "Release begins"),
        ("paused_until", "Paused until"),
        ("settings_at", "Longer settings take effect"),
    ):
        if status.get(key):
            typer.echo(f"  {label}: {format_time(status[key])}")
    if status.get("cause"):
        typer.echo(f"  Cause: {status['cause']}")
    typer.echo(f"  Shares: {status.get('shares', 0)} of {status.get('threshold')} needed")
    for url, peer in sorted(status.get("peers", {}).items()):
        heard = format_time(peer.get("last_seen")) if peer.get("last_seen") else "not yet"
        typer.echo(f"  Server {url}: {peer.get('state') or 'unknown'} (last heard {heard})")
    for entry in status.get("last_checkins", []):
        typer.echo(f"  Checked in {format_time(entry['at'])} ({entry['detail']})")
    if status.get("audit"):
        typer.echo("  Audit log:")
        for entry in status["audit"]:
            typer.echo(
                f"    {entry['seq']:>4} {format_time(entry['at'])} "
                f"{entry['kind']}: {humane(entry['detail'])}"
            )


def server_address(value: str | list[str] | None) -> str | list[str] | None:
    """``--server`` as given, refused at once (before any passphrase is asked) if an
    address has no scheme: ``127.0.0.1:8000`` would be read as a scheme of its own."""
    for url in [value] if isinstance(value, str) else value or []:
        if "://" not in url:
            raise fail(f"the server address {url!r:.80} has no scheme; add http:// or https://")
    return value


# the options several audiences' commands share: the same flag with the same help
# AFTERWORD_SERVER, AFTERWORD_OWNER_KEY and AFTERWORD_SWITCH stand for the flags, so an
# owner who exports them once types `afterword checkin` alone (AFTERWORD_SERVER may name
# several servers, separated by spaces)
ServerOpt = Annotated[
    str,
    typer.Option(
        help="The afterword server URL.", callback=server_address, envvar="AFTERWORD_SERVER"
    ),
]
ServersOpt = Annotated[
    list[str],
    typer.Option(
        "--server",
        help="The afterword server URL; repeat it for a switch on several servers.",
        callback=server_address,
        envvar="AFTERWORD_SERVER",
    ),
]
OwnerKeyOpt = Annotated[
    Path, typer.Option("--owner-key", help="Owner keyfile.", envvar="AFTERWORD_OWNER_KEY")
]
SwitchOpt = Annotated[
    str,
    typer.Option(
        help="The switch id (printed by seal and arm).",
        callback=normalize_switch_id,
        envvar="AFTERWORD_SWITCH",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]
